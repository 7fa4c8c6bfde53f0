import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import SMTPCore
import TestSupport
import Testing

@testable import MailTransport

/// A raw TCP client for driving the listener byte by byte.
final class RawSMTPClient: Sendable {
    struct State {
        var bytes: [UInt8] = []
        var closed = false
    }

    final class Collector: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let state: NIOLockedValueBox<State>
        init(state: NIOLockedValueBox<State>) { self.state = state }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let b = unwrapInboundIn(data)
            state.withLockedValue { $0.bytes += b.readableBytesView }
        }
        func channelInactive(context: ChannelHandlerContext) {
            state.withLockedValue { $0.closed = true }
        }
        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }

    let channel: any Channel
    let state: NIOLockedValueBox<State>

    private init(channel: any Channel, state: NIOLockedValueBox<State>) {
        self.channel = channel
        self.state = state
    }

    static func connect(port: Int) async throws -> RawSMTPClient {
        let state = NIOLockedValueBox(State())
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { ch in
                ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(Collector(state: state)) }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return RawSMTPClient(channel: channel, state: state)
    }

    func send(_ text: String) async throws {
        try await channel.writeAndFlush(channel.allocator.buffer(string: text)).get()
    }

    /// The next complete reply, or nil if the connection closed / timed out.
    func reply(timeout: Duration = .seconds(5)) async throws -> SMTPReply? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let parsed: SMTPReply?? = try state.withLockedValue { s in
                var parser = SMTPReplyParser()
                parser.append(s.bytes)
                if let r = try parser.next() {
                    s.bytes = parser.drainUnprocessed()
                    return .some(r)
                }
                return s.closed ? .some(nil) : nil
            }
            if let parsed { return parsed }
            try await Task.sleep(for: .milliseconds(5))
        }
        return nil
    }

    func replies(_ n: Int) async throws -> [Int] {
        var out: [Int] = []
        for _ in 0..<n {
            guard let r = try await reply() else { break }
            out.append(r.code)
        }
        return out
    }

    /// Waits for the server to close the connection.
    func waitForClose(timeout: Duration = .seconds(5)) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if state.withLockedValue({ $0.closed }) { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    var unreadBytes: Int { state.withLockedValue { $0.bytes.count } }

    /// Puts a TLS client handler at the front (trusting anything).
    func startTLS() async throws {
        state.withLockedValue { $0.bytes = [] }
        try await channel.eventLoop.submit { [channel] in
            var config = TLSConfiguration.makeClientConfiguration()
            config.certificateVerification = .none
            let context = try NIOSSLContext(configuration: config)
            try channel.pipeline.syncOperations.addHandler(
                try NIOSSLClientHandler(context: context, serverHostname: nil), position: .first)
        }.get()
    }

    func close() async {
        try? await channel.close().get()
    }
}

/// Runs a listener on 127.0.0.1:0 with a fresh store for the test body.
struct ListenerHarness {
    let listener: SMTPListener
    let port: Int
    let store: String
    let stored: NIOLockedValueBox<[StoredMessage]>

    var newFiles: [String] { (try? FileManager.default.contentsOfDirectory(atPath: store + "/new")) ?? [] }
    /// The envelope the listener wrote into a stored message.
    func envelope(of name: String) -> ReceivedEnvelope? {
        FileManager.default.contents(atPath: store + "/new/" + name).flatMap {
            ReceivedEnvelope(storedMessage: Array($0))
        }
    }

    func client() async throws -> RawSMTPClient {
        let c = try await RawSMTPClient.connect(port: port)
        let greeting = try await c.reply()
        #expect(greeting?.code == 220)
        return c
    }

    static func makeStoreDirectory() -> String {
        NSTemporaryDirectory() + "roundtrip-listener-test-\(UUID().uuidString)"
    }

    static func with(
        _ configure: (inout SMTPListenerConfiguration) -> Void = { _ in },
        _ body: (ListenerHarness) async throws -> Void
    ) async throws {
        let dir = makeStoreDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = SMTPListenerConfiguration(
            host: "127.0.0.1", port: 0, hostname: "mx.test", domains: ["return.example"], storeDirectory: dir)
        config.shutdownGracePeriod = .seconds(5)
        configure(&config)
        let (ports, portsContinuation) = AsyncStream.makeStream(of: Int.self)
        let stored = NIOLockedValueBox<[StoredMessage]>([])
        var logger = Logger(label: "test.listener")
        logger.logLevel = .critical
        let listener = try SMTPListener(
            configuration: config, logger: logger,
            onServerRunning: { portsContinuation.yield($0.port ?? 0) },
            onMessage: { m in stored.withLockedValue { $0.append(m) } }
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await listener.run() }
            var it = ports.makeAsyncIterator()
            guard let port = await it.next() else { throw MessageStoreError("no port") }
            do {
                try await body(ListenerHarness(listener: listener, port: port, store: dir, stored: stored))
            } catch {
                listener.triggerShutdown()
                throw error
            }
            listener.triggerShutdown()
            try await group.waitForAll()
        }
    }
}
