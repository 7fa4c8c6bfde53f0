import ArgumentParser
import Foundation
import MailTransport
import RoundtripCore

/// Every exit code of `roundtrip`, in one table. Each subcommand's `--help` is written from
/// `documented(for:)`, and the tables in README.md and docs/ are checked against it
/// (`ExitStatusTests`). The verdict codes (0–4) are `RunExitStatus`'s, which the renderers use.
///
/// An error no subcommand expects is 70 (EX_SOFTWARE), never ArgumentParser's 1: here 1 means
/// "failed".
enum ExitStatus: Int32, CaseIterable, Sendable {
    case ok = 0
    /// verify/send/status: failed or rejected; parse: an input could not be read; demo: a
    /// verdict differs from the expected one.
    case failed = 1
    case timeout = 2
    case partial = 3
    case notSubmitted = 4
    case dns = 10
    case connect = 20
    /// The server's greeting: SMTP banner, IMAP/POP3 greeting.
    case greeting = 21
    case ehlo = 22
    case tls = 23
    case auth = 24
    /// check: MAIL FROM; poll: the mailbox does not exist.
    case mail = 25
    /// check: RCPT TO; poll: searching, fetching or watching.
    case rcpt = 26
    /// check: DATA; poll: the cleanup.
    case data = 27
    case quit = 28
    case usage = 64
    /// EX_UNAVAILABLE: an address cannot be bound.
    case unavailable = 69
    /// EX_SOFTWARE: an internal error.
    case software = 70
    /// EX_CONFIG.
    case configuration = 78

    /// The subcommands, for the documentation of their codes.
    enum Command: String, CaseIterable, Sendable {
        case check, verify, send, status, listen, poll, parse, simulate, demo, monitor
    }

    /// The codes `command` can exit with and what each means there, in ascending order.
    static func documented(for command: Command) -> [(status: ExitStatus, meaning: String)] {
        let common: [(ExitStatus, String)] = [
            (.usage, "usage"), (.software, "internal error"), (.configuration, "configuration"),
        ]
        let specific: [(ExitStatus, String)]
        switch command {
        case .check:
            specific = [
                (.ok, "passed"), (.dns, "DNS"), (.connect, "connect"), (.greeting, "banner"), (.ehlo, "EHLO/HELO"),
                (.tls, "STARTTLS/TLS"), (.auth, "AUTH"), (.mail, "MAIL"), (.rcpt, "RCPT"), (.data, "DATA"),
                (.quit, "QUIT/RSET"),
            ]
        case .verify:
            specific = [
                (.ok, "all proven"), (.failed, "failed or rejected (also partial verdicts with --strict)"),
                (.timeout, "timeout"),
                (
                    .partial,
                    "partial (relayed, delayed, dsn-unavailable, arrived, or an arrival in Junk or with dkim/dmarc=fail)"
                ),
                (.notSubmitted, "could not submit"),
            ]
        case .send:
            specific = [
                (.ok, "submitted"), (.failed, "a recipient was refused"), (.partial, "no DSN offered"),
                (.notSubmitted, "could not submit"),
            ]
        case .status:
            specific = [
                (.ok, "all proven (always without a TOKEN)"), (.failed, "failed or rejected"),
                (.timeout, "timeout or still pending"),
                (.partial, "partial"),
            ]
        case .poll:
            specific = [
                (.ok, "ok"), (.connect, "connect"), (.greeting, "greeting"), (.tls, "TLS/certificate"),
                (.auth, "login"),
                (.mail, "mailbox not found"), (.rcpt, "search/fetch/watch failed"), (.data, "cleanup failed"),
            ]
        case .listen, .simulate, .monitor:
            specific = [(.ok, "clean shutdown"), (.unavailable, "an address cannot be bound")]
        case .parse:
            specific = [(.ok, "every input was read"), (.failed, "some input could not be read")]
        case .demo:
            specific = [(.ok, "every verdict is the expected one"), (.failed, "a verdict differs")]
        }
        return
            (specific + common.map { ($0.0, command == .demo && $0.0 == .software ? "the demo could not run" : $0.1) })
            .sorted { $0.0.rawValue < $1.0.rawValue }
            .map { (status: $0.0, meaning: $0.1) }
    }

