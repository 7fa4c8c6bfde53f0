import MailboxCore
import NIOCore

/// A POP3 session (RFC 1939, 2449, 2595) over POP3S or STLS: CAPA, login
/// (AUTH PLAIN when offered, else USER/PASS), UIDL, RETR (dot-unstuffed),
/// DELE only for the named messages, and QUIT, which alone commits them.
public actor POP3Client {
    public let options: MailboxServerOptions
    private var machine: POP3ClientStateMachine
    private let channel: MailboxChannel<POP3ReplyParser>
    private var recorder = TranscriptRecorder()
    public private(set) var tlsReport: TLSReport?
    /// Message number → UIDL, from the last listing.
    private var listing: [(number: Int, uidl: String)] = []

    public var transcript: [TranscriptEntry] { recorder.entries }
    public var capabilities: [String] { machine.capabilities ?? [] }
    public var tlsActive: Bool { machine.tlsActive }

    private init(options: MailboxServerOptions, channel: MailboxChannel<POP3ReplyParser>) {
        self.options = options
        self.channel = channel
        self.machine = POP3ClientStateMachine(
            policy: .init(allowPlaintextAuth: options.allowPlaintextAuth), implicitTLS: options.url.scheme.implicitTLS)
    }

    public static func connect(_ options: MailboxServerOptions) async throws -> POP3Client {
        guard !options.url.scheme.isIMAP else {
            throw MailboxError(.configuration, step: .connect, message: "not a POP3 URL: \(options.url)")
        }
        return try await MailboxChannel.open(
            options, framer: POP3ReplyParser(), client: { POP3Client(options: options, channel: $0) }
        ) { try await $0.open() }
    }

    /// Connects, runs `body`, then QUIT (committing the DELEs made) and closes.
    /// When `body` throws, the connection is dropped without QUIT, so nothing is deleted.
    public static func withConnection<T: Sendable>(
        _ options: MailboxServerOptions, _ body: (POP3Client) async throws -> T
    ) async throws -> T {
        let client = try await connect(options)
        do {
            let result = try await body(client)
            try await client.quit()
            return result
        } catch {
            await client.closeChannel()
            throw error
        }
    }

    private func note(_ d: TranscriptEntry.Direction, _ text: String) { recorder.note(d, text) }

    private func open() async throws {
        let greeting = try await readReply(step: .greeting)
        do { _ = try machine.received(greeting) } catch {
            throw MailboxError(.greetingFailed, step: .greeting, message: error.description)
        }
        guard greeting.isOK else {
            throw MailboxError(
                .greetingFailed, step: .greeting, message: "the server refused the session",
                serverText: greeting.statusLine)
        }
        let policy = options.tlsPolicy
        if options.url.scheme.implicitTLS {
            let report = try await channel.verifiedTLS(options, discarded: 0)
            tlsReport = report
            note(.info, report.establishedNote)
        }
        _ = try await run(.capa, step: .greeting, allowFailure: true)
        if !options.url.scheme.implicitTLS, policy.starttls != .never {
            if machine.has("STLS") {
                try await startTLS()
            } else if policy.starttls == .require {
                throw MailboxError(.tlsFailed, step: .tls, message: "the server does not offer STLS")
            }
        }
        try await login()
    }

    private func startTLS() async throws {
        let bytes = try machineSend(.stls, step: .tls)
        let handshake = try await channel.armTLS(serverName: options.url.host) { reply in
            reply.isOK ? .upgrade : .refuse
        }
        try await channel.configureFramer { $0.expect(.singleLine) }
        note(.client, "STLS")
        try await channel.write(bytes)
        let reply = try await readReply(step: .tls)
        let event: POP3ClientStateMachine.Event
        do { event = try machine.received(reply) } catch {
            throw MailboxError(.protocolViolation, step: .tls, message: error.description)
        }
        guard case .startTLS = event else {
            handshake.whenFailure { _ in }
            if options.tls.starttls == .require {
                throw MailboxError(
                    .tlsFailed, step: .tls, message: "the server refused STLS", serverText: reply.statusLine)
            }
            note(.info, "STLS refused; going on without TLS")
            return
        }
        let discarded = try await channel.wait(handshake, timeout: options.timeout, step: .tls, what: "TLS handshake")
        machine.tlsEstablished()
        if discarded > 0 {
            note(.info, "discarded \(discarded) plaintext octets that followed the STLS +OK (injection guard)")
        }
        let report = try await channel.verifiedTLS(options, discarded: discarded)
        tlsReport = report
        note(.info, report.establishedNote)
        _ = try await run(.capa, step: .tls, allowFailure: true)
    }

    private func login() async throws {
        guard let user = options.url.user else {
            throw MailboxError(.configuration, step: .auth, message: "the URL names no user (pop3s://USER@host)")
        }
        guard machine.tlsActive || options.allowPlaintextAuth else {
            throw MailboxError(
                .authFailed, step: .auth,
                message:
                    "refused to send credentials over a connection without TLS (use --allow-plaintext-auth for test servers)"
            )
        }
        let failed: POP3Reply?
        if machine.saslMechanisms.contains("PLAIN") {
            let r = try await run(.authPlain(user: user, password: options.password), step: .auth, allowFailure: true)
            failed = r.isOK ? nil : r
        } else {
            let u = try await run(.user(user), step: .auth, allowFailure: true)
            if u.isOK {
                let p = try await run(.pass(options.password), step: .auth, allowFailure: true)
                failed = p.isOK ? nil : p
            } else {
                failed = u
            }
        }
        if let failed {
            let why =
                failed.code == "IN-USE"
                ? "the mailbox is locked by another session"
                : failed.code == "SYS/TEMP" ? "the server cannot log in now" : "bad user name or password"
            throw MailboxError(.authFailed, step: .auth, message: "\(why) for \(user)", serverText: failed.statusLine)
        }
    }

    private func machineSend(_ command: POP3Command, step: MailboxStep) throws -> [UInt8] {
        do { return try machine.send(command) } catch {
            if error.code == .plaintextAuthRefused {
                throw MailboxError(.authFailed, step: step, message: error.description)
            }
            throw MailboxError(.protocolViolation, step: step, message: error.description)
        }
    }

    @discardableResult
    private func run(_ command: POP3Command, step: MailboxStep, allowFailure: Bool = false) async throws -> POP3Reply {
        let bytes = try machineSend(command, step: step)
        let multi = command.isMultiLine
        try await channel.configureFramer { $0.expect(multi ? .multiLine : .singleLine) }
        note(.client, command.redactedLine)
        try await channel.write(bytes)
        let reply = try await readReply(step: step)
        do { _ = try machine.received(reply) } catch {
            throw MailboxError(.protocolViolation, step: step, message: error.description)
        }
        if !reply.isOK && !allowFailure {
            throw MailboxError(
                .rejected, step: step, message: "\(command.redactedLine) failed", serverText: reply.statusLine)
        }
        return reply
    }

    private func readReply(step: MailboxStep) async throws -> POP3Reply {
        guard let reply = try await channel.nextFrame(timeout: options.timeout, step: step) else {
            await channel.close()
            throw MailboxError(
                .timeout, step: step, message: "no reply within \(seconds(options.timeout)) (see --timeout)")
        }
        var line = reply.statusLine
        if let body = reply.body { line += " …(\(body.count) octets)" }
        note(.server, line)
        return reply
    }

    // MARK: Messages

    /// `UIDL`: message numbers with their unique ids (the stable cursor).
    public func uidl() async throws -> [(number: Int, uidl: String)] {
        let reply = try await run(.uidl, step: .search)
        var out: [(Int, String)] = []
        for line in reply.lines {
            let parts = line.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, let n = Int(parts[0]), n > 0 else {
                throw MailboxError(.protocolViolation, step: .search, message: "bad UIDL line \(line.debugDescription)")
            }
            out.append((n, String(parts[1])))
        }
        listing = out
        return out
    }

    /// `RETR n`, dot-unstuffed.
    public func retrieve(_ number: Int) async throws -> [UInt8] {
        let reply = try await run(.retr(number), step: .fetch)
        return reply.body ?? []
    }

    public func source(uidl: String) -> String {
        "\(options.url);UIDL=\(MailboxURL.percentEncodeComponent(uidl))"
    }

    /// Lists the mailbox and retrieves the messages whose raw bytes contain
    /// the query's token (all of them without a token). Messages whose UIDL
    /// is in `skipping` are not retrieved again.
    public func poll(_ query: MailboxQuery, skipping: Set<String> = []) async throws -> [FetchedMessage] {
        var out: [FetchedMessage] = []
        for (n, id) in try await uidl() where !skipping.contains(id) {
            // Another session (an IMAP client on the same mailbox, say) may expunge a listed
            // message meanwhile; Dovecot then answers RETR with -ERR. That message is skipped,
            // the poll goes on.
            let reply = try await run(.retr(n), step: .fetch, allowFailure: true)
            guard reply.isOK else {
                note(
                    .info,
                    "RETR \(n) refused (\(reply.statusLine)): the message left the mailbox during this session; skipped"
                )
                continue
            }
            let bytes = reply.body ?? []
            guard query.matches(bytes) else { continue }
            out.append(FetchedMessage(source: source(uidl: id), bytes: bytes))
        }
        return out
    }

    /// Marks exactly the named messages with DELE (matched by UIDL, never by
    /// a number from an earlier session); QUIT commits them.
    public func cleanup(sources: [String]) async throws -> CleanupReport {
        var report = CleanupReport(method: .deleted)
        let prefix = "\(options.url);UIDL="
        var wanted: [String: String] = [:]
        for s in sources {
            guard s.hasPrefix(prefix), let id = MailboxURL.percentDecodeComponent(String(s.dropFirst(prefix.count)))
            else {
                report.kept[s] = "not a message of \(options.url)"
                continue
            }
            wanted[id] = s
        }
        guard !wanted.isEmpty else {
            report.method = .none
            return report
        }
        let current = try await uidl()
        for (n, id) in current {
            guard let s = wanted.removeValue(forKey: id) else { continue }
            let r = try await run(.dele(n), step: .cleanup, allowFailure: true)
            if r.isOK { report.removed.append(s) } else { report.kept[s] = "DELE refused: \(r.statusLine)" }
        }
        for s in wanted.values { report.kept[s] = "no longer in the mailbox" }
        report.note = "deleted when the session ends with QUIT"
        return report
    }

    /// QUIT: commits the DELEs of this session, then closes.
    public func quit() async throws {
        if machine.state == .transaction || machine.state == .authorization {
            let r = try await run(.quit, step: .logout, allowFailure: true)
            if !r.isOK {
                throw MailboxError(
                    .rejected, step: .logout, message: "QUIT failed: deletions not committed", serverText: r.statusLine)
            }
        }
        await channel.close()
    }

    /// Drops the connection without QUIT: nothing is deleted.
    public func closeChannel() async {
        await channel.close()
    }
}
