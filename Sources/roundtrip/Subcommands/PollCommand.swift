import ArgumentParser
import Foundation
import MailTransport
import MailboxCore
import NIOCore
import RoundtripCore

struct PollCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "poll",
        abstract: "Read a mailbox (IMAP, POP3 or Maildir) once, or watch it, and list the messages.",
        discussion: """
        Lists each message with its source, size, From, Subject, Message-ID and whether it is a multipart/report (a delivery report). IMAP reads with BODY.PEEK[], POP3 with UIDL and RETR, Maildir from new/; nothing is changed unless --cleanup is given.

        imap:// and pop3:// upgrade with STARTTLS/STLS when offered (--starttls); imaps:// and pop3s:// use TLS from the first byte. Credentials are never sent without TLS unless --allow-plaintext-auth is given. The password comes from --password-file or ROUNDTRIP_PASSWORD, never from the command line.

        Examples:
          roundtrip poll --imap imaps://rpt%40example.org@imap.example.org/INBOX --password-file pw
          roundtrip poll --imap imap://user@127.0.0.1:143/INBOX --starttls require --watch
          roundtrip poll --pop3 pop3s://user@pop.example.org --search TOKEN
          roundtrip poll --maildir ~/Maildir --format jsonl

        Exit codes: 0 ok, 20 connect, 21 greeting, 23 TLS/certificate, 24 login, 25 mailbox not found, 26 search/fetch/watch failed, 27 cleanup failed, 64 usage, 78 configuration (docs/poll.md).
        """
    )

    @Option(help: "IMAP mailbox URL: imap[s]://USER@HOST[:PORT]/MAILBOX (USER percent-encoded, e.g. reports%40example.org).")
    var imap: String?

    @Option(help: "POP3 mailbox URL: pop3[s]://USER@HOST[:PORT].")
    var pop3: String?

    @Option(help: "Maildir folder (holding new/, cur/, tmp/).")
    var maildir: String?

    @Option(name: .customLong("password-file"), help: "File holding the mailbox password (else ROUNDTRIP_PASSWORD).")
    var passwordFile: String?

    @Option(help: "STARTTLS/STLS use for imap:// and pop3://: auto (upgrade when offered), require, never.")
    var starttls: STARTTLSMode = .auto

    @Option(name: .customLong("tls-verify"), help: "Certificate verification: auto and strict fail on a bad certificate (we log in), off only reports it.")
    var tlsVerify: TLSVerifyMode = .auto

    @Option(name: .customLong("ca-file"), help: "PEM file with the CA certificates to trust instead of the system store.")
    var caFile: String?

    @Flag(name: .customLong("allow-plaintext-auth"), help: "Allow the password over a connection without TLS (test servers on loopback only).")
    var allowPlaintextAuth = false

    @Option(help: "Only messages carrying this token (IMAP: SEARCH HEADER X-Roundtrip-Probe / TEXT; POP3 and Maildir: the raw bytes).")
    var search: String?

    @Option(help: "Only messages that arrived on or after this day (YYYY-MM-DD).")
    var since: String?

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

    @Flag(help: "Remove the listed messages afterwards (needs --search): IMAP UID MOVE to --cleanup-folder, else UID EXPUNGE with UIDPLUS; POP3 DELE + QUIT; Maildir new/ → cur/ as seen.")
    var cleanup = false

    @Option(name: .customLong("cleanup-folder"), help: "IMAP folder for --cleanup when the server offers MOVE (\"\" deletes instead).")
    var cleanupFolder: String = "Roundtrip-Processed"

    @Option(help: "Output: text, json (one document at the end), or jsonl (one object per message as it arrives).")
    var format: PollFormat = .text

    @Flag(name: .shortAndLong, help: "Print the protocol transcript to stderr (credentials redacted).")
    var verbose = false

    func validate() throws {
        let sources = [imap, pop3, maildir].compactMap { $0 }
        guard sources.count == 1 else { throw ValidationError("name exactly one mailbox: --imap URL, --pop3 URL or --maildir PATH") }
        if let imap {
            do {
                let url = try MailboxURL(parsing: imap)
                guard url.scheme.isIMAP else { throw ValidationError("--imap needs an imap:// or imaps:// URL") }
                guard url.user != nil else { throw ValidationError("--imap URL names no user: imaps://USER@HOST/INBOX") }
            } catch let e as MailboxURL.ParseError { throw ValidationError("--imap: \(e)") }
        }
        if let pop3 {
            do {
                let url = try MailboxURL(parsing: pop3)
                guard !url.scheme.isIMAP else { throw ValidationError("--pop3 needs a pop3:// or pop3s:// URL") }
                guard url.user != nil else { throw ValidationError("--pop3 URL names no user: pop3s://USER@HOST") }
            } catch let e as MailboxURL.ParseError { throw ValidationError("--pop3: \(e)") }
        }
        if let since, Self.parseDay(since) == nil { throw ValidationError("--since must be a day, YYYY-MM-DD") }
        if !(timeout > 0) { throw ValidationError("--timeout must be positive") }
        if !(interval > 0) { throw ValidationError("--interval must be positive") }
        if let duration, !(duration > 0) { throw ValidationError("--duration must be positive") }
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
        if (duration != nil || count != nil) && !watch { throw ValidationError("--duration and --count need --watch") }
        if cleanup && search == nil { throw ValidationError("--cleanup needs --search TOKEN, so that only our own messages are removed") }
        if let search, !ProbeToken.isWellFormed(search) {
            throw ValidationError("--search takes a probe token (\(ProbeToken.length) characters a-z, 2-7), not \(search.debugDescription)")
        }
        if maildir != nil && passwordFile != nil { throw ValidationError("--password-file is for --imap and --pop3") }
        if maildir == nil && includeCur { throw ValidationError("--include-cur is for --maildir") }
    }

    static func parseDay(_ s: String) -> Date? {
        let parts = s.split(separator: "-")
        guard parts.count == 3, let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]), parts[0].count == 4 else { return nil }
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: "UTC") ?? cal.timeZone
        var c = DateComponents()
        c.year = y; c.month = m; c.day = d
        guard (1...12).contains(m), (1...31).contains(d), let date = cal.date(from: c), cal.component(.day, from: date) == d else { return nil }
        return date
    }

    func run() async throws {
        let output = PollOutput(format: format, mailbox: imap ?? pop3 ?? maildir ?? "", kind: imap != nil ? "imap" : pop3 != nil ? "pop3" : "maildir")
        var code = PollExitCode.ok
        do {
            try await perform(output)
        } catch let e as MailboxError {
            output.error = e.description
            code = PollExitCode.code(for: e)
            FileHandle.standardError.write(Data("roundtrip poll: \(e)\n".utf8))
        } catch let e as PollConfigurationError {
            output.error = e.message
            code = PollExitCode.configuration
            FileHandle.standardError.write(Data("roundtrip poll: \(e.message)\n".utf8))
        }
        output.finish(exitCode: code)
        if code != 0 { throw ExitCode(code) }
    }

    var query: MailboxQuery { MailboxQuery(token: search, since: since.flatMap(Self.parseDay)) }

    var deadline: ContinuousClock.Instant? { duration.map { .now + .milliseconds(Int64($0 * 1000)) } }

    func serverOptions(_ urlText: String) throws -> MailboxServerOptions {
        let url: MailboxURL
        do { url = try MailboxURL(parsing: urlText) } catch { throw PollConfigurationError(message: "\(error)") }
        let password = try Self.password(file: passwordFile)
        let t = TimeAmount.milliseconds(Int64(timeout * 1000))
        return MailboxServerOptions(
            url: url, password: password,
            tls: TLSPolicy(transport: url.scheme.implicitTLS ? .implicit : .starttls, starttls: starttls, verify: tlsVerify, caFile: caFile),
            allowPlaintextAuth: allowPlaintextAuth, timeout: t, connectTimeout: t,
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

    private func perform(_ output: PollOutput) async throws {
        if let imap { try await pollIMAP(try serverOptions(imap), output) }
        else if let pop3 { try await pollPOP3(try serverOptions(pop3), output) }
        else if let maildir { try await pollMaildir(maildir, output) }
    }

    private func pollIMAP(_ options: MailboxServerOptions, _ output: PollOutput) async throws {
        if watch {
            let limit = count
            let seen = Counter()
            try await IMAPClient.watch(options, query: query, until: deadline, onConnect: { client in
                output.tls = await client.tlsReport
            }, onReconnect: { e in
                FileHandle.standardError.write(Data("roundtrip poll: \(e); reconnecting\n".utf8))
            }) { message in
                output.emit(message)
                return limit.map { seen.increment() < $0 } ?? true
            }
            if cleanup, !output.sources.isEmpty {
                let sources = output.sources
                output.cleanup = try await IMAPClient.withConnection(options) { client in try await client.cleanup(sources: sources) }
            }
            return
        }
        let client = try await IMAPClient.connect(options)
        do {
            output.tls = await client.tlsReport
            try await client.select()
            for m in try await client.poll(query) { output.emit(m) }
            if cleanup { output.cleanup = try await client.cleanup(sources: output.sources) }
            output.alerts = await client.alerts
            await client.logout()
            if verbose { Self.printTranscript(await client.transcript) }
        } catch {
            if verbose { Self.printTranscript(await client.transcript) }
            await client.logout()
            throw error
        }
    }

    private func pollPOP3(_ options: MailboxServerOptions, _ output: PollOutput) async throws {
        if watch {
            let limit = count
            let seen = Counter()
            try await POP3Client.watch(options, query: query, until: deadline, interval: .milliseconds(Int64(interval * 1000)), onConnect: { client in
                output.tls = await client.tlsReport
            }) { message in
                output.emit(message)
                return limit.map { seen.increment() < $0 } ?? true
            }
            // UIDLs are stable across sessions: clean up in a fresh one.
            if cleanup, !output.sources.isEmpty {
                let sources = output.sources
                output.cleanup = try await POP3Client.withConnection(options) { client in try await client.cleanup(sources: sources) }
            }
            return
        }
        let client = try await POP3Client.connect(options)
        do {
            output.tls = await client.tlsReport
            for m in try await client.poll(query) { output.emit(m) }
            if cleanup, !output.sources.isEmpty { output.cleanup = try await client.cleanup(sources: output.sources) }
            try await client.quit()
            if verbose { Self.printTranscript(await client.transcript) }
        } catch {
            if verbose { Self.printTranscript(await client.transcript) }
            await client.closeChannel()
            throw error
        }
    }

    private func pollMaildir(_ path: String, _ output: PollOutput) async throws {
        let reader = MaildirReader(root: path, includeCur: includeCur)
        if watch {
            let limit = count
            let seen = Counter()
            try await reader.watch(query, until: deadline, interval: .milliseconds(Int64(interval * 1000))) { message in
                output.emit(message)
                return limit.map { seen.increment() < $0 } ?? true
            }
        } else {
            for m in try reader.scan(query) { output.emit(m) }
        }
        if cleanup { output.cleanup = reader.markHandled(sources: output.sources) }
    }

    static func printTranscript(_ entries: [TranscriptEntry]) {
        var s = ""
        for e in entries {
            let dir = e.direction == .client ? "C:" : e.direction == .server ? "S:" : "--"
            s += String(format: "%8.3f ", e.at) + "\(dir) \(e.text)\n"
        }
        FileHandle.standardError.write(Data(s.utf8))
    }
}

struct PollConfigurationError: Error {
    var message: String
}

/// Counts messages seen by a @Sendable consumer.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    /// Returns the new count.
    func increment() -> Int {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return value
    }
}

enum PollFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, jsonl
}

/// The exit codes of `roundtrip poll` (docs/poll.md), numbered like check's.
enum PollExitCode {
    static let ok: Int32 = 0
    static let connect: Int32 = 20
    static let greeting: Int32 = 21
    static let tls: Int32 = 23
    static let auth: Int32 = 24
    static let mailbox: Int32 = 25
    static let read: Int32 = 26
    static let cleanup: Int32 = 27
    static let usage: Int32 = 64
    static let configuration: Int32 = 78

    static func code(for e: MailboxError) -> Int32 {
        switch e.kind {
        case .configuration: return configuration
        case .connectFailed: return connect
        case .greetingFailed: return greeting
        case .tlsFailed, .certificateRejected: return tls
        case .authFailed: return auth
        case .mailboxUnavailable: return mailbox
        case .rejected, .protocolViolation, .timeout, .connectionClosed:
            switch e.step {
            case .connect: return connect
            case .greeting: return greeting
            case .tls: return tls
            case .auth: return auth
            case .select: return mailbox
            case .search, .fetch, .idle, .logout: return read
            case .cleanup: return cleanup
            }
        }
    }
}
