import ArgumentParser
import Foundation
import MailTransport
import MailboxCore
import RoundtripCore
import Testing

@testable import roundtrip

/// Swift Testing has an `ExitStatus` too.
typealias ExitStatus = roundtrip.ExitStatus

/// One exit-code table: every subcommand maps its errors through it, and the documentation is
/// written from it.
@Suite struct ExitStatusTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static let commands: [(ExitStatus.Command, any ParsableCommand.Type)] = [
        (.check, CheckCommand.self), (.verify, VerifyCommand.self), (.send, SendCommand.self),
        (.status, StatusCommand.self),
        (.listen, ListenCommand.self), (.poll, PollCommand.self), (.parse, ParseCommand.self),
        (.simulate, SimulateCommand.self),
        (.demo, DemoCommand.self), (.monitor, MonitorCommand.self),
    ]

    @Test func everySubcommandIsDocumented() {
        let names = Set(RoundtripCommand.configuration.subcommands.compactMap { $0.configuration.commandName })
        #expect(names == Set(ExitStatus.Command.allCases.map(\.rawValue)))
        #expect(Set(Self.commands.map(\.0)) == Set(ExitStatus.Command.allCases))
    }

    /// The verdict codes are RunExitStatus's, which the renderers and the JSON use.
    @Test func verdictCodesAreRunExitStatus() {
        let all: [RunExitStatus] = [
            .proven, .failed, .timeout, .partial, .submissionFailed, .usage, .internalError, .configuration,
        ]
        for r in all { #expect(ExitStatus(r).rawValue == r.rawValue, "\(r)") }
        #expect(ExitStatus(runCode: 99) == .software)
    }

    @Test func everyCommandHasUsageInternalErrorAndConfiguration() {
        for c in ExitStatus.Command.allCases {
            let codes = ExitStatus.documented(for: c).map(\.status.rawValue)
            #expect(codes == codes.sorted(), "\(c)")
            #expect(Set(codes).count == codes.count, "\(c)")
            #expect(codes.first == 0, "\(c)")
            for required: Int32 in [64, 70, 78] { #expect(codes.contains(required), "\(c) lacks \(required)") }
        }
    }

    @Test func stepsAndMailboxErrorsMapLikeTheyAlwaysDid() {
        let steps: [SMTPStep: Int32] = [
            .dns: 10, .connect: 20, .banner: 21, .ehlo: 22, .tls: 23, .auth: 24, .mail: 25, .rcpt: 26, .data: 27,
            .quit: 28,
        ]
        for (step, code) in steps { #expect(ExitStatus(step: step).rawValue == code) }
        #expect(ExitStatus(check: TransportError(.configuration, step: .tls, message: "ca")) == .configuration)
        #expect(ExitStatus(check: TransportError(.invalidInput, step: .rcpt, message: "x")) == .usage)
        #expect(ExitStatus(check: TransportError(.rejected, step: .rcpt, message: "550")) == .rcpt)

        #expect(ExitStatus(poll: MailboxError(.authFailed, step: .auth, message: "no")).rawValue == 24)
        #expect(ExitStatus(poll: MailboxError(.certificateRejected, step: .tls, message: "no")).rawValue == 23)
        #expect(ExitStatus(poll: MailboxError(.mailboxUnavailable, step: .select, message: "no")).rawValue == 25)
        #expect(ExitStatus(poll: MailboxError(.timeout, step: .fetch, message: "no")).rawValue == 26)
        #expect(ExitStatus(poll: MailboxError(.rejected, step: .cleanup, message: "no")).rawValue == 27)
        #expect(ExitStatus(poll: MailboxError(.configuration, step: .auth, message: "no")).rawValue == 78)
        #expect(ExitStatus(poll: MailboxError(.connectFailed, step: .connect, message: "no")).rawValue == 20)
    }

    struct Unexpected: Error {}

    /// A subcommand that fails the way the test says.
    struct Failing: RoundtripSubcommand {
        static let configuration = CommandConfiguration(commandName: "failing")
        nonisolated(unsafe) static var error: (any Error)?
        func execute() async throws -> ExitStatus {
            if let e = Self.error { throw e }
            return .partial
        }
    }

    @Test func anUnknownErrorIs70AndAKnownOneItsCode() async throws {
        func code(_ error: (any Error)?) async -> Int32? {
            Failing.error = error
            var command = Failing()
            do {
                try await command.run()
                return 0
            } catch let e as ExitCode {
                return e.rawValue
            } catch {
                return nil
            }
        }
        #expect(await code(Unexpected()) == 70)
        #expect(await code(CancellationError()) == 70)
        #expect(await code(nil) == 3)
        #expect(await code(ExitCode(5)) == 5)
        // A command's known errors: check's transport failures by step, verify's as "could not submit".
        #expect(CheckCommand.status(for: TransportError(.timeout, step: .banner, message: "")) == .greeting)
        #expect(CheckCommand.status(for: Unexpected()) == nil)
        #expect(VerifyCommand.status(for: TransportError(.connectFailed, step: .connect, message: "")) == .notSubmitted)
        do {
            _ = try ProbeBuilder.parseHeader("no colon")
            Issue.record("parsed")
        } catch {
            #expect(VerifyCommand.status(for: error) == .usage)
        }
        #expect(ListenCommand.status(for: SMTPListenerError(.bind, "in use")) == .unavailable)
        #expect(SimulateCommand.status(for: SMTPListenerError(.configuration, "store")) == .configuration)
        #expect(PollCommand.status(for: MailboxError(.greetingFailed, step: .greeting, message: "")) == .greeting)
        #expect(ParseCommand.status(for: Unexpected()) == nil)
    }

    // MARK: - Documentation

    /// README's table of every subcommand's codes is the enum's, row by row.
    @Test func readmeTableIsTheEnum() throws {
        let readme = try String(contentsOf: Self.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        for c in ExitStatus.Command.allCases {
            let row =
                "| `\(c.rawValue)` | "
                + ExitStatus.documented(for: c).map { "\($0.status.rawValue) \($0.meaning)" }.joined(separator: ", ")
                + " |"
            #expect(readme.contains(row), "README.md lacks the row: \(row)")
        }
    }

    /// The detailed tables (README for check and verify, docs/ for the others) list exactly the
    /// enum's codes.
    @Test func detailedTablesListTheEnumsCodes() throws {
        let places: [(file: String, heading: String, command: ExitStatus.Command)] = [
            ("README.md", "### Exit codes of `check`", .check),
            ("README.md", "### Verdicts and exit codes of `verify`", .verify),
            ("docs/poll.md", "## Exit codes", .poll),
            ("docs/listen.md", "## Exit codes", .listen),
            ("docs/simulate.md", "## Exit codes", .simulate),
            ("docs/monitor.md", "## Exit codes", .monitor),
        ]
        for place in places {
            let text = try String(contentsOf: Self.packageRoot.appendingPathComponent(place.file), encoding: .utf8)
            let section = try #require(text.range(of: place.heading + "\n"), "\(place.file): no \(place.heading)")
            var codes: [Int32] = []
            for line in text[section.upperBound...].split(separator: "\n", omittingEmptySubsequences: false) {
                if line.hasPrefix("#") { break }
                let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
                if line.hasPrefix("|"), let first = cells.first, let code = Int32(first) { codes.append(code) }
            }
            #expect(
                codes == ExitStatus.documented(for: place.command).map(\.status.rawValue),
                "\(place.file) \(place.heading)")
        }
    }

    /// Each `--help` ends its discussion with the enum's codes (ArgumentParser wraps them).
    @Test func helpListsTheEnumsCodes() {
        for (c, type) in Self.commands {
            let help = RoundtripCommand.helpMessage(for: type, columns: 80)
            let flat = help.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            #expect(flat.contains(ExitStatus.help(for: c)), "\(c)")
        }
    }
}
