import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import X509

/// What the TLS layer of one connection saw (the peer chain, the cipher
/// suite), filled by NIOSSL's callbacks on the event loop. Shared by the
/// SMTP, IMAP and POP3 connections.
final class TLSFacts: Sendable {
    let chain = NIOLockedValueBox<[Certificate]>([])
    let cipher = NIOLockedValueBox<UInt16?>(nil)

    var verificationCallback: NIOSSLCustomVerificationCallback {
        { [self] certificates, promise in
            // Record the chain; the decision is made by `TLSVerifier`
            // before anything else is sent on the connection.
            let parsed = certificates.compactMap { cert -> Certificate? in
                guard let der = try? cert.toDERBytes() else { return nil }
                return try? Certificate(derEncoded: der)
            }
            self.chain.withLockedValue { $0 = parsed }
            promise.succeed(.certificateVerified)
        }
    }

    var onCipher: (UInt16) -> Void {
        { [self] suite in self.cipher.withLockedValue { $0 = suite } }
    }

    /// The TLS facts and the verification result for `channel`.
    func report(channel: any Channel, serverName: String, policy: TLSPolicy, discarded: Int) async throws -> TLSReport {
        let version = try? await channel.nioSSL_tlsVersion().get()
        var report = TLSReport(trustStore: policy.caFile ?? "system", verifiedName: serverName)
        report.protocolVersion = version.flatMap { $0 }.map(\.displayName)
        report.cipher = cipher.withLockedValue { $0 }.map(ServerHelloSniffer.name(of:))
        report.discardedPlaintextOctets = discarded
        let chain = self.chain.withLockedValue { $0 }
        TLSVerifier.describe(chain, into: &report)
        if policy.verify != .off {
            let roots = try TLSVerifier.loadRoots(caFile: policy.caFile)
            await TLSVerifier.verify(chain: chain, roots: roots, hostname: serverName, into: &report)
        }
        return report
    }
}
