import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// Cuts a client protocol's byte stream into frames: SMTP replies, IMAP
/// responses, POP3 replies.
protocol ClientFramer: Sendable {
    associatedtype Frame: Sendable
    mutating func append(_ bytes: ByteBufferView)
    mutating func nextFrame() throws -> Frame?
    /// Drops and returns the octets not yet framed (the STARTTLS switch).
    mutating func drainUnprocessed() -> [UInt8]
    /// Starts afresh after the TLS switch (what came before is gone).
    mutating func restartAfterTLSSwitch()
    /// Whether the octets buffered end in the middle of a frame.
    var hasPartialFrame: Bool { get }
    /// About how many octets `frame` holds, for the per-command budget.
    static func size(of frame: Frame) -> Int
    /// How many frames nobody waits for may queue; nil when there is no cap
    /// (IMAP streams untagged data faster than it is read).
    static var maxUnclaimed: Int? { get }
    /// "reply"/"replies" or "response"/"responses", for error messages.
    static var frameNoun: (one: String, many: String) { get }
    /// Why a frame cannot be parsed, in words.
    static func invalidFrameMessage(_ error: any Error) -> String
}

extension ClientFramer {
    static var maxUnclaimed: Int? { nil }
}

/// What one command may bring back in all: its own responses, untagged data
/// and unclaimed frames. One frame (a literal, a RETR body, a reply) is capped
/// by the framer; this caps the stream of them a hostile server could send instead.
enum CommandBudget {
    static let octetsPerCommand = 64 * 1024 * 1024
    static let framesPerCommand = 100_000
}

/// Whether the frame answering STARTTLS/STLS allows the switch.
enum TLSSwitchDecision: Sendable {
    /// This is the go-ahead: switch now, before reading another byte.
    case upgrade
    /// This is the refusal.
    case refuse
    /// Not the answer yet (untagged data before the tagged OK).
    case notYet
}

/// The channel's failures, protocol-neutral: the SMTP, IMAP and POP3 layers
/// map them to `TransportError` and `MailboxError` with their own steps.
struct FramedChannelError: Error, Sendable, CustomStringConvertible {
    enum Kind: Sendable, Hashable {
        case connectFailed
        case connectionClosed
        case timeout
        case tlsFailed
        case protocolViolation
        /// `STARTTLSGuard` refused to arm the switch.
        case startTLSInjection
    }
    var kind: Kind
    var message: String

    init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    var description: String { message }
}

