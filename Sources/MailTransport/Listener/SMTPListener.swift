import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import SMTPCore
import ServiceLifecycle

/// Listener failures the CLI maps to exit codes.
public struct SMTPListenerError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        /// Bad certificate or key, unwritable store, bad option: exit 78.
        case configuration
        /// The address cannot be bound (in use, permission): exit 69.
        case bind
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

/// Everything `SMTPListener` needs; immutable once the listener is made.
public struct SMTPListenerConfiguration: Sendable {
    /// Address to bind, e.g. "127.0.0.1" or "0.0.0.0" or "::".
    public var host: String
    /// Port to bind; 0 picks a free one (see `onServerRunning`).
    public var port: Int
    /// Our name in the greeting, the EHLO reply and `Received:`.
    public var hostname: String
    /// Domains we accept mail for; everything else is relay-denied.
    public var domains: [String]
    /// The Maildir-style store (`tmp`, `new`, `cur`).
    public var storeDirectory: String
    /// How the store makes files durable (`MessageStore.SyncMode`).
    public var syncMode: MessageStore.SyncMode
    public var tls: ListenerTLSSource
    public var maxMessageSize: Int
    public var maxRecipients: Int
    public var maxConnections: Int
    public var maxConnectionsPerClient: Int
    public var timeouts: SMTPListenerTimeouts
    /// How long sessions may take to finish after shutdown starts.
    public var shutdownGracePeriod: TimeAmount
    /// Advertise `DSN` in EHLO (off for `roundtrip listen`).
    public var advertiseDSN: Bool = false
    /// Per-recipient answers by local part (default: accept all).
    public var recipientPolicy = SMTPServerSession.RecipientPolicy()
    /// Refuses recipients that cannot be reports for us (`roundtrip listen`:
    /// probe tokens, postmaster, `--accept`); nil accepts every address in `domains`.
    public var recipientGate: RecipientGate?
    /// DATA is answered `452 4.3.1` while the store's filesystem has less free.
    public var minFreeBytes: UInt64 = 100 * 1024 * 1024
    /// The longest a session may last, whatever it does.
    public var maxSessionLifetime: TimeAmount = .minutes(10)
    /// Commands that move no mail allowed between messages (see
    /// `SMTPServerSession.Configuration.maxJunkCommands`).
    public var maxJunkCommands = 100
    /// How long each reply waits once a session turned slow
    /// (`RecipientPolicy.Rule.acceptWithSlowReplies`).
    public var slowReplyDelay: TimeAmount = .zero

    public init(
        host: String = "127.0.0.1", port: Int = 25, hostname: String, domains: [String], storeDirectory: String,
        syncMode: MessageStore.SyncMode = .file, tls: ListenerTLSSource = .selfSigned,
        maxMessageSize: Int = 10 * 1024 * 1024, maxRecipients: Int = 100,
        maxConnections: Int = 100, maxConnectionsPerClient: Int = 10,
        timeouts: SMTPListenerTimeouts = SMTPListenerTimeouts(),
        shutdownGracePeriod: TimeAmount = .seconds(30)
    ) {
        self.host = host
        self.port = port
        self.hostname = hostname
        self.domains = domains
        self.storeDirectory = storeDirectory
        self.syncMode = syncMode
        self.tls = tls
        self.maxMessageSize = maxMessageSize
        self.maxRecipients = maxRecipients
        self.maxConnections = maxConnections
        self.maxConnectionsPerClient = maxConnectionsPerClient
        self.timeouts = timeouts
        self.shutdownGracePeriod = shutdownGracePeriod
    }
}

/// The report listener: an SMTP server that accepts mail only for the
/// configured domains, stores each message durably before `250`, and hands
/// it to `onMessage`.
///
/// It is a swift-service-lifecycle `Service`: `run()` binds, serves until
/// graceful shutdown (or cancellation), then stops accepting, lets the
/// open sessions finish within `shutdownGracePeriod` — idle sessions get
/// `421 4.3.2` at once, a message in progress is finished and answered
/// first — and closes whatever is left.
public final class SMTPListener: Service, Sendable {
    public let configuration: SMTPListenerConfiguration
    public let store: MessageStore
    private let tlsContext: NIOSSLContext?
    private let sessionConfiguration: SMTPServerSession.Configuration
    private let logger: Logger
    private let group: any EventLoopGroup
    private let onServerRunning: @Sendable (SocketAddress) -> Void
    private let onMessage: @Sendable (StoredMessage) async -> Void
    private let registry = ConnectionRegistry()
    private let serverChannel = NIOLockedValueBox<(any Channel)?>(nil)
    private let shutdownRequested = NIOLockedValueBox(false)
    private let connectionIDs = NIOLockedValueBox<UInt64>(0)
    private let messages: AsyncStream<StoredMessage>
    private let messagesContinuation: AsyncStream<StoredMessage>.Continuation

