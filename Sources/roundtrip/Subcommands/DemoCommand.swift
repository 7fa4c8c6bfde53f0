import ArgumentParser
import Foundation
import Roundtrip
import RoundtripCore

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "The whole round trip in one command, on loopback, with no mail server: the embedded default.",
        discussion: """
        Starts, in this process and on ports it picks itself on 127.0.0.1: the simulator (a test MTA
        that answers like a real one and sends RFC 3464 reports), our report listener, and a verify
        run with one recipient per simulated behaviour; then a second verify against a server
        without DSN. Prints each step and the verdicts next to the expected ones.

        Exit codes: 0 every verdict is the expected one, 1 otherwise, 70 the demo could not run.
        Needs no configuration, no root and no network beyond loopback.
        """
    )

    @Option(name: .customLong("delay-seconds"), help: "How long the simulator delays the `delay` recipient before delivering.")
    var delaySeconds: Int = 2

    @Option(help: "Output: text or json (the verify reports).")
    var format: DemoFormat = .text

    func run() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("roundtrip-demo-\(getpid())-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let text = format == .text
        let say: @Sendable (String) -> Void = { line in
            if text { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
        }
        let outcome: DemoRun.Outcome
        do {
            outcome = try await DemoRun.run(workDirectory: dir, delay: .seconds(delaySeconds), say: say)
        } catch {
            FileHandle.standardError.write(Data("roundtrip demo: \(error)\n".utf8))
            throw ExitCode(70)
        }
        if format == .json {
            FileHandle.standardOutput.write(Data(("[" + RunRenderer.json(outcome.report) + "," + RunRenderer.json(outcome.noDSNReport) + "]\n").utf8))
        } else {
            var out = "\n" + RunRenderer.text(outcome.report, colour: CheckRenderer.useColour)
            out += RunRenderer.text(outcome.noDSNReport, colour: CheckRenderer.useColour)
            out += "\nverdicts, expected and actual:\n"
            for e in outcome.expectations + [DemoRun.noDSNExpectation] {
                let actual = e.expected == .dsnUnavailable ? outcome.noDSNReport.recipients.first?.verdict : outcome.actual[e.recipient]
                let ok = actual == e.expected
                out += "  \(ok ? "ok  " : "FAIL") \(e.recipient.padding(toLength: 18, withPad: " ", startingAt: 0)) "
                out += "\(e.expected.rawValue.padding(toLength: 16, withPad: " ", startingAt: 0)) \(actual?.rawValue ?? "-")  (\(e.behaviour))\n"
            }
            out += outcome.passed ? "demo: every verdict is the expected one\n" : "demo: some verdicts differ from the expected ones\n"
            FileHandle.standardOutput.write(Data(out.utf8))
        }
        if !outcome.passed { throw ExitCode(1) }
    }
}

enum DemoFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}