/// Frames the server's bytes and hands each frame to the oldest waiter.
/// It performs the STARTTLS switch in the same `channelRead` that sees the
/// go-ahead: plaintext buffered behind it is discarded (CVE-2011-0411 class),
/// never parsed as if it came over TLS, and NIOSSL goes to the front of the
/// pipeline before another byte is read.
final class FramedClientHandler<Framer: ClientFramer>: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    struct TLSUpgrade {
        let context: NIOSSLContext
        let serverHostname: String?
        let facts: TLSFacts
        let decide: @Sendable (Framer.Frame) -> TLSSwitchDecision
        let handshake: EventLoopPromise<Int>
    }

    private var framer: Framer
    private var waiters: [(id: Int, promise: EventLoopPromise<Framer.Frame?>)] = []
    private var unclaimed = CircularBuffer<Framer.Frame>()
    private var failure: FramedChannelError?
    private var pendingUpgrade: TLSUpgrade?
    private var handshakePromise: EventLoopPromise<Int>?
    private var discardedOctets = 0
    private var octetsSinceCommand = 0
    private var framesSinceCommand = 0

    init(framer: Framer) {
        self.framer = framer
    }

    func expectFrame(id: Int, _ promise: EventLoopPromise<Framer.Frame?>) {
        if let frame = unclaimed.popFirst() {
            promise.succeed(frame)
        } else if let failure {
            promise.fail(failure)
        } else {
            waiters.append((id, promise))
        }
    }

    /// A waiter that timed out gets nil; the connection stays usable.
    func cancelWaiter(id: Int) {
        if let i = waiters.firstIndex(where: { $0.id == id }) {
            waiters.remove(at: i).promise.succeed(nil)
        }
    }

    func configureFramer(_ body: (inout Framer) -> Void) {
        body(&framer)
    }

    /// A command went out: its responses get a fresh budget.
    func commandSent() {
        octetsSinceCommand = 0
        framesSinceCommand = 0
    }

    /// Arms the switch for the answer to STARTTLS/STLS; returns why it is
    /// refused when responses or octets are already waiting (`STARTTLSGuard`);
    /// then nothing is armed and the queue is emptied.
    func armTLSUpgrade(_ upgrade: TLSUpgrade) -> String? {
        if let violation = STARTTLSGuard.violation(
            queuedResponses: unclaimed.count, bufferedOctets: framer.drainUnprocessed().count)
        {
            unclaimed.removeAll()
            return violation
        }
        pendingUpgrade = upgrade
        return nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        guard failure == nil else { return }
        framer.append(buffer.readableBytesView)
        do {
            while let frame = try nextFrame() {
                octetsSinceCommand += Framer.size(of: frame)
                framesSinceCommand += 1
                if octetsSinceCommand > CommandBudget.octetsPerCommand
                    || framesSinceCommand > CommandBudget.framesPerCommand
                {
                    throw FramedChannelError(
                        .protocolViolation,
                        "the server sent more than \(CommandBudget.framesPerCommand) "
                            + "\(Framer.frameNoun.many) or \(CommandBudget.octetsPerCommand) octets for one command")
                }
                if let upgrade = pendingUpgrade {
                    switch upgrade.decide(frame) {
                    case .upgrade:
                        pendingUpgrade = nil
                        startTLS(context: context, upgrade: upgrade)
                        deliver(frame)
                        return
                    case .refuse:
                        pendingUpgrade = nil
                        upgrade.handshake.fail(FramedChannelError(.tlsFailed, "the server refused STARTTLS"))
                    case .notYet:
                        break
                    }
                }
                if let max = Framer.maxUnclaimed, waiters.isEmpty, unclaimed.count >= max {
                    throw FramedChannelError(
                        .protocolViolation, "the server sent more than \(max) \(Framer.frameNoun.many) nobody asked for"
                    )
                }
                deliver(frame)
            }
        } catch let error as FramedChannelError {
            fail(context: context, error)
        } catch {
            fail(context: context, FramedChannelError(.protocolViolation, Framer.invalidFrameMessage(error)))
        }
    }

    private func nextFrame() throws -> Framer.Frame? {
        try framer.nextFrame()
    }

    private func startTLS(context: ChannelHandlerContext, upgrade: TLSUpgrade) {
        // Anything after the go-ahead in the same read, or already buffered,
        // came in plaintext: drop it and count it.
        discardedOctets = framer.drainUnprocessed().count
        framer.restartAfterTLSSwitch()
        do {
            let ssl = try NIOSSLClientHandler(
                context: upgrade.context,
                serverHostname: upgrade.serverHostname,
                customVerificationCallback: upgrade.facts.verificationCallback
            )
            try context.pipeline.syncOperations.addHandler(ssl, position: .first)
            try context.pipeline.syncOperations.addHandler(
                ServerHelloSniffer(onCipher: upgrade.facts.onCipher), position: .first)
            handshakePromise = upgrade.handshake
        } catch {
            upgrade.handshake.fail(FramedChannelError(.tlsFailed, "cannot start TLS: \(error)"))
        }
    }

    private func deliver(_ frame: Framer.Frame) {
        if waiters.isEmpty {
            unclaimed.append(frame)
        } else {
            waiters.removeFirst().promise.succeed(frame)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tls = event as? TLSUserEvent, case .handshakeCompleted = tls {
            handshakePromise?.succeed(discardedOctets)
            handshakePromise = nil
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let sslError = error as? NIOSSLError {
            fail(context: context, FramedChannelError(.tlsFailed, "TLS failed: \(sslError)"))
        } else if let error = error as? FramedChannelError {
            fail(context: context, error)
        } else {
            fail(context: context, FramedChannelError(.connectionClosed, "connection error: \(error)"))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        let partial = framer.hasPartialFrame ? " in the middle of a \(Framer.frameNoun.one)" : ""
        failAll(FramedChannelError(.connectionClosed, "the server closed the connection\(partial)"))
        context.fireChannelInactive()
    }

    private func fail(context: ChannelHandlerContext, _ error: FramedChannelError) {
        failAll(error)
        context.close(promise: nil)
    }

    private func failAll(_ error: FramedChannelError) {
        if failure == nil { failure = error }
        let error = failure ?? error
        let pending = waiters
        waiters = []
        for w in pending { w.promise.fail(error) }
        handshakePromise?.fail(error)
        handshakePromise = nil
        pendingUpgrade?.handshake.fail(error)
        pendingUpgrade = nil
    }
}

@available(*, unavailable)
extension FramedClientHandler: Sendable {}

/// One TCP (or TLS) connection to an SMTP, IMAP or POP3 server: connect,
/// implicit TLS, write octets, await frames with a timeout, the STARTTLS
/// switch, certificate facts. What may be sent when is the business of the
/// protocol's state machine; which error a failure becomes is the business
/// of the protocol layer (`SMTPClientConnection`, `MailboxChannel`).
final class FramedClientChannel<Framer: ClientFramer>: Sendable {
    typealias Handler = FramedClientHandler<Framer>

    /// Where to connect: an address already resolved, or a host name NIO resolves.
    enum Target: Sendable, CustomStringConvertible {
        case address(SocketAddress)
        case host(String, port: Int)

        var description: String {
            switch self {
            case .address(let a): return a.displayString
            case .host(let h, let port): return "\(h):\(port)"
            }
        }
    }

    /// TLS from the first octet (smtps, imaps, pop3s).
    struct ImplicitTLS: Sendable {
        /// The name to verify and send as SNI (never an IP literal).
        var serverName: String?
        /// Credentials will cross: TLS 1.2 at least (`ClientTLS.makeContext`).
        var sendsCredentials: Bool
    }

    let channel: any Channel
    private let handler: NIOLoopBound<Handler>
    private let facts: TLSFacts
    private let waiterIDs = NIOLockedValueBox(0)
    /// The address we are connected to, e.g. "127.0.0.1:25".
    let remoteAddress: String

    private init(channel: any Channel, handler: NIOLoopBound<Handler>, facts: TLSFacts, remoteAddress: String) {
        self.channel = channel
        self.handler = handler
        self.facts = facts
        self.remoteAddress = remoteAddress
    }

    static func connect(
        to target: Target, implicitTLS: ImplicitTLS?, framer: Framer, connectTimeout: TimeAmount,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws(FramedChannelError) -> FramedClientChannel {
        let facts = TLSFacts()
        let handlerBox = NIOLockedValueBox<NIOLoopBound<Handler>?>(nil)
        let sslContext: NIOSSLContext?
        do {
            sslContext = try implicitTLS.map { try ClientTLS.makeContext(sendsCredentials: $0.sendsCredentials) }
        } catch {
            throw FramedChannelError(.tlsFailed, "cannot create a TLS context: \(error)")
        }
        let sni = implicitTLS?.serverName.flatMap(ClientTLS.sniName)
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(connectTimeout)
            .channelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let ops = channel.pipeline.syncOperations
                    if let sslContext {
                        let ssl = try NIOSSLClientHandler(
                            context: sslContext, serverHostname: sni,
                            customVerificationCallback: facts.verificationCallback
                        )
                        try ops.addHandler(ServerHelloSniffer(onCipher: facts.onCipher))
                        try ops.addHandler(ssl)
                    }
                    let handler = Handler(framer: framer)
                    try ops.addHandler(handler)
                    handlerBox.withLockedValue { $0 = NIOLoopBound(handler, eventLoop: channel.eventLoop) }
                }
            }
        let channel: any Channel
        do {
            switch target {
            case .address(let address): channel = try await bootstrap.connect(to: address).get()
            case .host(let host, let port): channel = try await bootstrap.connect(host: host, port: port).get()
            }
        } catch {
            throw FramedChannelError(.connectFailed, "cannot connect to \(target): \(describe(error))")
        }
        guard let handler = handlerBox.withLockedValue({ $0 }) else {
            throw FramedChannelError(.connectFailed, "the connection was not set up")
        }
        let remote = channel.remoteAddress?.displayString ?? target.description
        return FramedClientChannel(channel: channel, handler: handler, facts: facts, remoteAddress: remote)
    }

    /// Writes `bytes` (a command): the responses that follow get a fresh budget.
    func write(_ bytes: [UInt8]) async throws {
        guard !bytes.isEmpty else { return }
        let channel = self.channel
        let handler = self.handler
        channel.eventLoop.execute { handler.value.commandSent() }
        try await channel.writeAndFlush(channel.allocator.buffer(bytes: bytes)).get()
    }

    /// Registers `count` waiters, then writes `bytes` (when there are any),
    /// in one turn of the event loop, so replies to a pipelined batch are
    /// never "unprompted"; then collects the frames in order, each within
    /// `timeout` of the write. Fewer than `count` frames means the next one
    /// did not come in time (the waiters left are withdrawn).
    func exchange(_ bytes: [UInt8], expecting count: Int, timeout: TimeAmount) async throws -> [Framer.Frame] {
        try Task.checkCancellation()
        let handler = self.handler
        let channel = self.channel
        guard count > 0 else { return [] }
        let ids = waiterIDs.withLockedValue { value -> [Int] in
            defer { value += count }
            return Array(value + 1...value + count)
        }
        let futures = try await channel.eventLoop.submit { () -> [EventLoopFuture<Framer.Frame?>] in
            let futures = ids.map { id -> EventLoopFuture<Framer.Frame?> in
                let promise = channel.eventLoop.makePromise(of: Framer.Frame?.self)
                let deadline = channel.eventLoop.scheduleTask(in: timeout) { handler.value.cancelWaiter(id: id) }
                promise.futureResult.whenComplete { _ in deadline.cancel() }
                handler.value.expectFrame(id: id, promise)
                return promise.futureResult
            }
            if !bytes.isEmpty {
                handler.value.commandSent()
                channel.writeAndFlush(channel.allocator.buffer(bytes: bytes), promise: nil)
            }
            return futures
        }.get()
        let withdraw = { @Sendable in channel.eventLoop.execute { for id in ids { handler.value.cancelWaiter(id: id) } }
        }
        var frames: [Framer.Frame] = []
        for future in futures {
            let frame = try await withTaskCancellationHandler {
                try await future.get()
            } onCancel: {
                withdraw()
            }
            try Task.checkCancellation()
            guard let frame else {
                withdraw()
                break
            }
            frames.append(frame)
        }
        return frames
    }

    /// The next frame, or nil when none came within `timeout` (the
    /// connection stays usable: IDLE waits this way). A cancelled task stops
    /// waiting at once (an IDLE that may last hours must end with its run).
    func nextFrame(timeout: TimeAmount) async throws -> Framer.Frame? {
        try await exchange([], expecting: 1, timeout: timeout).first
    }

    /// Changes the framer's expectations (POP3 multi-line replies) before a command is written.
    func configureFramer(_ body: @escaping @Sendable (inout Framer) -> Void) async throws {
        let handler = self.handler
        try await channel.eventLoop.submit { handler.value.configureFramer(body) }.get()
    }

    /// Arms the TLS switch for the answer to STARTTLS/STLS, which the caller
    /// sends next. The future yields the discarded plaintext octets. Throws
    /// `.startTLSInjection` when anything is already waiting (`STARTTLSGuard`).
    func armTLS(
        serverName: String, sendsCredentials: Bool, decide: @escaping @Sendable (Framer.Frame) -> TLSSwitchDecision
    )
        async throws -> EventLoopFuture<Int>
    {
        let sslContext: NIOSSLContext
        do { sslContext = try ClientTLS.makeContext(sendsCredentials: sendsCredentials) } catch {
            throw FramedChannelError(.tlsFailed, "cannot create a TLS context: \(error)")
        }
        let handler = self.handler
        let channel = self.channel
        let facts = self.facts
        return try await channel.eventLoop.submit { () -> Result<EventLoopFuture<Int>, FramedChannelError> in
            let promise = channel.eventLoop.makePromise(of: Int.self)
            if let violation = handler.value.armTLSUpgrade(
                .init(
                    context: sslContext, serverHostname: ClientTLS.sniName(serverName), facts: facts, decide: decide,
                    handshake: promise
                ))
            {
                promise.succeed(0)
                return .failure(FramedChannelError(.startTLSInjection, violation))
            }
            return .success(promise.futureResult)
        }.get().get()
    }

    /// Waits for `future` at most `timeout`.
    func wait<T: Sendable>(_ future: EventLoopFuture<T>, timeout: TimeAmount, what: String) async throws -> T {
        let promise = channel.eventLoop.makePromise(of: T.self)
        let task = channel.eventLoop.scheduleTask(in: timeout) {
            promise.fail(FramedChannelError(.timeout, "\(what) did not finish within \(seconds(timeout))"))
        }
        future.cascade(to: promise)
        promise.futureResult.whenComplete { _ in task.cancel() }
        return try await promise.futureResult.get()
    }

    /// The TLS facts and verification result for this connection.
    func tlsReport(serverName: String, policy: TLSPolicy, discarded: Int) async throws -> TLSReport {
        try await facts.report(channel: channel, serverName: serverName, policy: policy, discarded: discarded)
    }

    func close() async {
        try? await channel.close().get()
    }
}

/// "30 s" or "300 ms", for timeout messages.
func seconds(_ t: TimeAmount) -> String {
    let ms = t.nanoseconds / 1_000_000
    return ms % 1000 == 0 ? "\(ms / 1000) s" : "\(ms) ms"
}

/// A connect error in words ("connection refused", "connect timed out").
func describe(_ error: any Error) -> String {
    if let e = error as? NIOConnectionError {
        return e.connectionErrors.first.map { describe($0.error) } ?? "\(e)"
    }
    if let e = error as? IOError {
        return String(cString: strerror(e.errnoCode)).lowercased()
    }
    if error is ChannelError, case .connectTimeout = error as? ChannelError { return "connect timed out" }
    return "\(error)"
}

extension SocketAddress {
    var displayString: String {
        switch self {
        case .v6: return "[\(ipAddress ?? "?")]:\(port ?? 0)"
        default: return "\(ipAddress ?? description):\(port ?? 0)"
        }
    }
}
