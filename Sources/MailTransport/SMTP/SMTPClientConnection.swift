import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import SMTPCore
import X509

/// One TCP connection to an SMTP server, with async request/response calls.
/// It knows framing, timeouts and the TLS switch; what may be sent when is
/// the business of `SMTPClientSession`.
public final class SMTPClientConnection: Sendable {
    let channel: any Channel
    private let handler: NIOLoopBound<SMTPClientHandler>
    private let tlsFacts: TLSFacts
    /// The address we are connected to, e.g. "127.0.0.1:25".
    public let remoteAddress: String

    private init(channel: any Channel, handler: NIOLoopBound<SMTPClientHandler>, tlsFacts: TLSFacts, remoteAddress: String) {
        self.channel = channel
        self.handler = handler
        self.tlsFacts = tlsFacts
        self.remoteAddress = remoteAddress
    }

    /// Connects to `address` (already resolved) and, for implicit TLS, runs
    /// the handshake with `tlsName` as SNI.
    public static func connect(
        to address: SocketAddress,
        implicitTLSName: String?,
        useImplicitTLS: Bool,
        sendsCredentials: Bool = false,
        timeout: TimeAmount,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> SMTPClientConnection {
        let facts = TLSFacts()
        let handlerBox = NIOLockedValueBox<NIOLoopBound<SMTPClientHandler>?>(nil)
        let sslContext: NIOSSLContext? = useImplicitTLS ? try ClientTLS.makeContext(sendsCredentials: sendsCredentials) : nil
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(timeout)
            .channelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let ops = channel.pipeline.syncOperations
                    if let sslContext {
                        let ssl = try NIOSSLClientHandler(
                            context: sslContext,
                            serverHostname: implicitTLSName.flatMap(ClientTLS.sniName),
                            customVerificationCallback: facts.verificationCallback
                        )
                        try ops.addHandler(ServerHelloSniffer(onCipher: { suite in facts.cipher.withLockedValue { $0 = suite } }))
                        try ops.addHandler(ssl)
                    }
                    let handler = SMTPClientHandler()
                    try ops.addHandler(handler)
                    handlerBox.withLockedValue { $0 = NIOLoopBound(handler, eventLoop: channel.eventLoop) }
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(to: address).get()
        } catch {
            throw TransportError(.connectFailed, step: .connect, message: "cannot connect to \(address.displayString): \(describe(error))")
        }
        guard let handler = handlerBox.withLockedValue({ $0 }) else {
            throw TransportError(.connectFailed, step: .connect, message: "the connection was not set up")
        }
        return SMTPClientConnection(channel: channel, handler: handler, tlsFacts: facts, remoteAddress: address.displayString)
    }

    static func describe(_ error: any Error) -> String {
        if let e = error as? NIOConnectionError {
            return e.connectionErrors.first.map { describe($0.error) } ?? "\(e)"
        }
        if let e = error as? IOError {
            return String(cString: strerror(e.errnoCode)).lowercased()
        }
        if error is ChannelError, case .connectTimeout = error as? ChannelError { return "connect timed out" }
        return "\(error)"
    }

    /// Waits for the next reply (the greeting, or an unprompted one).
    public func readReply(timeout: TimeAmount, step: SMTPStep) async throws -> SMTPReply {
        try await send([], replies: 1, timeout: timeout, step: step)[0]
    }

