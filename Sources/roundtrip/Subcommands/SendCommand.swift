import ArgumentParser
import Foundation
import Roundtrip
import RoundtripCore

struct SendCommand: RoundtripSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Send probe(s) and record them in the ledger without waiting; prints the token.",
        discussion: """
            The first half of a split run: `roundtrip send` now, `roundtrip status TOKEN --wait 5m` later, while a standing `roundtrip listen --ledger` (or a `verify` run) fills the ledger.

            Example:
              roundtrip send --to alice@example.org \\
                --from roundtrip@bounce.example.net \\
                --ledger /var/lib/roundtrip/ledger.sqlite

            \(ExitStatus.help(for: .send))
            """
    )

    @OptionGroup var probe: ProbeOptions
    @OptionGroup var ledgerOptions: LedgerOptions
    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Output: text (the token on the first line) or json.")
    var format: SendFormat = .text

    @Flag(name: .shortAndLong, help: "Show the submission transcript.")
    var verbose = false

    static func status(for error: any Error) -> ExitStatus? { RunCommand.status(for: error) }

    func execute() async throws -> ExitStatus {
        let (ledger, key) = try await ledgerOptions.open()
        var config = try probe.configuration(connection: connection, key: key, ledger: ledger, strict: false)
        config.waitForReports = false
        let (report, _, groups) = try await VerifyRun.run(config, feeds: [], log: RunCommand.logger(verbose: verbose))
        if verbose { RunCommand.printTranscripts(groups) }
        switch format {
        case .text:
            var out = report.token + "\n"
            for r in report.recipients {
                let state = r.verdict == .pending ? "sent" : r.verdict.rawValue
                out += "  \(state.padding(toLength: 15, withPad: " ", startingAt: 0)) \(r.address)  \(r.outbound)\n"
            }
            FileHandle.standardOutput.write(Data(out.utf8))
        case .json:
            FileHandle.standardOutput.write(Data(RunRenderer.json(report).utf8))
        }
        return ExitStatus(runCode: report.exitCode)
    }
}

enum SendFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}
