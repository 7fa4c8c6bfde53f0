import ArgumentParser
import Foundation
import Roundtrip
import RoundtripCore

struct DemoCommand: RoundtripSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "The whole round trip in one command, on loopback, with no mail server: the embedded default.",
        discussion: """
            Starts, in this process and on ports it picks itself on 127.0.0.1: the simulator (a test MTA that answers like a real one and sends RFC 3464 reports), our report listener, and a verify run with one recipient per simulated behaviour; then a second verify against a server without DSN. Prints each step and the verdicts next to the expected ones. Needs no configuration, no root and no network beyond loopback.

            \(ExitStatus.help(for: .demo))
            """
    )

    @Option(
        name: .customLong("delay-seconds"),
        help: "How long the simulator delays the `delay` recipient before delivering.")
    var delaySeconds: Int = 2

    @Option(help: "Output: text or json (the verify reports).")
    var format: DemoFormat = .text

    func execute() async throws -> ExitStatus {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "roundtrip-demo-\(getpid())-\(UUID().uuidString.prefix(8))"
        ).path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let text = format == .text
        let say: @Sendable (String) -> Void = { line in
            if text { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
        }
        // Any failure to run is "the demo could not run" (70).
        let outcome = try await DemoRun.run(workDirectory: dir, delay: .seconds(delaySeconds), say: say)
        if format == .json {
            FileHandle.standardOutput.write(
                Data(
                    ("[" + RunRenderer.json(outcome.report) + "," + RunRenderer.json(outcome.noDSNReport) + "]\n").utf8)
            )
        } else {
            let mainExpected = outcome.expectations.allSatisfy { outcome.actual[$0.recipient] == $0.expected }
            let noDSNExpected = outcome.noDSNReport.recipients.first?.verdict == DemoRun.noDSNExpectation.expected
            var out = "\n" + RunRenderer.text(outcome.report, colour: CheckRenderer.useColour, expected: mainExpected)
            out += RunRenderer.text(outcome.noDSNReport, colour: CheckRenderer.useColour, expected: noDSNExpected)
            out += "\nverdicts, expected and actual:\n"
            for e in outcome.expectations + [DemoRun.noDSNExpectation] {
                let actual =
                    e.expected == .dsnUnavailable
                    ? outcome.noDSNReport.recipients.first?.verdict : outcome.actual[e.recipient]
                let ok = actual == e.expected
                out += "  \(ok ? "ok  " : "FAIL") \(e.recipient.padding(toLength: 18, withPad: " ", startingAt: 0)) "
                out +=
                    "\(e.expected.rawValue.padding(toLength: 16, withPad: " ", startingAt: 0)) \(actual?.rawValue ?? "-")  (\(e.behaviour))\n"
            }
            out +=
                outcome.passed
                ? "demo: every verdict is the expected one\n" : "demo: some verdicts differ from the expected ones\n"
            FileHandle.standardOutput.write(Data(out.utf8))
        }
        return outcome.passed ? .ok : .failed
    }
}

enum DemoFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}
