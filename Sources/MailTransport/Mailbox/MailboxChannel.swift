import MailboxCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// Cuts a mailbox protocol's byte stream into frames (IMAP responses, POP3 replies).
protocol MailboxFramer: Sendable {
    associatedtype Frame: Sendable
    mutating func append(_ bytes: ByteBufferView)
    mutating func nextFrame() throws -> Frame?
    /// Drops and returns the octets not yet framed (the STARTTLS switch).
    mutating func drainUnprocessed() -> [UInt8]
    /// About how many octets `frame` holds, for the per-command budget.
    static func size(of frame: Frame) -> Int
}

extension IMAPFramingParser: MailboxFramer {
    mutating func nextFrame() throws -> [UInt8]? { try next() }
    static func size(of frame: [UInt8]) -> Int { frame.count }
}

extension POP3ReplyParser: MailboxFramer {
    mutating func nextFrame() throws -> POP3Reply? { try next() }
    static func size(of frame: POP3Reply) -> Int { frame.text.utf8.count + (frame.body?.count ?? 0) + 8 }
}

/// What one command may bring back in all: its own responses, untagged data
/// and unclaimed frames. One message (a literal, a RETR body) is capped by the
/// framer; this caps the stream of them a hostile server could send instead.
enum MailboxBudget {
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

/// Frames the server's bytes and hands each frame to the oldest waiter.
/// Like `SMTPClientHandler`, it performs the STARTTLS switch in the same
/// `channelRead` that sees the go-ahead: plaintext buffered behind it is
/// discarded (CVE-2011-0411 class), never parsed as if it came over TLS.
final class MailboxClientHandler<Framer: MailboxFramer>: ChannelInboundHandler {
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
    private var failure: (any Error)?
    private var pendingUpgrade: TLSUpgrade?
    private var handshakePromise: EventLoopPromise<Int>?
    private var discardedOctets = 0
    private let errorStep: MailboxStep
    private var octetsSinceCommand = 0
    private var framesSinceCommand = 0

    init(framer: Framer, errorStep: MailboxStep) {
        self.framer = framer
        self.errorStep = errorStep
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
    /// refused when responses or octets are already waiting (`STARTTLSGuard`).
    func armTLSUpgrade(_ upgrade: TLSUpgrade) -> String? {
        if let violation = STARTTLSGuard.violation(queuedResponses: unclaimed.count, bufferedOctets: framer.drainUnprocessed().count) {
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
            while let frame = try framer.nextFrame() {
                octetsSinceCommand += Framer.size(of: frame)
                framesSinceCommand += 1
                if octetsSinceCommand > MailboxBudget.octetsPerCommand || framesSinceCommand > MailboxBudget.framesPerCommand {
                    throw MailboxError(.protocolViolation, step: errorStep, message: "the server sent more than "
                        + "\(MailboxBudget.framesPerCommand) responses or \(MailboxBudget.octetsPerCommand) octets for one command")
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
                        upgrade.handshake.fail(MailboxError(.tlsFailed, step: .tls, message: "the server refused STARTTLS"))
                    case .notYet:
                        break
                    }
                }
                deliver(frame)
            }
        } catch let error as MailboxError {
            fail(context: context, error)
        } catch {
            fail(context: context, MailboxError(.protocolViolation, step: errorStep, message: "the server's response is not valid: \(error)"))
        }
    }

