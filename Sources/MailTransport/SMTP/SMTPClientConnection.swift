import NIOCore
import NIOPosix
import SMTPCore

extension SMTPReplyParser: ClientFramer {
    mutating func nextFrame() throws -> SMTPReply? { try next() }
    mutating func restartAfterTLSSwitch() { self = SMTPReplyParser(limits: limits) }
    var hasPartialFrame: Bool { hasPartialReply }
    static func size(of frame: SMTPReply) -> Int { frame.lines.reduce(6) { $0 + $1.utf8.count + 6 } }
    /// Replies are awaited before the command goes out, so unprompted replies
    /// queue only when a server misbehaves: a few are tolerated, no more.
    static var maxUnclaimed: Int? { 16 }
    static var frameNoun: (one: String, many: String) { ("reply", "replies") }
    static func invalidFrameMessage(_ error: any Error) -> String { "the server's reply is not valid SMTP: \(error)" }
}

/// One connection to an SMTP server: the framed client channel with SMTP's
/// replies, steps and `TransportError`s. What may be sent when is the
/// business of `SMTPClientSession` and `SMTPDialog`.
public final class SMTPClientConnection: Sendable {
    private let channel: FramedClientChannel<SMTPReplyParser>
    /// The address we are connected to, e.g. "127.0.0.1:25".
    public var remoteAddress: String { channel.remoteAddress }

    private init(channel: FramedClientChannel<SMTPReplyParser>) {
        self.channel = channel
    }

    /// Connects to `address` (already resolved) and, for implicit TLS, starts
    /// the handshake with `implicitTLSName` as SNI.
    public static func connect(
        to address: SocketAddress,
        implicitTLSName: String?,
        useImplicitTLS: Bool,
        sendsCredentials: Bool = false,
        timeout: TimeAmount,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> SMTPClientConnection {
        do {
            return SMTPClientConnection(
                channel: try await .connect(
                    to: .address(address),
                    implicitTLS: useImplicitTLS
                        ? .init(serverName: implicitTLSName, sendsCredentials: sendsCredentials) : nil,
                    framer: SMTPReplyParser(), connectTimeout: timeout, group: group
                ))
        } catch {
            throw transportError(error, step: .connect)
        }
    }

    /// A channel failure as a `TransportError` of `step`.
    static func transportError(_ error: FramedChannelError, step: SMTPStep) -> TransportError {
        switch error.kind {
        case .connectFailed: return TransportError(.connectFailed, step: step, message: error.message)
        case .connectionClosed: return TransportError(.connectionClosed, step: step, message: error.message)
        case .timeout: return TransportError(.timeout, step: step, message: error.message)
        case .tlsFailed, .startTLSInjection: return TransportError(.tlsFailed, step: step, message: error.message)
        case .protocolViolation: return TransportError(.protocolViolation, step: step, message: error.message)
        }
    }

    private func mapped<T>(step: SMTPStep, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let e as FramedChannelError {
            throw Self.transportError(e, step: step)
        }
    }

    /// Waits for the next reply (the greeting, or an unprompted one).
    public func readReply(timeout: TimeAmount, step: SMTPStep) async throws -> SMTPReply {
        try await send([], replies: 1, timeout: timeout, step: step)[0]
    }

    /// Writes `bytes` and waits for `replies` replies, each within `timeout`.
    /// A timeout closes the connection: a late reply would be paired with the
    /// wrong command.
    public func send(_ bytes: [UInt8], replies: Int, timeout: TimeAmount, step: SMTPStep) async throws -> [SMTPReply] {
        let got = try await mapped(step: step) {
            try await channel.exchange(bytes, expecting: replies, timeout: timeout)
        }
        guard got.count == replies else {
            await channel.close()
            throw TransportError(
                .timeout, step: step, message: "no reply within \(seconds(timeout)) (tool limit; see --timeout)")
        }
        return got
    }

    /// Sends STARTTLS, switches to TLS on `220` and waits for the handshake.
    /// Returns the reply and the plaintext octets discarded after it.
    public func startTLS(
        command: [UInt8], serverName: String, sendsCredentials: Bool = false, timeout: TimeAmount,
        handshakeTimeout: TimeAmount
    ) async throws -> (SMTPReply, discarded: Int) {
        let handshake = try await mapped(step: .tls) {
            try await channel.armTLS(serverName: serverName, sendsCredentials: sendsCredentials) {
                $0.code == 220 ? .upgrade : .refuse
            }
        }
        let reply = try await send(command, replies: 1, timeout: timeout, step: .tls)[0]
        guard reply.code == 220 else {
            handshake.whenFailure { _ in }
            return (reply, 0)
        }
        let discarded = try await mapped(step: .tls) {
            try await channel.wait(handshake, timeout: handshakeTimeout, what: "TLS handshake")
        }
        return (reply, discarded)
    }

    /// The TLS facts and verification result for this connection.
    public func tlsReport(serverName: String, policy: TLSPolicy, discarded: Int) async throws -> TLSReport {
        try await channel.tlsReport(serverName: serverName, policy: policy, discarded: discarded)
    }

    public func close() async {
        await channel.close()
    }
}
