import Crypto
import Foundation
import NIOSSL
import X509

/// Where the listener's STARTTLS certificate comes from.
public enum ListenerTLSSource: Sendable, Hashable {
    /// No STARTTLS.
    case disabled
    /// A self-signed P-256 certificate for the hostname, made in-process at
    /// start-up (swift-certificates + swift-crypto).
    case selfSigned
    /// PEM files: the certificate (chain) and its private key.
    case files(certificate: String, key: String)
}

enum ListenerTLS {
    /// The server TLS context, or nil when disabled. Throws
    /// `SMTPListenerError` (.configuration) for unreadable or bad PEM files.
    static func makeContext(_ source: ListenerTLSSource, hostname: String) throws -> NIOSSLContext? {
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        switch source {
        case .disabled:
            return nil
        case .selfSigned:
            let pem = try selfSigned(hostname: hostname)
            do {
                chain = [try NIOSSLCertificate(bytes: Array(pem.certificate.utf8), format: .pem)]
                key = try NIOSSLPrivateKey(bytes: Array(pem.key.utf8), format: .pem)
            } catch {
                throw SMTPListenerError(.configuration, "cannot load the generated certificate: \(error)")
            }
        case .files(let certificatePath, let keyPath):
            do {
                chain = try NIOSSLCertificate.fromPEMFile(certificatePath)
            } catch {
                throw SMTPListenerError(.configuration, "cannot read the certificate \(certificatePath): \(error)")
            }
            guard !chain.isEmpty else {
                throw SMTPListenerError(.configuration, "no certificate in \(certificatePath)")
            }
            do {
                key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
            } catch {
                throw SMTPListenerError(.configuration, "cannot read the private key \(keyPath): \(error)")
            }
        }
        var config = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        config.minimumTLSVersion = .tlsv12
        // After QUIT (or a timeout) the session is over: our close_notify goes out, and the
        // peer's is awaited only briefly (RFC 8446 §6.1 does not require waiting for it).
        // NIOSSL's default, 5 s, kept the connection counted against --max-per-client after a
        // client that never answers close_notify had gone, and a busy sender's next reports got
        // 421 (seen with roundtrip monitor at 2 reports/s from one host).
        config.shutdownTimeout = .milliseconds(500)
        do {
            return try NIOSSLContext(configuration: config)
        } catch {
            throw SMTPListenerError(
                .configuration, "the certificate and key do not make a TLS context (do they match?): \(error)")
        }
    }

    /// A self-signed certificate (PEM) valid for a year, SAN = hostname.
    static func selfSigned(hostname: String) throws -> (certificate: String, key: String) {
        do {
            let privateKey = P256.Signing.PrivateKey()
            let name = try DistinguishedName { CommonName(hostname) }
            let now = Date()
            let certificate = try Certificate(
                version: .v3,
                serialNumber: .init(),
                publicKey: .init(privateKey.publicKey),
                notValidBefore: now.addingTimeInterval(-300),
                notValidAfter: now.addingTimeInterval(365 * 86400),
                issuer: name,
                subject: name,
                signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                    KeyUsage(digitalSignature: true, keyCertSign: true)
                    SubjectAlternativeNames([.dnsName(hostname)])
                },
                issuerPrivateKey: .init(privateKey)
            )
            return (try certificate.serializeAsPEM().pemString, privateKey.pemRepresentation)
        } catch {
            throw SMTPListenerError(.configuration, "cannot generate a self-signed certificate: \(error)")
        }
    }
}
