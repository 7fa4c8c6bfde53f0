import Foundation
import NIOCore
import NIOSSL
import X509

/// The TLS facts of one connection, always reported, whether or not the
/// verification was enforced.
public struct TLSReport: Sendable, Hashable, Codable {
    public enum Verification: String, Sendable, Hashable, Codable {
        case verified
        case failed
        case skipped
    }

    /// "TLSv1.3", "TLSv1.2", ...
    public var protocolVersion: String?
    /// IANA name of the negotiated cipher suite, from the ServerHello.
    public var cipher: String?
    public var subject: String?
    public var subjectAlternativeNames: [String]
    public var issuer: String?
    public var notBefore: Date?
    public var notAfter: Date?
    /// "system" or the path of the --ca-file.
    public var trustStore: String
    /// Whether the chain verified against the trust store (nil when skipped).
    public var chainVerified: Bool?
    public var chainError: String?
    /// Whether the certificate names the host we connected to (nil when skipped).
    public var hostnameMatched: Bool?
    /// The name checked against the certificate.
    public var verifiedName: String
    public var verification: Verification
    /// Plaintext octets that arrived after `220` to STARTTLS and were discarded.
    public var discardedPlaintextOctets: Int

    public init(trustStore: String, verifiedName: String) {
        self.subjectAlternativeNames = []
        self.trustStore = trustStore
        self.verifiedName = verifiedName
        self.verification = .skipped
        self.discardedPlaintextOctets = 0
    }

    /// A one-line summary of what failed, for warnings and errors.
    public var problem: String? {
        var parts: [String] = []
        if chainVerified == false { parts.append("certificate chain not trusted (\(chainError ?? "unknown issuer"))") }
        if hostnameMatched == false { parts.append("certificate does not name \(verifiedName)") }
        return parts.isEmpty ? nil : parts.joined(separator: "; ")
    }
}

/// Verifies a peer chain with swift-certificates: the chain against the trust
/// roots (RFC 5280), and the host name separately, so both are reported.
enum TLSVerifier {
    static func loadRoots(caFile: String?) throws -> CertificateStore {
        guard let caFile else { return CertificateStore.systemTrustRoots }
        let loaded: [NIOSSLCertificate]
        do {
            loaded = try NIOSSLCertificate.fromPEMFile(caFile)
        } catch {
            throw TransportError(.configuration, step: .tls, message: "cannot read --ca-file \(caFile): \(error)")
        }
        let certs = loaded.compactMap { c -> Certificate? in
            guard let der = try? c.toDERBytes() else { return nil }
            return try? Certificate(derEncoded: der)
        }
        guard !certs.isEmpty else {
            throw TransportError(.configuration, step: .tls, message: "--ca-file \(caFile) holds no certificates")
        }
        return CertificateStore(certs)
    }

    static func describe(_ chain: [Certificate], into report: inout TLSReport) {
        guard let leaf = chain.first else { return }
        report.subject = leaf.subject.description
        report.issuer = leaf.issuer.description
        report.notBefore = leaf.notValidBefore
        report.notAfter = leaf.notValidAfter
        if let sans = try? leaf.extensions.subjectAlternativeNames {
            report.subjectAlternativeNames = sans.map { name in
                switch name {
                case .dnsName(let d): return "DNS:\(d)"
                case .ipAddress(let bytes): return "IP:" + formatIP(Array(bytes.bytes))
                case .rfc822Name(let r): return "email:\(r)"
                case .uniformResourceIdentifier(let u): return "URI:\(u)"
                default: return "\(name)"
                }
            }
        }
    }

    /// RFC 6125 §6.4: the reference name against the DNS-ID and IP SANs (no
    /// CN fallback when SANs exist); a wildcard only as the whole left-most label.
    static func matches(hostname: String, certificate: Certificate) -> Bool {
        let sans = (try? certificate.extensions.subjectAlternativeNames).flatMap { $0 } ?? SubjectAlternativeNames([])
        let target = hostname.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "."))
        if let ip = try? SocketAddressBytes(target) {
            return sans.contains {
                if case .ipAddress(let b) = $0 { return Array(b.bytes) == ip.bytes } else { return false }
            }
        }
        let dnsNames = sans.compactMap { name -> String? in
            if case .dnsName(let d) = name { return d.lowercased() } else { return nil }
        }
        for pattern in dnsNames {
            let p = pattern.trimmingCharacters(in: CharacterSet(charactersIn: "."))
            if p == target { return true }
            if p.hasPrefix("*."), let dot = target.firstIndex(of: ".") {
                let suffix = p.dropFirst(2)
                if suffix.contains("."), target[target.index(after: dot)...] == suffix { return true }
            }
        }
        return false
    }

    static func formatIP(_ b: [UInt8]) -> String {
        if b.count == 4 { return b.map(String.init).joined(separator: ".") }
        if b.count == 16 {
            return stride(from: 0, to: 16, by: 2).map { String(UInt16(b[$0]) << 8 | UInt16(b[$0 + 1]), radix: 16) }
                .joined(separator: ":")
        }
        return b.map { String($0, radix: 16) }.joined()
    }

    static func verify(chain: [Certificate], roots: CertificateStore, hostname: String, into report: inout TLSReport)
        async
    {
        guard let leaf = chain.first else {
            report.chainVerified = false
            report.chainError = "the server sent no certificate"
            report.hostnameMatched = false
            report.verification = .failed
            return
        }
        var chainVerifier = Verifier(rootCertificates: roots) { RFC5280Policy() }
        let intermediates = CertificateStore(chain.dropFirst())
        switch await chainVerifier.validate(leaf: leaf, intermediates: intermediates) {
        case .validCertificate:
            report.chainVerified = true
        case .couldNotValidate(let failures):
            report.chainVerified = false
            report.chainError =
                failures.first.map { "\($0.policyFailureReason)" }
                ?? (leaf.subject == leaf.issuer ? "self-signed certificate" : "unknown issuer")
        }
        report.hostnameMatched = matches(hostname: hostname, certificate: leaf)
        report.verification = (report.chainVerified == true && report.hostnameMatched == true) ? .verified : .failed
    }
}

extension TLSVersion {
    var displayName: String {
        switch self {
        case .tlsv1: return "TLSv1.0"
        case .tlsv11: return "TLSv1.1"
        case .tlsv12: return "TLSv1.2"
        case .tlsv13: return "TLSv1.3"
        }
    }
}

/// The octets of a numeric IPv4 or IPv6 address.
struct SocketAddressBytes {
    let bytes: [UInt8]

    init(_ text: String) throws {
        let address = try SocketAddress(ipAddress: text, port: 0)
        switch address {
        case .v4(let a):
            var sin = a.address.sin_addr
            bytes = withUnsafeBytes(of: &sin) { Array($0) }
        case .v6(let a):
            var sin6 = a.address.sin6_addr
            bytes = withUnsafeBytes(of: &sin6) { Array($0) }
        default:
            throw TransportError(.invalidInput, step: .tls, message: "not an IP address")
        }
    }
}