    private func startTLS(context: ChannelHandlerContext, upgrade: TLSUpgrade) {
        discardedOctets = framer.drainUnprocessed().count
        do {
            let ssl = try NIOSSLClientHandler(
                context: upgrade.context,
                serverHostname: upgrade.serverHostname,
                customVerificationCallback: upgrade.facts.verificationCallback
            )
            try context.pipeline.syncOperations.addHandler(ssl, position: .first)
            try context.pipeline.syncOperations.addHandler(ServerHelloSniffer(onCipher: upgrade.facts.onCipher), position: .first)
            handshakePromise = upgrade.handshake
        } catch {
            upgrade.handshake.fail(MailboxError(.tlsFailed, step: .tls, message: "cannot start TLS: \(error)"))
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
        let wrapped: any Error
        if let sslError = error as? NIOSSLError {
            wrapped = MailboxError(.tlsFailed, step: .tls, message: "TLS failed: \(sslError)")
        } else if error is MailboxError {
            wrapped = error
        } else {
            wrapped = MailboxError(.connectionClosed, step: errorStep, message: "connection error: \(error)")
        }
        fail(context: context, wrapped)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(MailboxError(.connectionClosed, step: errorStep, message: "the server closed the connection"))
        context.fireChannelInactive()
    }

    private func fail(context: ChannelHandlerContext, _ error: any Error) {
        failAll(error)
        context.close(promise: nil)
    }

    private func failAll(_ error: any Error) {
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
extension MailboxClientHandler: Sendable {}

/// One TCP (or TLS) connection to a mailbox server: write octets, await
/// frames with a timeout, switch to TLS. What may be sent when is the
/// business of the protocol's state machine.
final class MailboxChannel<Framer: MailboxFramer>: Sendable {
    typealias Handler = MailboxClientHandler<Framer>
    let channel: any Channel
    private let handler: NIOLoopBound<Handler>
    private let facts: TLSFacts
    private let waiterIDs = NIOLockedValueBox(0)
    let remoteAddress: String

    private init(channel: any Channel, handler: NIOLoopBound<Handler>, facts: TLSFacts, remoteAddress: String) {
        self.channel = channel
        self.handler = handler
        self.facts = facts
        self.remoteAddress = remoteAddress
    }

    static func connect(
        host: String, port: Int, implicitTLS: Bool, framer: Framer, errorStep: MailboxStep,
        connectTimeout: TimeAmount, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> MailboxChannel {
        let facts = TLSFacts()
        let handlerBox = NIOLockedValueBox<NIOLoopBound<Handler>?>(nil)
        let sslContext: NIOSSLContext?
        do {
            sslContext = implicitTLS ? try ClientTLS.makeContext(sendsCredentials: true) : nil
        } catch {
            throw MailboxError(.tlsFailed, step: .tls, message: "cannot create a TLS context: \(error)")
        }
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(connectTimeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let ops = channel.pipeline.syncOperations
                    if let sslContext {
                        let ssl = try NIOSSLClientHandler(
                            context: sslContext,
                            serverHostname: ClientTLS.sniName(host),
                            customVerificationCallback: facts.verificationCallback
                        )
                        try ops.addHandler(ServerHelloSniffer(onCipher: facts.onCipher))
                        try ops.addHandler(ssl)
                    }
                    let handler = Handler(framer: framer, errorStep: errorStep)
                    try ops.addHandler(handler)
                    handlerBox.withLockedValue { $0 = NIOLoopBound(handler, eventLoop: channel.eventLoop) }
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: host, port: port).get()
        } catch {
            throw MailboxError(.connectFailed, step: .connect, message: "cannot connect to \(host):\(port): \(SMTPClientConnection.describe(error))")
        }
        guard let handler = handlerBox.withLockedValue({ $0 }) else {
            throw MailboxError(.connectFailed, step: .connect, message: "the connection was not set up")
        }
        let remote = channel.remoteAddress?.displayString ?? "\(host):\(port)"
        return MailboxChannel(channel: channel, handler: handler, facts: facts, remoteAddress: remote)
    }

    func write(_ bytes: [UInt8]) async throws {
        guard !bytes.isEmpty else { return }
        let channel = self.channel
        let handler = self.handler
        channel.eventLoop.execute { handler.value.commandSent() }
        try await channel.writeAndFlush(channel.allocator.buffer(bytes: bytes)).get()
    }

    /// The next frame, or nil when none came within `timeout` (the
    /// connection stays usable: IDLE waits this way).
    /// A connection error names `step` (what we were doing), unless it is a TLS failure.
    func nextFrame(timeout: TimeAmount, step: MailboxStep) async throws -> Framer.Frame? {
        do {
            return try await nextFrame(timeout: timeout)
        } catch var e as MailboxError {
            if e.kind != .tlsFailed { e.step = step }
            throw e
        }
    }

    /// Waits for the next frame; nil after `timeout`. A cancelled task stops
    /// waiting at once (an IDLE that may last hours must end with its run).
    func nextFrame(timeout: TimeAmount) async throws -> Framer.Frame? {
        try Task.checkCancellation()
        let handler = self.handler
        let channel = self.channel
        let id = waiterIDs.withLockedValue { $0 += 1; return $0 }
        let future = try await channel.eventLoop.submit { () -> EventLoopFuture<Framer.Frame?> in
            let promise = channel.eventLoop.makePromise(of: Framer.Frame?.self)
            let deadline = channel.eventLoop.scheduleTask(in: timeout) { handler.value.cancelWaiter(id: id) }
            promise.futureResult.whenComplete { _ in deadline.cancel() }
            handler.value.expectFrame(id: id, promise)
            return promise.futureResult
        }.get()
        let frame = try await withTaskCancellationHandler {
            try await future.get()
        } onCancel: {
            channel.eventLoop.execute { handler.value.cancelWaiter(id: id) }
        }
        try Task.checkCancellation()
        return frame
    }

    /// Changes the framer's expectations (POP3 multi-line replies) before a command is written.
    func configureFramer(_ body: @escaping @Sendable (inout Framer) -> Void) async throws {
        let handler = self.handler
        try await channel.eventLoop.submit { handler.value.configureFramer(body) }.get()
    }

    /// Arms the TLS switch for the answer to STARTTLS/STLS, which the caller
    /// sends next. The future yields the discarded plaintext octets.
    func armTLS(serverName: String, decide: @escaping @Sendable (Framer.Frame) -> TLSSwitchDecision) async throws -> EventLoopFuture<Int> {
        let sslContext: NIOSSLContext
        do { sslContext = try ClientTLS.makeContext(sendsCredentials: true) } catch {
            throw MailboxError(.tlsFailed, step: .tls, message: "cannot create a TLS context: \(error)")
        }
        let handler = self.handler
        let channel = self.channel
        let facts = self.facts
        return try await channel.eventLoop.submit { () -> Result<EventLoopFuture<Int>, MailboxError> in
            let promise = channel.eventLoop.makePromise(of: Int.self)
            if let violation = handler.value.armTLSUpgrade(.init(
                context: sslContext, serverHostname: ClientTLS.sniName(serverName), facts: facts, decide: decide, handshake: promise
            )) {
                promise.succeed(0)
                return .failure(MailboxError(.protocolViolation, step: .tls, message: violation))
            }
            return .success(promise.futureResult)
        }.get().get()
    }

    /// Waits for `future` at most `timeout`.
    func wait<T: Sendable>(_ future: EventLoopFuture<T>, timeout: TimeAmount, step: MailboxStep, what: String) async throws -> T {
        let promise = channel.eventLoop.makePromise(of: T.self)
        let task = channel.eventLoop.scheduleTask(in: timeout) {
            promise.fail(MailboxError(.timeout, step: step, message: "\(what) did not finish within \(SMTPClientConnection.seconds(timeout))"))
        }
        future.cascade(to: promise)
        promise.futureResult.whenComplete { _ in task.cancel() }
        return try await promise.futureResult.get()
    }

    func tlsReport(serverName: String, policy: TLSPolicy, discarded: Int) async throws -> TLSReport {
        try await facts.report(channel: channel, serverName: serverName, policy: policy, discarded: discarded)
    }

    func close() async {
        try? await channel.close().get()
    }
}
