import NIOCore
import NIOSSL
import NIOTLS
import SMTPCore

/// Frames replies out of the byte stream and hands each to the oldest
/// waiter. It also performs the STARTTLS switch in the same `channelRead`
/// that sees the `220`: whatever plaintext is still buffered at that moment
/// is discarded (never parsed as if it came over TLS), and NIOSSL goes to the
/// front of the pipeline before another byte is read.
final class SMTPClientHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    struct TLSUpgrade {
        let context: NIOSSLContext
        let serverHostname: String?
        let verificationCallback: NIOSSLCustomVerificationCallback
        let onCipher: (UInt16) -> Void
        let handshake: EventLoopPromise<Int>
    }

    private var parser = SMTPReplyParser()
    private var waiters = CircularBuffer<EventLoopPromise<SMTPReply>>()
    private var unclaimed = CircularBuffer<SMTPReply>()
    private var failure: (any Error)?
    private var pendingUpgrade: TLSUpgrade?
    private var handshakePromise: EventLoopPromise<Int>?
    private var discardedOctets = 0
    /// Replies are awaited before the command goes out, so unprompted replies
    /// queue only when a server misbehaves: a few are tolerated, no more.
    static let maxUnclaimed = 16

    /// Registers a waiter for the next reply. Called on the event loop.
    func expectReply(_ promise: EventLoopPromise<SMTPReply>) {
        if let reply = unclaimed.popFirst() {
            promise.succeed(reply)
        } else if let failure {
            promise.fail(failure)
        } else {
            waiters.append(promise)
        }
    }

    /// Arms the TLS switch for the reply to STARTTLS, which must be the next
    /// reply. The handshake promise yields the discarded plaintext count.
    /// Returns why the switch is refused when replies or octets are already
    /// waiting (`STARTTLSGuard`); then nothing is armed and the queue is emptied.
    func armTLSUpgrade(_ upgrade: TLSUpgrade) -> String? {
        if let violation = STARTTLSGuard.violation(queuedResponses: unclaimed.count, bufferedOctets: parser.drainUnprocessed().count) {
            unclaimed.removeAll()
            return violation
        }
        pendingUpgrade = upgrade
        return nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        guard failure == nil else { return }
        parser.append(buffer.readableBytesView)
        do {
            while let reply = try parser.next() {
                if let upgrade = pendingUpgrade {
                    pendingUpgrade = nil
                    if reply.code == 220 {
                        startTLS(context: context, upgrade: upgrade)
                        deliver(reply)
                        return
                    }
                    upgrade.handshake.fail(TransportError(.tlsFailed, step: .tls, message: "STARTTLS refused", reply: reply))
                }
                guard waiters.count > 0 || unclaimed.count < Self.maxUnclaimed else {
                    throw TransportError(.protocolViolation, step: .banner,
                                         message: "the server sent more than \(Self.maxUnclaimed) replies nobody asked for")
                }
                deliver(reply)
            }
        } catch let error as SMTPSyntaxError {
            fail(context: context, TransportError(.protocolViolation, step: .banner, message: "the server's reply is not valid SMTP: \(error)"))
        } catch {
            fail(context: context, error)
        }
    }

    private func startTLS(context: ChannelHandlerContext, upgrade: TLSUpgrade) {
        // Anything after the 220 in the same read, or already buffered, came
        // in plaintext: drop it (CVE-2011-0411 class of injection).
        discardedOctets = parser.drainUnprocessed().count
        parser = SMTPReplyParser(limits: parser.limits)
        do {
            let ssl = try NIOSSLClientHandler(
                context: upgrade.context,
                serverHostname: upgrade.serverHostname,
                customVerificationCallback: upgrade.verificationCallback
            )
            try context.pipeline.syncOperations.addHandler(ssl, position: .first)
            try context.pipeline.syncOperations.addHandler(ServerHelloSniffer(onCipher: upgrade.onCipher), position: .first)
            handshakePromise = upgrade.handshake
        } catch {
            upgrade.handshake.fail(TransportError(.tlsFailed, step: .tls, message: "cannot start TLS: \(error)"))
        }
    }

    private func deliver(_ reply: SMTPReply) {
        if let waiter = waiters.popFirst() {
            waiter.succeed(reply)
        } else {
            unclaimed.append(reply)
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
            wrapped = TransportError(.tlsFailed, step: .tls, message: "TLS failed: \(sslError)")
        } else if error is TransportError {
            wrapped = error
        } else {
            wrapped = TransportError(.connectionClosed, step: .banner, message: "connection error: \(error)")
        }
        fail(context: context, wrapped)
    }

    func channelInactive(context: ChannelHandlerContext) {
        let partial = parser.hasPartialReply ? " in the middle of a reply" : ""
        failAll(TransportError(.connectionClosed, step: .banner, message: "the server closed the connection\(partial)"))
        context.fireChannelInactive()
    }

    private func fail(context: ChannelHandlerContext, _ error: any Error) {
        failAll(error)
        context.close(promise: nil)
    }

    private func failAll(_ error: any Error) {
        if failure == nil { failure = error }
        let error = failure ?? error
        while let w = waiters.popFirst() { w.fail(error) }
        handshakePromise?.fail(error)
        handshakePromise = nil
        pendingUpgrade?.handshake.fail(error)
        pendingUpgrade = nil
    }
}

@available(*, unavailable)
extension SMTPClientHandler: Sendable {}
