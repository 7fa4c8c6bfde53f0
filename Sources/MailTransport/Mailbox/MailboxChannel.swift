import MailboxCore
import NIOCore

extension IMAPFramingParser: ClientFramer {
    mutating func nextFrame() throws -> [UInt8]? { try next() }
    /// What was buffered is gone with `drainUnprocessed`; the limits stay.
    mutating func restartAfterTLSSwitch() {}
    /// Not reported for IMAP: its close message stays "the server closed the connection".
    var hasPartialFrame: Bool { false }
    static func size(of frame: [UInt8]) -> Int { frame.count }
    static var frameNoun: (one: String, many: String) { ("response", "responses") }
    static func invalidFrameMessage(_ error: any Error) -> String { "the server's response is not valid: \(error)" }
}

extension POP3ReplyParser: ClientFramer {
    mutating func nextFrame() throws -> POP3Reply? { try next() }
    /// What was buffered is gone with `drainUnprocessed`; the single/multi-line
    /// expectation is set before every command anyway.
    mutating func restartAfterTLSSwitch() {}
    /// Not reported for POP3: its close message stays "the server closed the connection".
    var hasPartialFrame: Bool { false }
    static func size(of frame: POP3Reply) -> Int { frame.text.utf8.count + (frame.body?.count ?? 0) + 8 }
    static var frameNoun: (one: String, many: String) { ("response", "responses") }
    static func invalidFrameMessage(_ error: any Error) -> String { "the server's response is not valid: \(error)" }
}

/// The framed client channel as the IMAP and POP3 clients use it: failures
/// become `MailboxError`s of the step at hand.
typealias MailboxChannel<Framer: ClientFramer> = FramedClientChannel<Framer>

extension FramedClientChannel {
    /// Connects to the server of `options.url`, with implicit TLS or in
    /// plaintext; credentials will cross, so implicit TLS is 1.2 at least.
    static func connect(_ options: MailboxServerOptions, framer: Framer) async throws -> FramedClientChannel {
        let host = options.url.host
        do {
            return try await connect(
                to: .host(host, port: options.url.port),
                implicitTLS: options.url.scheme.implicitTLS ? .init(serverName: host, sendsCredentials: true) : nil,
                framer: framer, connectTimeout: options.connectTimeout
            )
        } catch {
            throw mailboxError(error, step: .connect)
        }
    }

    /// Connects, makes the client over the channel and opens it (greeting,
    /// TLS, login); a client that cannot open is closed.
    static func open<Client>(
        _ options: MailboxServerOptions, framer: Framer, client make: (FramedClientChannel) -> Client,
        open: (Client) async throws -> Void
    ) async throws -> Client {
        let channel = try await connect(options, framer: framer)
        let client = make(channel)
        do {
            try await open(client)
        } catch {
            await channel.close()
            throw error
        }
        return client
    }

    /// The TLS of this connection (implicit, or after the switch), held to
    /// the policy: credentials follow, so a fatal problem ends the session.
    func verifiedTLS(_ options: MailboxServerOptions, discarded: Int) async throws -> TLSReport {
        let policy = options.tlsPolicy
        let report = try await tlsReport(serverName: options.url.host, policy: policy, discarded: discarded)
        try enforce(report, policy: policy, port: options.url.port)
        return report
    }

    /// A channel failure as a `MailboxError`: TLS failures belong to the TLS
    /// step, the rest to `step`.
    static func mailboxError(_ error: FramedChannelError, step: MailboxStep) -> MailboxError {
        switch error.kind {
        case .connectFailed: return MailboxError(.connectFailed, step: step, message: error.message)
        case .connectionClosed: return MailboxError(.connectionClosed, step: step, message: error.message)
        case .timeout: return MailboxError(.timeout, step: step, message: error.message)
        case .tlsFailed: return MailboxError(.tlsFailed, step: .tls, message: error.message)
        case .protocolViolation: return MailboxError(.protocolViolation, step: step, message: error.message)
        case .startTLSInjection: return MailboxError(.protocolViolation, step: .tls, message: error.message)
        }
    }

    private func mapped<T>(step: MailboxStep, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let e as FramedChannelError {
            throw Self.mailboxError(e, step: step)
        }
    }

    /// The next frame, or nil when none came within `timeout`; a failure names `step`.
    func nextFrame(timeout: TimeAmount, step: MailboxStep) async throws -> Framer.Frame? {
        try await mapped(step: step) { try await nextFrame(timeout: timeout) }
    }

    /// Arms the TLS switch for the answer to STARTTLS/STLS (credentials follow).
    func armTLS(serverName: String, decide: @escaping @Sendable (Framer.Frame) -> TLSSwitchDecision) async throws
        -> EventLoopFuture<Int>
    {
        try await mapped(step: .tls) {
            try await armTLS(serverName: serverName, sendsCredentials: true, decide: decide)
        }
    }

    /// Waits for `future` at most `timeout`; a timeout names `step`, a failure
    /// of the connection the greeting (as the channel has always reported it).
    func wait<T: Sendable>(_ future: EventLoopFuture<T>, timeout: TimeAmount, step: MailboxStep, what: String)
        async throws -> T
    {
        do {
            return try await wait(future, timeout: timeout, what: what)
        } catch let e as FramedChannelError {
            throw Self.mailboxError(e, step: e.kind == .timeout ? step : .greeting)
        }
    }
}

extension TLSReport {
    /// The transcript line once TLS is up.
    var establishedNote: String {
        "TLS established: \(protocolVersion ?? "?") \(cipher ?? ""), certificate \(verification.rawValue)"
    }
}