    /// Checks the configuration: the store must be writable and the
    /// certificate usable (`SMTPListenerError`, kind `.configuration`).
    public init(
        configuration: SMTPListenerConfiguration,
        logger: Logger = Logger(label: "roundtrip.listener"),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        onServerRunning: @escaping @Sendable (SocketAddress) -> Void = { _ in },
        onMessage: @escaping @Sendable (StoredMessage) async -> Void = { _ in }
    ) throws {
        guard !configuration.domains.isEmpty else {
            throw SMTPListenerError(.configuration, "at least one --domain is needed")
        }
        for d in configuration.domains where (try? SMTPMailbox("postmaster@\(d)")) == nil || d.hasPrefix("[") {
            throw SMTPListenerError(.configuration, "\(d.debugDescription) is not a domain name")
        }
        guard configuration.maxMessageSize > 0, configuration.maxRecipients > 0, configuration.maxConnections > 0,
            configuration.maxConnectionsPerClient > 0
        else { throw SMTPListenerError(.configuration, "limits must be positive") }
        self.configuration = configuration
        do {
            self.store = try MessageStore(
                directory: configuration.storeDirectory, hostname: configuration.hostname,
                syncMode: configuration.syncMode)
        } catch let e as MessageStoreError {
            throw SMTPListenerError(.configuration, e.message)
        }
        self.tlsContext = try ListenerTLS.makeContext(configuration.tls, hostname: configuration.hostname)
        var sessionConfiguration = SMTPServerSession.Configuration(
            hostname: configuration.hostname, domains: configuration.domains,
            maxMessageSize: configuration.maxMessageSize,
            maxRecipients: configuration.maxRecipients, startTLSAvailable: tlsContext != nil
        )
        sessionConfiguration.advertiseDSN = configuration.advertiseDSN
        sessionConfiguration.recipientPolicy = configuration.recipientPolicy
        sessionConfiguration.maxJunkCommands = configuration.maxJunkCommands
        self.sessionConfiguration = sessionConfiguration
        self.logger = logger
        self.group = group
        self.onServerRunning = onServerRunning
        self.onMessage = onMessage
        (self.messages, self.messagesContinuation) = AsyncStream.makeStream(of: StoredMessage.self)
    }

    /// The bound address once `run()` is listening.
    public var localAddress: SocketAddress? { serverChannel.withLockedValue { $0?.localAddress } }

    /// Open client connections.
    public var connectionCount: Int { registry.count }

    /// Starts the graceful shutdown (the same as the service group's).
    public func triggerShutdown() {
        let channel = shutdownRequested.withLockedValue { requested -> (any Channel)? in
            requested = true
            return serverChannel.withLockedValue { $0 }
        }
        channel?.close(promise: nil)
    }

