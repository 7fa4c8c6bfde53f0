import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import TestSupport

/// A tiny IMAP/POP3 server on 127.0.0.1:0 that answers each received line
/// with what the test's script says, as exact bytes: several writes with
/// gaps (literals split across reads, EXISTS arriving later), plaintext
/// pipelined behind the STARTTLS OK, BYE and close, or silence.
final class ScriptedMailboxServer: Sendable {
    enum Step: Sendable {
        /// Write these bytes.
        case send(String)
        /// Write each part separately, `gapMs` apart.
        case sendParts([String], gapMs: Int64)
        /// Write these bytes, then switch to TLS (anything written in the
        /// same call after the go-ahead is plaintext the client must drop).
        case sendThenStartTLS(String)
        case sendThenClose(String)
        case silence
    }

    typealias Script = @Sendable (_ line: String, _ tls: Bool) -> Step

    let channel: any Channel
    private let received: NIOLockedValueBox<[String]>

    var port: Int { channel.localAddress?.port ?? 0 }
    /// The lines received so far (with the TLS state they came in).
    var lines: [String] { received.withLockedValue { $0 } }

    static func start(
        greeting: String, tls: TestCertificate? = nil, implicitTLS: Bool = false, script: @escaping Script
    ) async throws -> ScriptedMailboxServer {
        let received = NIOLockedValueBox<[String]>([])
        let sslContext = try tls.map { cert -> NIOSSLContext in
            let config = TLSConfiguration.makeServerConfiguration(
                certificateChain: [
                    .certificate(try NIOSSLCertificate(bytes: Array(cert.certificatePEM.utf8), format: .pem))
                ],
                privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(cert.privateKeyPEM.utf8), format: .pem))
            )
            return try NIOSSLContext(configuration: config)
        }
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    if implicitTLS, let sslContext {
                        try child.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext))
                    }
                    try child.pipeline.syncOperations.addHandler(
                        Handler(
                            greeting: greeting, script: script, sslContext: sslContext, tls: implicitTLS,
                            received: received)
                    )
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return ScriptedMailboxServer(channel: channel, received: received)
    }

    private init(channel: any Channel, received: NIOLockedValueBox<[String]>) {
        self.channel = channel
        self.received = received
    }

    func stop() async {
        try? await channel.close().get()
    }

    final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let greeting: String
        let script: Script
        let sslContext: NIOSSLContext?
        let received: NIOLockedValueBox<[String]>
        var buffer: [UInt8] = []
        var tls: Bool

        init(
            greeting: String, script: @escaping Script, sslContext: NIOSSLContext?, tls: Bool,
            received: NIOLockedValueBox<[String]>
        ) {
            self.greeting = greeting
            self.script = script
            self.sslContext = sslContext
            self.tls = tls
            self.received = received
        }

        func channelActive(context: ChannelHandlerContext) {
            if !greeting.isEmpty { write(context, greeting) }
            context.fireChannelActive()
        }

        func write(_ context: ChannelHandlerContext, _ s: String) {
            context.writeAndFlush(NIOAny(context.channel.allocator.buffer(string: s)), promise: nil)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var b = unwrapInboundIn(data)
            buffer += b.readBytes(length: b.readableBytes) ?? []
            while let idx = findCRLF() {
                let line = String(decoding: buffer[..<idx], as: UTF8.self)
                buffer.removeSubrange(..<(idx + 2))
                received.withLockedValue { $0.append((tls ? "[tls] " : "") + line) }
                switch script(line, tls) {
                case .send(let s):
                    if !s.isEmpty { write(context, s) }
                case .sendParts(let parts, let gap):
                    let loop = context.eventLoop
                    let channel = context.channel
                    for (i, part) in parts.enumerated() {
                        loop.scheduleTask(in: .milliseconds(gap * Int64(i))) {
                            channel.writeAndFlush(channel.allocator.buffer(string: part), promise: nil)
                        }
                    }
                case .sendThenClose(let s):
                    write(context, s)
                    context.close(promise: nil)
                    return
                case .silence:
                    break
                case .sendThenStartTLS(let s):
                    write(context, s)
                    buffer = []
                    if let sslContext {
                        try? context.pipeline.syncOperations.addHandler(
                            NIOSSLServerHandler(context: sslContext), position: .first)
                        tls = true
                    }
                    return
                }
            }
        }

        func findCRLF() -> Int? {
            guard buffer.count >= 2 else { return nil }
            for i in 0..<(buffer.count - 1) where buffer[i] == 0x0D && buffer[i + 1] == 0x0A { return i }
            return nil
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }
}

@available(*, unavailable)
extension ScriptedMailboxServer.Handler: Sendable {}

/// The tag and the command words of an IMAP line: "a3 UID FETCH 4 (...)" → ("a3", "UID FETCH 4 (...)").
func split(_ line: String) -> (tag: String, rest: String) {
    guard let sp = line.firstIndex(of: " ") else { return (line, "") }
    return (String(line[..<sp]), String(line[line.index(after: sp)...]))
}