    /// One paragraph for a `--help` discussion: "Exit codes: 0 passed, 10 DNS, ...".
    static func help(for command: Command) -> String {
        "Exit codes: " + documented(for: command).map { "\($0.status.rawValue) \($0.meaning)" }.joined(separator: ", ")
            + "."
    }

    /// The verdict codes of verify, send and status.
    init(_ run: RunExitStatus) {
        switch run {
        case .proven: self = .ok
        case .failed: self = .failed
        case .timeout: self = .timeout
        case .partial: self = .partial
        case .submissionFailed: self = .notSubmitted
        case .usage: self = .usage
        case .internalError: self = .software
        case .configuration: self = .configuration
        }
    }

    /// A `RunReport.exitCode` (a `RunExitStatus` raw value).
    init(runCode: Int32) {
        self.init(RunExitStatus(rawValue: runCode) ?? .internalError)
    }

    /// check: the step where the dialog broke.
    init(step: SMTPStep) {
        switch step {
        case .dns: self = .dns
        case .connect: self = .connect
        case .banner: self = .greeting
        case .ehlo: self = .ehlo
        case .tls: self = .tls
        case .auth: self = .auth
        case .mail: self = .mail
        case .rcpt: self = .rcpt
        case .data: self = .data
        case .quit: self = .quit
        }
    }

    /// check: a transport failure, by kind and step.
    init(check error: TransportError) {
        switch error.kind {
        case .configuration: self = .configuration
        case .invalidInput: self = .usage
        default: self.init(step: error.step)
        }
    }

    /// poll: a mailbox failure, numbered like check's steps.
    init(poll e: MailboxError) {
        switch e.kind {
        case .configuration: self = .configuration
        case .connectFailed: self = .connect
        case .greetingFailed: self = .greeting
        case .tlsFailed, .certificateRejected: self = .tls
        case .authFailed: self = .auth
        case .mailboxUnavailable: self = .mail
        case .rejected, .protocolViolation, .timeout, .connectionClosed:
            switch e.step {
            case .connect: self = .connect
            case .greeting: self = .greeting
            case .tls: self = .tls
            case .auth: self = .auth
            case .select: self = .mail
            case .search, .fetch, .idle, .logout: self = .rcpt
            case .cleanup: self = .data
            }
        }
    }
}

/// A subcommand whose `execute()` returns its exit status; `run()` turns it, and every error,
/// into the process's exit code: the errors the command knows (`status(for:)`) get their code,
/// anything else 70. ArgumentParser's own exits (help, `ValidationError`) pass through.
protocol RoundtripSubcommand: AsyncParsableCommand {
    func execute() async throws -> ExitStatus
    /// The code for an error this command expects; nil means "internal error" (70).
    static func status(for error: any Error) -> ExitStatus?
}

extension RoundtripSubcommand {
    static func status(for error: any Error) -> ExitStatus? { nil }

    mutating func run() async throws {
        let status: ExitStatus
        do {
            status = try await execute()
        } catch let e as ExitCode {
            throw e
        } catch let e as CleanExit {
            throw e
        } catch let e as ValidationError {
            throw e
        } catch {
            status = Self.status(for: error) ?? .software
            Self.report(error)
        }
        if status != .ok { throw ExitCode(status.rawValue) }
    }

    static var name: String { configuration.commandName ?? "roundtrip" }

    /// "roundtrip NAME: error" on stderr.
    static func report(_ error: any Error) {
        report(String(describing: error))
    }

    static func report(_ message: String) {
        FileHandle.standardError.write(Data("roundtrip \(name): \(message)\n".utf8))
    }
}
