import ArgumentParser
import Foundation
import Roundtrip

/// `roundtrip parse FILE...`: parse DSN/NDR messages from files, Maildir folders, mbox files or
/// stdin (`-`) and print the reports as they are read. Schema: docs/parse-json.md.
struct ParseCommand: RoundtripSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "parse",
        abstract: "Parse delivery status notifications and bounce messages.",
        discussion: """
            Each FILE may be a message file, a Maildir folder (new/ and cur/ are read), an mbox file (split mboxrd-style; its messages are named FILE#N when it holds several), or - for standard input. Unreadable inputs are reported and the run goes on; the exit status is then 1. Messages are parsed on all cores and printed in input order.

            Examples:
              roundtrip parse bounce.eml
              roundtrip parse --format json ~/Maildir
              cat bounce.eml | roundtrip parse --format jsonl -

            \(ExitStatus.help(for: .parse))
            """
    )

    @Option(name: .long, help: "Output format: text, json (one array) or jsonl (one object per line).")
    var format: ParseRun.Format = .text

    @Option(name: .long, help: "Messages parsed at once (default: the number of cores).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Argument(help: "Message files, Maildir folders, mbox files, or - for stdin.")
    var inputs: [String]

    func validate() throws {
        if inputs.isEmpty { throw ValidationError("give at least one FILE, folder, or - for stdin") }
        if jobs < 1 || jobs > 1024 { throw ValidationError("--jobs must be between 1 and 1024") }
    }

    func execute() async throws -> ExitStatus {
        let allRead = ParseRun(inputs: inputs).render(format, workers: jobs) { StandardOutput.write($0) }
        return allRead ? .ok : .failed
    }
}

extension ParseRun.Format: ExpressibleByArgument {}

/// Bytes to file descriptor 1 with write(2), whole (a short write is continued).
enum StandardOutput {
    static func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { buf in
            var done = 0
            while done < buf.count {
                let n = Foundation.write(1, buf.baseAddress! + done, buf.count - done)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }  // EPIPE and the like: nobody reads any more
                done += n
            }
        }
    }
}
