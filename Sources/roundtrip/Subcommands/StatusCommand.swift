import ArgumentParser
import Foundation
import Roundtrip
import RoundtripCore

struct StatusCommand: RoundtripSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show probes and reports in the ledger; wait for a probe's verdicts.",
        discussion: """
            Without a TOKEN, lists the recent probes with their verdicts and the reports that matched no probe; with one, shows that probe and, with --wait, waits until every recipient has a final verdict. Probes past their deadline are expired on the way (pending recipients become timeout).

            Examples:
              roundtrip status
              roundtrip status TOKEN --wait 5m
              roundtrip status --html status.html

            \(ExitStatus.help(for: .status))
            """
    )

    @Argument(help: "A probe token.")
    var token: String?

    @Option(
        help: ArgumentHelp("Wait up to this long for the probe's final verdicts (90s, 5m, 1h).", valueName: "duration"))
    var wait: DurationArgument?

    @Option(help: "How many recent probes to list.")
    var limit: Int = 20

    @Flag(help: "Count relayed, delayed and dsn-unavailable as failures (exit 1).")
    var strict = false

    @Option(help: "Output: text, json, junit or nagios (junit and nagios need a TOKEN).")
    var format: VerifyFormat = .text

    @Option(
        help: ArgumentHelp(
            "Write the status page of `roundtrip monitor` (the monitor's routes over the last 24 h) to FILE and exit.",
            valueName: "file"))
    var html: String?

    @OptionGroup var ledgerOptions: LedgerOptions

    func validate() throws {
        if html != nil && (token != nil || wait != nil) {
            throw ValidationError("--html lists every route: no TOKEN, no --wait")
        }
        if token == nil && (format == .junit || format == .nagios) {
            throw ValidationError("--format \(format.rawValue) needs a TOKEN")
        }
        if token == nil && wait != nil { throw ValidationError("--wait needs a TOKEN") }
    }

    static func status(for error: any Error) -> ExitStatus? { RunCommand.status(for: error) }

    func execute() async throws -> ExitStatus {
        let (ledger, _) = try await ledgerOptions.open()
        _ = try await ledger.expire(now: Date())
        if let html {
            let page = try await StatusPageQuery.page(ledger: ledger, strict: strict).render()
            do {
                try Data(page.utf8).write(
                    to: URL(fileURLWithPath: (html as NSString).expandingTildeInPath), options: .atomic)
            } catch {
                Self.report("cannot write \(html): \(error.localizedDescription)")
                return .configuration
            }
            return .ok
        }
        if let token {
            let until = Date().addingTimeInterval(wait?.seconds ?? 0)
            guard let details = try await StatusQuery.wait(ledger: ledger, token: token.lowercased(), until: until)
            else {
                Self.report("no probe \(token) in \(try ledgerOptions.displayName())")
                return .usage
            }
            return try RunCommand.output(StatusQuery.runReport(details, strict: strict), format: format)
        }
        let probes = try await ledger.listProbes(limit: limit)
        let unmatched = try await ledger.unmatchedReports()
        if format == .json {
            struct Listing: Encodable {
                var probes: [RunReport]
                var unmatchedReports: [Unmatched]
            }
            struct Unmatched: Encodable {
                var receivedAt: Date
                var source: String
                var forged: Bool
                var summary: String?
            }
            var reports: [RunReport] = []
            for p in probes {
                if let d = try await ledger.probe(token: p.probe.token) {
                    reports.append(StatusQuery.runReport(d, strict: strict))
                }
            }
            let listing = Listing(
                probes: reports,
                unmatchedReports: unmatched.map {
                    Unmatched(receivedAt: $0.receivedAt, source: $0.source, forged: $0.forged, summary: $0.parsed)
                })
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            enc.dateEncodingStrategy = .iso8601
            FileHandle.standardOutput.write(try enc.encode(listing) + Data("\n".utf8))
            return .ok
        }
        var out = probes.isEmpty ? "no probes in \(try ledgerOptions.displayName())\n" : ""
        let df = ISO8601DateFormatter()
        for p in probes {
            out += "\(p.probe.token)  \(df.string(from: p.probe.createdAt))  \(p.probe.status.rawValue)\n"
            for r in p.recipients.sorted(by: { $0.position < $1.position }) {
                out +=
                    "  \(r.verdict.rawValue.padding(toLength: 15, withPad: " ", startingAt: 0)) \(r.address)\(r.statusCode.map { "  \($0)" } ?? "")\n"
            }
        }
        if !unmatched.isEmpty {
            out += "\(unmatched.count) unmatched report(s):\n"
            for u in unmatched.prefix(limit) {
                out += "  \(df.string(from: u.receivedAt))  \(u.forged ? "FORGED token  " : "")\(u.source)\n"
            }
        }
        FileHandle.standardOutput.write(Data(out.utf8))
        return .ok
    }
}
