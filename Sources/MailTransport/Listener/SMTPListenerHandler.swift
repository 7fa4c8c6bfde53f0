import Foundation
import Logging
import NIOCore
import NIOSSL
import NIOTLS
import SMTPCore

/// Asks a session to end: at once when it is between transactions, after
/// the message in progress otherwise.
struct ListenerShutdownEvent: Sendable {}

/// The per-connection timeouts, by what the session waits for.
public struct SMTPListenerTimeouts: Sendable, Hashable {
    /// For each complete command line (trickling does not reset it).
    public var command: TimeAmount
    /// For the whole message after `354`.
    public var data: TimeAmount
    /// For the TLS handshake after `220` to STARTTLS.
    public var tlsHandshake: TimeAmount

    public init(
        command: TimeAmount = .seconds(300), data: TimeAmount = .seconds(600), tlsHandshake: TimeAmount = .seconds(60)
    ) {
        self.command = command
        self.data = data
        self.tlsHandshake = tlsHandshake
    }
}

/// A thin channel handler over `SMTPServerSession`: it feeds bytes in,
/// executes the actions, owns the timer, switches to TLS and hands accepted
/// messages to the `MessageStore`, answering `250` only once it is durable.
final class SMTPListenerHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var session: SMTPServerSession
    private let store: MessageStore
    private let tlsContext: NIOSSLContext?
    private let timeouts: SMTPListenerTimeouts
    private var logger: Logger
    private let onStored: @Sendable (StoredMessage) -> Void
    private var timer: Scheduled<Void>?
    private var deadline: NIODeadline?
    private var timerFiresAt: NIODeadline?
    private var readingPaused = false
    /// Octets buffered while a message is being stored before reading stops.
    private static let maxBufferedWhileStoring = 65536
    private var armedPhase: SMTPServerSession.Phase?
    private var armedReplies = -1
    private var repliesWritten = 0
    private var draining = false
    private var tlsVersion: String?
    private var tlsCipher: String?
    private var clientIP = "unknown"
    private var clientPort: Int?
    private let slowReplyDelay: TimeAmount
    /// A delayed reply is scheduled: nothing else is processed until it went out.
    private var delayedReplyPending = false
    private let minFreeBytes: UInt64
    private let maxLifetime: TimeAmount
    private var lifetimeTimer: Scheduled<Void>?
    private var storageCheckedAt: NIODeadline?
    /// The client shut its sending side down (TCP FIN after `.` or QUIT):
    /// what it sent is still answered, then the connection is closed.
    private var inputClosed = false

    init(
        configuration: SMTPServerSession.Configuration, recipientGate: RecipientGate? = nil, store: MessageStore,
        minFreeBytes: UInt64 = 0, tlsContext: NIOSSLContext?, timeouts: SMTPListenerTimeouts,
        maxLifetime: TimeAmount = .minutes(10),
        slowReplyDelay: TimeAmount = .zero, logger: Logger, onStored: @escaping @Sendable (StoredMessage) -> Void
    ) {
        self.slowReplyDelay = slowReplyDelay
        self.session = SMTPServerSession(configuration: configuration, recipientGate: recipientGate)
        self.minFreeBytes = minFreeBytes
        self.maxLifetime = maxLifetime
        self.store = store
        self.tlsContext = tlsContext
        self.timeouts = timeouts
        self.logger = logger
        self.onStored = onStored
    }

    func channelActive(context: ChannelHandlerContext) {
        if let remote = context.channel.remoteAddress {
            clientIP = remote.ipAddress ?? "unknown"
            clientPort = remote.port
        }
        logger[metadataKey: "smtp.peer"] = "\(clientIP):\(clientPort ?? 0)"
        logger.debug("connection opened")
        write(context, session.greetingReply())
        context.flush()
        rearmTimer(context)
        lifetimeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: maxLifetime) { [self] in
            guard context.channel.isActive else { return }
            logger.info("session lifetime exceeded")
            if session.phase == .storing {
                // The message in hand is answered first; then the session ends.
                draining = true
                return
            }
            execute(session.lifetimeExceeded(), context: context)
            context.flush()
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        lifetimeTimer?.cancel()
        lifetimeTimer = nil
        logger.debug("connection closed", metadata: ["smtp.messages": "\(session.messagesAccepted)"])
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        session.receive(buffer.readableBytesView)
        refreshStorageAvailability()
        drive(context)
        updateReading(context)
    }

    /// Whether the store has `minFreeBytes` free, asked of the filesystem at
    /// most every 100 ms per connection (a DATA may be in any read).
    private func refreshStorageAvailability() {
        guard minFreeBytes > 0 else { return }
        let now = NIODeadline.now()
        if let checked = storageCheckedAt, now - checked < .milliseconds(100) { return }
        storageCheckedAt = now
        session.storageAvailable = (store.freeBytes() ?? .max) >= minFreeBytes
    }

    /// Backpressure: reading stops while replies wait to be written (a client
    /// that pipelines without reading fills its own socket, not our memory)
    /// and while a message is being stored with more input already buffered.
    private func updateReading(_ context: ChannelHandlerContext) {
        let pause =
            !context.channel.isWritable
            || (session.phase == .storing && session.bufferedByteCount > Self.maxBufferedWhileStoring)
            || session.bufferedByteCount > Self.maxBufferedWhileStoring * 4
        guard pause != readingPaused else { return }
        readingPaused = pause
        try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: !pause)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { drive(context) }
        updateReading(context)
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? ChannelEvent, e == .inputClosed {
            inputClosed = true
            closeWhenAnswered(context)
            return
        }
        if let tls = event as? TLSUserEvent, case .handshakeCompleted = tls {
            session.tlsHandshakeCompleted()
            if let version = try? context.pipeline.syncOperations.nioSSL_tlsVersion() {
                tlsVersion = version.displayName
            }
            logger.debug(
                "TLS established",
                metadata: ["tls.version": "\(tlsVersion ?? "?")", "tls.cipher": "\(tlsCipher ?? "?")"])
            rearmTimer(context)
            drive(context)
        } else if event is ListenerShutdownEvent {
            draining = true
            if !session.isInTransaction && session.phase != .closed {
                execute(session.shutdown(), context: context)
                context.flush()
            }
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    /// After the client's FIN: once nothing is being stored or delayed and
    /// every reply is written, close (unless the session already did).
    private func closeWhenAnswered(_ context: ChannelHandlerContext) {
        guard inputClosed, context.channel.isActive, session.phase != .storing, !delayedReplyPending,
            session.phase != .closed
        else { return }
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)), promise: written)
        written.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    // MARK: driving the session

    private func drive(_ context: ChannelHandlerContext) {
        guard !delayedReplyPending else { return }
        var wrote = false
        // Commands are answered only while the client reads the answers.
        while context.channel.isWritable, let action = session.next() {
            if session.repliesDelayed && slowReplyDelay > .zero {
                if wrote { context.flush() }
                executeLater(action, context: context)
                return
            }
            wrote = true
            if !execute(action, context: context) { break }
        }
        if wrote { context.flush() }
        rearmTimer(context)
    }

    /// The slow session: the action waits `slowReplyDelay`, and no other
    /// input is processed meanwhile (so replies keep their order).
    private func executeLater(_ action: SMTPServerSession.Action, context: ChannelHandlerContext) {
        delayedReplyPending = true
        context.eventLoop.assumeIsolated().scheduleTask(in: slowReplyDelay) { [self] in
            delayedReplyPending = false
            guard context.channel.isActive else { return }
            if execute(action, context: context) {
                drive(context)
            }
            context.flush()
            rearmTimer(context)
            closeWhenAnswered(context)
        }
    }

    /// Returns false when nothing more should be processed now.
    @discardableResult
    private func execute(_ action: SMTPServerSession.Action, context: ChannelHandlerContext) -> Bool {
        switch action {
        case .reply(let reply):
            write(context, reply)
            if draining && !session.isInTransaction {
                execute(session.shutdown(), context: context)
                return false
            }
            return true
        case .replyThenClose(let reply):
            let written = context.eventLoop.makePromise(of: Void.self)
            write(context, reply, promise: written)
            context.flush()
            written.futureResult.assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
            // A client that does not read never lets the reply out: close anyway.
            context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(10)) {
                if context.channel.isActive { context.close(promise: nil) }
            }
            return false
        case .replyThenStartTLS(let reply):
            write(context, reply)
            context.flush()
            guard let tlsContext else {
                context.close(promise: nil)
                return false
            }
            do {
                let ssl = NIOSSLServerHandler(context: tlsContext)
                try context.pipeline.syncOperations.addHandler(ssl, position: .first)
                try context.pipeline.syncOperations.addHandler(
                    ServerHelloRecorder { [weak self] suite in self?.tlsCipher = ServerHelloSniffer.name(of: suite) },
                    position: .first
                )
                logger.debug("STARTTLS", metadata: ["smtp.discarded": "\(session.discardedPlaintextOctets)"])
            } catch {
                logger.debug("cannot start TLS", metadata: ["error": "\(error)"])
                context.close(promise: nil)
            }
            return false
        case .acceptMessage(let envelope, let message):
            context.flush()
            let received = ReceivedEnvelope(
                envelope: envelope, clientAddress: clientIP, clientPort: clientPort, tlsVersion: tlsVersion,
                tlsCipher: tlsCipher,
                receivedAt: Date(), messageSize: message.count
            )
            let promise = context.eventLoop.makePromise(of: StoredMessage.self)
            store.store(message, envelope: received, promise: promise)
            promise.futureResult.assumeIsolated().whenComplete { [self] result in
                guard context.channel.isActive else { return }
                defer { updateReading(context) }
                let reply: SMTPServerSession.Action
                switch result {
                case .success(let stored):
                    logger.info(
                        "message stored",
                        metadata: [
                            "smtp.message": "\(stored.name)", "smtp.size": "\(message.count)",
                            "smtp.recipients": "\(envelope.recipients.count)",
                        ]
                    )
                    reply = session.messageStored(id: stored.name)
                    ListenerMetrics.messageStored()
                    onStored(stored)
                case .failure(let error):
                    logger.error("message not stored", metadata: ["error": "\(error)"])
                    reply = session.messageNotStored()
                }
                if session.repliesDelayed && slowReplyDelay > .zero {
                    executeLater(reply, context: context)
                    return
                }
                if execute(reply, context: context) {
                    drive(context)
                }
                context.flush()
                closeWhenAnswered(context)
            }
            return false
        }
    }

    private func write(_ context: ChannelHandlerContext, _ reply: SMTPReply, promise: EventLoopPromise<Void>? = nil) {
        repliesWritten += 1
        ListenerMetrics.replied(reply)
        logger.trace("reply", metadata: ["smtp.reply.code": "\(reply.code)"])
        let bytes = reply.wireBytes
        var buffer = context.channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        context.write(wrapOutboundOut(buffer), promise: promise)
    }

    /// The deadline restarts whenever a reply went out or the phase changed:
    /// bytes trickling in without completing a command do not extend it.
    /// One timer is kept per connection; when it fires early (the deadline
    /// moved meanwhile) it is scheduled again for the new deadline.
    private func rearmTimer(_ context: ChannelHandlerContext) {
        let phase = session.phase
        if phase == armedPhase && repliesWritten == armedReplies { return }
        armedPhase = phase
        armedReplies = repliesWritten
        switch phase {
        case .closed, .storing: deadline = nil
        case .command: deadline = .now() + timeouts.command
        case .data: deadline = .now() + timeouts.data
        case .tlsHandshake: deadline = .now() + timeouts.tlsHandshake
        }
        guard let deadline else { return }
        if let timer, let firesAt = timerFiresAt, firesAt > deadline {
            // The new deadline is earlier than the pending timer.
            timer.cancel()
            self.timer = nil
        }
        if timer == nil { scheduleTimer(context, at: deadline) }
    }

    private func scheduleTimer(_ context: ChannelHandlerContext, at when: NIODeadline) {
        timerFiresAt = when
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: when) { [self] in
            timer = nil
            guard context.channel.isActive, let deadline else { return }
            if NIODeadline.now() < deadline {
                scheduleTimer(context, at: deadline)
                return
            }
            let phase = session.phase
            logger.debug("timeout", metadata: ["smtp.phase": "\(phase)"])
            if phase == .tlsHandshake {
                context.close(promise: nil)
                return
            }
            execute(session.timedOut(), context: context)
            context.flush()
        }
    }
}

@available(*, unavailable)
extension SMTPListenerHandler: Sendable {}

/// Sits in front of NIOSSL on the server and reads the cipher suite out of
/// the ServerHello we send.
final class ServerHelloRecorder: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var seen: [UInt8] = []
    private var done = false
    private let onCipher: (UInt16) -> Void

    init(onCipher: @escaping (UInt16) -> Void) {
        self.onCipher = onCipher
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if !done {
            let buffer = unwrapOutboundIn(data)
            seen += buffer.readableBytesView.prefix(max(0, 16384 - seen.count))
            switch ServerHelloSniffer.cipherSuite(in: seen) {
            case .found(let suite):
                done = true
                seen = []
                onCipher(suite)
            case .invalid:
                done = true
                seen = []
            case .needMore:
                if seen.count >= 16384 {
                    done = true
                    seen = []
                }
            }
        }
        context.write(data, promise: promise)
    }
}

@available(*, unavailable)
extension ServerHelloRecorder: Sendable {}
