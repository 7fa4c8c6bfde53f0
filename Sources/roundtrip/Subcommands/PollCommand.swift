import ArgumentParser
import Foundation
import MailTransport
import MailboxCore
import NIOCore
import Roundtrip
import RoundtripCore

struct PollCommand: RoundtripSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "poll",
        abstract: "Read a mailbox (IMAP, POP3 or Maildir) once, or watch it, and list the messages.",
        discussion: """
            Lists each message with its source, size, From, Subject, Message-ID and whether it is a multipart/report (a delivery report). IMAP reads with BODY.PEEK[], POP3 with UIDL and RETR, Maildir from new/; nothing is changed unless --cleanup is given.

            imap:// and pop3:// upgrade with STARTTLS/STLS when offered (--starttls); imaps:// and pop3s:// use TLS from the first byte. Credentials are never sent without TLS unless --allow-plaintext-auth is given. The password comes from --password-file or ROUNDTRIP_PASSWORD, never from the command line.

            Examples:
              roundtrip poll --imap imaps://rpt%40example.org@imap.example.org/INBOX \\
                --password-file pw
              roundtrip poll --imap imap://user@127.0.0.1:143/INBOX --starttls require \\
                --watch
              roundtrip poll --pop3 pop3s://user@pop.example.org --search TOKEN
              roundtrip poll --maildir ~/Maildir --format jsonl

            \(ExitStatus.help(for: .poll)) Details in docs/poll.md.
            """
    )

    @Option(
        help: ArgumentHelp(
            "IMAP mailbox URL: imap[s]://USER@HOST[:PORT]/MAILBOX (USER percent-encoded, e.g. reports%40example.org).",
            valueName: "url"),
        transform: MailboxURLArgument.argument)
    var imap: MailboxURLArgument?

    @Option(
        help: ArgumentHelp("POP3 mailbox URL: pop3[s]://USER@HOST[:PORT].", valueName: "url"),
        transform: MailboxURLArgument.argument)
    var pop3: MailboxURLArgument?

    @Option(help: "Maildir folder (holding new/, cur/, tmp/).")
    var maildir: String?

    @Option(name: .customLong("password-file"), help: "File holding the mailbox password (else ROUNDTRIP_PASSWORD).")
    var passwordFile: String?

    @OptionGroup var tlsOptions: TLSOptions

    @Option(
        help:
            "Only messages carrying this token (IMAP: SEARCH HEADER X-Roundtrip-Probe / TEXT; POP3 and Maildir: the raw bytes)."
    )
    var search: String?

    @Option(help: ArgumentHelp("Only messages that arrived on or after this day (YYYY-MM-DD).", valueName: "day"))
    var since: DayArgument?

    @Flag(help: "Keep watching and print each new message as it arrives (IMAP IDLE, else polling).")
    var watch = false

    @Option(help: "With --watch: stop after this many seconds (default: until interrupted).")
    var duration: Double?

    @Option(help: "With --watch: stop after this many messages.")
    var count: Int?

    @Option(help: "Seconds between polls when watching without IDLE (POP3, Maildir, IMAP without IDLE).")
    var interval: Double = 5

    @Option(help: "Seconds to wait for each network step.")
    var timeout: Double = 30

    @Flag(help: "Maildir: also scan cur/ (messages another reader has seen).")
    var includeCur = false

    @Flag(
        help:
            "Remove the listed messages afterwards (needs --search): IMAP UID MOVE to --cleanup-folder, else UID EXPUNGE with UIDPLUS; POP3 DELE + QUIT; Maildir new/ → cur/ as seen."
    )
    var cleanup = false

    @Option(
        name: .customLong("cleanup-folder"),
        help: "IMAP folder for --cleanup when the server offers MOVE (\"\" deletes instead).")
    var cleanupFolder: String = "Roundtrip-Processed"

    @Option(help: "Output: text, json (one document at the end), or jsonl (one object per message as it arrives).")
    var format: PollFormat = .text

    @Flag(name: .shortAndLong, help: "Print the protocol transcript to stderr (credentials redacted).")
    var verbose = false

    func validate() throws {
        let sources = [imap != nil, pop3 != nil, maildir != nil].filter { $0 }
        guard sources.count == 1 else {
            throw ValidationError("name exactly one mailbox: --imap URL, --pop3 URL or --maildir PATH")
        }
        if let imap = imap?.url {
            guard imap.scheme.isIMAP else { throw ValidationError("--imap needs an imap:// or imaps:// URL") }
            guard imap.user != nil else { throw ValidationError("--imap URL names no user: imaps://USER@HOST/INBOX") }
        }
        if let pop3 = pop3?.url {
            guard !pop3.scheme.isIMAP else { throw ValidationError("--pop3 needs a pop3:// or pop3s:// URL") }
            guard pop3.user != nil else { throw ValidationError("--pop3 URL names no user: pop3s://USER@HOST") }
        }
        if !(timeout > 0) { throw ValidationError("--timeout must be positive") }
        if !(interval > 0) { throw ValidationError("--interval must be positive") }
        if let duration, !(duration > 0) { throw ValidationError("--duration must be positive") }
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
        if (duration != nil || count != nil) && !watch { throw ValidationError("--duration and --count need --watch") }
        if cleanup && search == nil {
            throw ValidationError("--cleanup needs --search TOKEN, so that only our own messages are removed")
        }
        if let search, !ProbeToken.isWellFormed(search) {
            throw ValidationError(
                "--search takes a probe token (\(ProbeToken.length) characters a-z, 2-7), not \(search.debugDescription)"
            )
        }
        if maildir != nil && passwordFile != nil { throw ValidationError("--password-file is for --imap and --pop3") }
        if maildir == nil && includeCur { throw ValidationError("--include-cur is for --maildir") }
    }

    static func status(for error: any Error) -> ExitStatus? {
        switch error {
        case let e as MailboxError: return ExitStatus(poll: e)
        case is PollConfigurationError: return .configuration
        default: return nil
        }
    }

    func execute() async throws -> ExitStatus {
        let output = PollOutput(
            format: format, mailbox: imap?.text ?? pop3?.text ?? maildir ?? "",
            kind: imap != nil ? "imap" : pop3 != nil ? "pop3" : "maildir", verbose: verbose)
        var status = ExitStatus.ok
        do {
            let run = PollRun(
                mailbox: try mailbox(), query: MailboxQuery(token: search, since: since?.date), watch: watch,
                until: duration.map { .now + .milliseconds(Int64($0 * 1000)) }, count: count,
                interval: .milliseconds(Int64(interval * 1000)),
                cleanup: cleanup
            )
            try await run.run(output)
        } catch {
            // The document (json) says what went wrong too; an unexpected error is 70 here as well.
            status = Self.status(for: error) ?? .software
            output.error = (error as? PollConfigurationError)?.message ?? "\(error)"
            Self.report(output.error ?? "")
        }
        output.finish(exitCode: status.rawValue)
        return status
    }

    func mailbox() throws -> PollRun.Mailbox {
        if let imap { return .imap(try serverOptions(imap.url)) }
        if let pop3 { return .pop3(try serverOptions(pop3.url)) }
        return .maildir(path: maildir ?? "", includeCur: includeCur)
    }

    func serverOptions(_ url: MailboxURL) throws -> MailboxServerOptions {
        let password = try Self.password(file: passwordFile)
        let t = TimeAmount.milliseconds(Int64(timeout * 1000))
        return MailboxServerOptions(
            url: url, password: password,
            tls: tlsOptions.policy(transport: url.scheme.implicitTLS ? .implicit : .starttls),
            allowPlaintextAuth: tlsOptions.allowPlaintextAuth, timeout: t, connectTimeout: t,
            cleanupFolder: cleanupFolder.isEmpty ? nil : cleanupFolder,
            pollInterval: .milliseconds(Int64(interval * 1000))
        )
    }

    /// The mailbox password, from the file or the environment (`Secrets`).
    static func password(file: String?) throws -> String {
        do {
            return try Secrets.password(file: file)
        } catch let e as TransportError {
            throw PollConfigurationError(message: e.message)
        }
    }
}

struct PollConfigurationError: Error {
    var message: String
}

enum PollFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, jsonl
}
