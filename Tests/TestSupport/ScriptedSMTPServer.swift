import Crypto
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import X509

/// A tiny SMTP server on 127.0.0.1:0 that answers each command line with
/// what the test's script says: exact bytes, so tests can split replies,
/// pipeline junk after `220` to STARTTLS, hang, or close mid-reply.
public final class ScriptedSMTPServer: Sendable {
    public enum Step: Sendable {
        /// Write these bytes.
        case send(String)
        /// Write these bytes, then switch to TLS.
        case sendThenStartTLS(String)
        /// Write these bytes, then close.
        case sendThenClose(String)
        /// Do nothing (the client will time out).
        case silence
    }

    public typealias Script = @Sendable (_ command: String, _ tls: Bool) -> Step
    /// Called with each message's DATA lines (dot-unstuffed, without the final ".").
    public typealias MessageHandler = @Sendable (_ lines: [String]) -> Void

    public let channel: any Channel
    private let received: NIOLockedValueBox<[String]>

    public var port: Int { channel.localAddress?.port ?? 0 }

    public static func startImplicitTLS(cert: TestCertificate, script: @escaping Script) async throws
        -> ScriptedSMTPServer
    {
        try await start(tls: cert, implicitTLS: true, script: script)
    }

    /// `maximumTLSVersion` plays an old server (e.g. `.tlsv11`).
    public static func start(
        greeting: String = "220 test.example ESMTP ready\r\n", tls: TestCertificate? = nil, implicitTLS: Bool = false,
        maximumTLSVersion: TLSVersion? = nil, host: String = "127.0.0.1", port: Int = 0,
        onMessage: MessageHandler? = nil, script: @escaping Script
    ) async throws -> ScriptedSMTPServer {
        let received = NIOLockedValueBox<[String]>([])
        let sslContext = try tls.map { cert -> NIOSSLContext in
            var config = TLSConfiguration.makeServerConfiguration(
                certificateChain: [
                    .certificate(try NIOSSLCertificate(bytes: Array(cert.certificatePEM.utf8), format: .pem))
                ],
                privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(cert.privateKeyPEM.utf8), format: .pem))
            )
            if let maximumTLSVersion {
                config.maximumTLSVersion = maximumTLSVersion
                config.minimumTLSVersion = .tlsv1
            }
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
                            greeting: greeting, script: script, sslContext: sslContext, received: received,
                            onMessage: onMessage)
                    )
                }
            }
            .bind(host: host, port: port).get()
        return ScriptedSMTPServer(channel: channel, received: received)
    }

    private init(channel: any Channel, received: NIOLockedValueBox<[String]>) {
        self.channel = channel
        self.received = received
    }

    /// The command lines received so far.
    public var commands: [String] { received.withLockedValue { $0 } }

    public func stop() async {
        try? await channel.close().get()
    }

    final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let greeting: String
        let script: Script
        let sslContext: NIOSSLContext?
        let received: NIOLockedValueBox<[String]>
        let onMessage: MessageHandler?
        var buffer: [UInt8] = []
        var tls = false
        var inData = false
        var message: [String] = []

        init(
            greeting: String, script: @escaping Script, sslContext: NIOSSLContext?,
            received: NIOLockedValueBox<[String]>, onMessage: MessageHandler? = nil
        ) {
            self.greeting = greeting
            self.script = script
            self.sslContext = sslContext
            self.received = received
            self.onMessage = onMessage
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
                if inData {
                    if line == "." {
                        inData = false
                        onMessage?(message)
                        message = []
                    } else {
                        message.append(line.hasPrefix(".") ? String(line.dropFirst()) : line)
                        continue
                    }
                }
                received.withLockedValue { $0.append(line) }
                let step = line == "." ? script(".", tls) : script(line, tls)
                if line.uppercased() == "DATA" { inData = true }
                switch step {
                case .send(let s):
                    if !s.isEmpty { write(context, s) }
                    if s.hasPrefix("354") == false && line.uppercased() == "DATA" { inData = false }
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
extension ScriptedSMTPServer.Handler: Sendable {}

/// A self-signed certificate made in process (P-256, SAN localhost).
public struct TestCertificate: Sendable {
    public let certificatePEM: String
    public let privateKeyPEM: String

    public static func make(commonName: String = "localhost", dnsNames: [String] = ["localhost"]) throws
        -> TestCertificate
    {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName(commonName) }
        let now = Date()
        let cert = try Certificate(
            version: .v3,
            serialNumber: .init(),
            publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(86400),
            issuer: name,
            subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                SubjectAlternativeNames(dnsNames.map { GeneralName.dnsName($0) })
            },
            issuerPrivateKey: .init(key)
        )
        return TestCertificate(
            certificatePEM: try cert.serializeAsPEM().pemString, privateKeyPEM: key.pemRepresentation)
    }

    public func writeCA() throws -> String {
        let path = NSTemporaryDirectory() + "roundtrip-test-ca-\(UUID().uuidString).pem"
        try certificatePEM.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}

extension ScriptedSMTPServer {
    /// Starts a server, runs `body` with it, and stops it (awaited) afterwards, also when
    /// `body` throws: no test leaves a server behind for the next one.
    public static func with<T>(
        greeting: String = "220 test.example ESMTP ready\r\n", tls: TestCertificate? = nil, implicitTLS: Bool = false,
        maximumTLSVersion: TLSVersion? = nil, host: String = "127.0.0.1", port: Int = 0,
        onMessage: MessageHandler? = nil, script: @escaping Script,
        _ body: (ScriptedSMTPServer) async throws -> T
    ) async throws -> T {
        let server = try await start(
            greeting: greeting, tls: tls, implicitTLS: implicitTLS, maximumTLSVersion: maximumTLSVersion,
            host: host, port: port, onMessage: onMessage, script: script)
        do {
            let result = try await body(server)
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }
}
