import ArgumentParser
import DeliveryReports
import Foundation
import Roundtrip

/// `roundtrip parse FILE...`: parse DSN/NDR messages from files, Maildir folders, mbox files or
/// stdin (`-`) and print the reports as they are read. Schema: docs/parse-json.md.
struct ParseCommand: RoundtripSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "parse",
        abstract: "Parse delivery status notifications and bounce messages.",
        discussion: """
            Each FILE may be a message file, a Maildir folder (new/ and cur/ are read), an mbox file (split mboxrd-style; its messages are named FILE#N when it holds several), or - for standard input. Unreadable inputs are reported and the run goes on; the exit status is then 1.

            Examples:
              roundtrip parse bounce.eml
              roundtrip parse --format json ~/Maildir
              cat bounce.eml | roundtrip parse --format jsonl -

            \(ExitStatus.help(for: .parse))
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable, Sendable {
        case text, json, jsonl
    }

    @Option(name: .long, help: "Output format: text, json (one array) or jsonl (one object per line).")
    var format: Format = .text

    @Argument(help: "Message files, Maildir folders, mbox files, or - for stdin.")
    var inputs: [String]

    func validate() throws {
        if inputs.isEmpty { throw ValidationError("give at least one FILE, folder, or - for stdin") }
    }

    func execute() async throws -> ExitStatus {
        let out = FileHandle.standardOutput
        var unreadable = false
        var first = true
        if format == .json { out.write(Data("[".utf8)) }
        for record in ParseRun(inputs: inputs) {
            if record.error != nil { unreadable = true }
            switch format {
            case .text:
                out.write(Data(ParseRenderer.text(record).utf8))
            case .jsonl:
                out.write(Data((record.jsonLine() + "\n").utf8))
            case .json:
                // One array, a record per line, written as the records come.
                out.write(Data(((first ? "\n  " : ",\n  ") + record.jsonLine()).utf8))
            }
            first = false
        }
        if format == .json { out.write(Data("\n]\n".utf8)) }
        return unreadable ? .failed : .ok
    }
}