    public func run() async throws {
        store.start()
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: group)
                .serverChannelOption(ChannelOptions.backlog, value: 256)
                .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
                // Exim sends `.` and QUIT, then shuts its side down at once: the
                // session must still answer what it read (see SMTPListenerHandler).
                .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
                .childChannelInitializer { [self] child in
                    child.eventLoop.makeCompletedFuture { try self.initialize(child) }
                }
                .bind(host: configuration.host, port: configuration.port).get()
        } catch {
            store.stop()
            messagesContinuation.finish()
            throw SMTPListenerError(.bind, "cannot listen on \(configuration.host):\(configuration.port): \(error)")
        }
        serverChannel.withLockedValue { $0 = channel }
        if shutdownRequested.withLockedValue({ $0 }) { channel.close(promise: nil) }
        if let address = channel.localAddress {
            logger.info(
                "listening",
                metadata: [
                    "smtp.listen": "\(address)", "smtp.domains": "\(configuration.domains.joined(separator: ","))",
                ])
            onServerRunning(address)
        }
        let messages = self.messages
        let onMessage = self.onMessage
        await withDiscardingTaskGroup { tasks in
            tasks.addTask {
                for await message in messages { await onMessage(message) }
            }
            await withGracefulShutdownHandler {
                await withTaskCancellationHandler {
                    try? await channel.closeFuture.get()
                } onCancel: {
                    channel.close(promise: nil)
                }
            } onGracefulShutdown: {
                self.triggerShutdown()
            }
            logger.info("shutting down: no new connections", metadata: ["smtp.open": "\(registry.count)"])
            await drainSessions()
            store.stop()
            messagesContinuation.finish()
        }
        logger.info("stopped")
    }

    private func initialize(_ child: any Channel) throws {
        let ip = ConnectionRegistry.clientKey(child.remoteAddress)
        let ops = child.pipeline.syncOperations
        let shuttingDown = shutdownRequested.withLockedValue { $0 }
        switch registry.admit(
            child, ip: ip, maxTotal: configuration.maxConnections, maxPerClient: configuration.maxConnectionsPerClient)
        {
        case .admitted where !shuttingDown:
            ListenerMetrics.sessionAdmitted()
            let registry = self.registry
            child.closeFuture.whenComplete { _ in registry.remove(child, ip: ip) }
        case .admitted:
            registry.remove(child, ip: ip)
            try ops.addHandler(RejectHandler(text: "4.3.2 \(configuration.hostname) Service shutting down"))
            return
        case .tooManyTotal:
            logger.info("connection refused: too many connections", metadata: ["smtp.peer": "\(ip)"])
            try ops.addHandler(RejectHandler(text: "4.7.0 \(configuration.hostname) Error: too many connections"))
            return
        case .tooManyFromClient:
            logger.info("connection refused: too many connections from this client", metadata: ["smtp.peer": "\(ip)"])
            try ops.addHandler(
                RejectHandler(text: "4.7.0 \(configuration.hostname) Error: too many connections from \(ip)"))
            return
        }
        var connectionLogger = logger
        let id = connectionIDs.withLockedValue { value -> UInt64 in
            value += 1
            return value
        }
        connectionLogger[metadataKey: "smtp.conn"] = "\(id)"
        let continuation = messagesContinuation
        try ops.addHandler(
            SMTPListenerHandler(
                configuration: sessionConfiguration, recipientGate: configuration.recipientGate, store: store,
                minFreeBytes: configuration.minFreeBytes, tlsContext: tlsContext, timeouts: configuration.timeouts,
                maxLifetime: configuration.maxSessionLifetime, slowReplyDelay: configuration.slowReplyDelay,
                logger: connectionLogger, onStored: { continuation.yield($0) }
            )
        )
    }

    private func drainSessions() async {
        for channel in registry.channels {
            channel.pipeline.fireUserInboundEventTriggered(ListenerShutdownEvent())
        }
        let grace = configuration.shutdownGracePeriod
        let deadline = ContinuousClock.now + .nanoseconds(grace.nanoseconds)
        while registry.count > 0 && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
            if Task.isCancelled { break }
        }
        let left = registry.channels
        if !left.isEmpty {
            logger.info("grace period over: closing sessions", metadata: ["smtp.open": "\(left.count)"])
            for channel in left { channel.close(promise: nil) }
            for channel in left { try? await channel.closeFuture.get() }
        }
    }
}

/// Tracks open connections, in total and per client IP.
final class ConnectionRegistry: Sendable {
    enum Admission { case admitted, tooManyTotal, tooManyFromClient }

    private struct State {
        var perClient: [String: Int] = [:]
        var channels: [ObjectIdentifier: any Channel] = [:]
    }

    private let state = NIOLockedValueBox(State())

    /// The key a client is counted under: its IPv4 address, or the /64 of its
    /// IPv6 address (one host usually holds a whole /64, so counting single
    /// IPv6 addresses would not limit it at all).
    static func clientKey(_ address: SocketAddress?) -> String {
        guard let address else { return "unknown" }
        if case .v6(let v6) = address {
            let bytes = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
            // IPv4-mapped (::ffff:a.b.c.d) counts as the IPv4 address.
            if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
                return bytes[12...].map(String.init).joined(separator: ".")
            }
            let groups = stride(from: 0, to: 8, by: 2).map {
                String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16)
            }
            return groups.joined(separator: ":") + "::/64"
        }
        return address.ipAddress ?? "unknown"
    }

    func admit(_ channel: any Channel, ip: String, maxTotal: Int, maxPerClient: Int) -> Admission {
        state.withLockedValue { s in
            if s.channels.count >= maxTotal { return .tooManyTotal }
            if s.perClient[ip, default: 0] >= maxPerClient { return .tooManyFromClient }
            s.perClient[ip, default: 0] += 1
            s.channels[ObjectIdentifier(channel)] = channel
            return .admitted
        }
    }

    func remove(_ channel: any Channel, ip: String) {
        state.withLockedValue { s in
            guard s.channels.removeValue(forKey: ObjectIdentifier(channel)) != nil else { return }
            let n = s.perClient[ip, default: 1] - 1
            s.perClient[ip] = n > 0 ? n : nil
        }
    }

    var count: Int { state.withLockedValue { $0.channels.count } }
    var channels: [any Channel] { state.withLockedValue { Array($0.channels.values) } }
}

/// Answers `421` and closes: for connections over a limit.
final class RejectHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let text: String

    init(text: String) { self.text = text }

    func channelActive(context: ChannelHandlerContext) {
        let reply = SMTPReply(code: 421, lines: [text])
        ListenerMetrics.replied(reply)
        let bytes = reply.wireBytes
        var buffer = context.channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        context.writeAndFlush(wrapOutboundOut(buffer)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

@available(*, unavailable)
extension RejectHandler: Sendable {}