    /// Writes `bytes` and waits for `replies` replies, each within `timeout`.
    public func send(_ bytes: [UInt8], replies: Int, timeout: TimeAmount, step: SMTPStep) async throws -> [SMTPReply] {
        let handler = self.handler
        let channel = self.channel
        let futures = try await channel.eventLoop.submit { () -> [EventLoopFuture<SMTPReply>] in
            var futures: [EventLoopFuture<SMTPReply>] = []
            for _ in 0..<replies {
                let promise = channel.eventLoop.makePromise(of: SMTPReply.self)
                let deadline = channel.eventLoop.scheduleTask(in: timeout) {
                    promise.fail(TransportError(.timeout, step: step, message: "no reply within \(Self.seconds(timeout)) (tool limit; see --timeout)"))
                }
                promise.futureResult.whenComplete { _ in deadline.cancel() }
                handler.value.expectReply(promise)
                futures.append(promise.futureResult)
            }
            if !bytes.isEmpty {
                channel.writeAndFlush(channel.allocator.buffer(bytes: bytes), promise: nil)
            }
            return futures
        }.get()
        var out: [SMTPReply] = []
        for f in futures {
            do {
                out.append(try await f.get())
            } catch var e as TransportError {
                e.step = step
                if e.kind == .timeout { channel.close(promise: nil) }
                throw e
            }
        }
        return out
    }

    static func seconds(_ t: TimeAmount) -> String {
        let ms = t.nanoseconds / 1_000_000
        return ms % 1000 == 0 ? "\(ms / 1000) s" : "\(ms) ms"
    }

    /// Sends STARTTLS, switches to TLS on `220` and waits for the handshake.
    /// Returns the reply and the plaintext octets discarded after it.
    public func startTLS(command: [UInt8], serverName: String, sendsCredentials: Bool = false, timeout: TimeAmount,
                         handshakeTimeout: TimeAmount) async throws -> (SMTPReply, discarded: Int) {
        let sslContext: NIOSSLContext
        do { sslContext = try ClientTLS.makeContext(sendsCredentials: sendsCredentials) } catch {
            throw TransportError(.tlsFailed, step: .tls, message: "cannot create a TLS context: \(error)")
        }
        let handler = self.handler
        let channel = self.channel
        let facts = tlsFacts
        let armed = try await channel.eventLoop.submit { () -> Result<EventLoopFuture<Int>, TransportError> in
            let promise = channel.eventLoop.makePromise(of: Int.self)
            if let violation = handler.value.armTLSUpgrade(.init(
                context: sslContext,
                serverHostname: ClientTLS.sniName(serverName),
                verificationCallback: facts.verificationCallback,
                onCipher: { suite in facts.cipher.withLockedValue { $0 = suite } },
                handshake: promise
            )) {
                promise.succeed(0)
                return .failure(TransportError(.tlsFailed, step: .tls, message: violation))
            }
            return .success(promise.futureResult)
        }.get()
        let handshake = try armed.get()
        let reply = try await send(command, replies: 1, timeout: timeout, step: .tls)[0]
        guard reply.code == 220 else {
            handshake.whenFailure { _ in }
            return (reply, 0)
        }
        let discarded = try await withTimeout(handshake, handshakeTimeout, step: .tls, what: "TLS handshake")
        return (reply, discarded)
    }

    /// Waits for the implicit-TLS handshake (done before the greeting).
    func withTimeout<T: Sendable>(_ future: EventLoopFuture<T>, _ timeout: TimeAmount, step: SMTPStep, what: String) async throws -> T {
        let promise = channel.eventLoop.makePromise(of: T.self)
        let task = channel.eventLoop.scheduleTask(in: timeout) {
            promise.fail(TransportError(.timeout, step: step, message: "\(what) did not finish within \(Self.seconds(timeout))"))
        }
        future.cascade(to: promise)
        promise.futureResult.whenComplete { _ in task.cancel() }
        do {
            return try await promise.futureResult.get()
        } catch var e as TransportError {
            e.step = step
            throw e
        }
    }

    /// The TLS facts and verification result for this connection.
    public func tlsReport(serverName: String, policy: TLSPolicy, discarded: Int) async throws -> TLSReport {
        try await tlsFacts.report(channel: channel, serverName: serverName, policy: policy, discarded: discarded)
    }

    public func close() async {
        try? await channel.close().get()
    }
}

extension SocketAddress {
    var displayString: String {
        switch self {
        case .v6: return "[\(ipAddress ?? "?")]:\(port ?? 0)"
        default: return "\(ipAddress ?? description):\(port ?? 0)"
        }
    }
}
