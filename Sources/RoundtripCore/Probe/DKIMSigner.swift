import Crypto
import Foundation
import _CryptoExtras

/// Signs a probe with DKIM (RFC 6376), relaxed/relaxed canonicalisation,
/// `rsa-sha256` or `ed25519-sha256` (RFC 8463). Pure: the key, the time and
/// the message come in as values.
public struct DKIMSigner: Sendable {
    public enum Algorithm: String, Sendable, Hashable, CaseIterable {
        case rsaSHA256 = "rsa-sha256"
        case ed25519SHA256 = "ed25519-sha256"
    }

    public enum Key: Sendable {
        case rsa(_RSA.Signing.PrivateKey)
        case ed25519(Curve25519.Signing.PrivateKey)

        public var algorithm: Algorithm {
            switch self {
            case .rsa: return .rsaSHA256
            case .ed25519: return .ed25519SHA256
            }
        }
    }

    public struct KeyError: Error, Hashable, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// The header fields signed when present (RFC 6376 §5.4): the probe's
    /// identity, its token and its MIME structure.
    public static let signedFields = [
        "from", "to", "subject", "date", "message-id", "x-roundtrip-probe", "mime-version", "content-type",
        "content-transfer-encoding",
    ]

    public var key: Key
    public var domain: String
    public var selector: String

    public init(key: Key, domain: String, selector: String) throws {
        func isLabelText(_ s: String) -> Bool {
            !s.isEmpty
                && s.utf8.allSatisfy {
                    ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || $0 == 0x2D || $0 == 0x2E
                        || $0 == 0x5F
                }
        }
        guard isLabelText(domain) else {
            throw KeyError(description: "--dkim-domain \(domain.debugDescription) is not a domain name")
        }
        guard isLabelText(selector) else {
            throw KeyError(description: "--dkim-selector \(selector.debugDescription) is not a selector")
        }
        self.key = key
        self.domain = domain
        self.selector = selector
    }

    /// Reads a private key: PEM (`PRIVATE KEY` PKCS #8 for RSA or Ed25519,
    /// `RSA PRIVATE KEY` PKCS #1), or the 32-octet Ed25519 seed in base64
    /// (the form RFC 8463 prints). `algorithm` says which is expected when given.
    public static func key(from text: String, algorithm: Algorithm?) throws -> Key {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if !trimmed.hasPrefix("-----"), let raw = Data(base64Encoded: trimmed), raw.count == 32 {
            guard algorithm != .rsaSHA256 else { throw KeyError(description: "the key is an Ed25519 seed, not RSA") }
            return .ed25519(try Curve25519.Signing.PrivateKey(rawRepresentation: raw))
        }
        if algorithm != .rsaSHA256, let der = pemBody(trimmed, label: "PRIVATE KEY"), der.count == 48,
            Array(der.prefix(16)) == ed25519PKCS8Prefix
        {
            return .ed25519(try Curve25519.Signing.PrivateKey(rawRepresentation: der.suffix(32)))
        }
        guard algorithm != .ed25519SHA256 else {
            throw KeyError(description: "the key is not an Ed25519 private key (PEM PKCS #8 or a base64 seed)")
        }
        do {
            let k = try _RSA.Signing.PrivateKey(pemRepresentation: trimmed)
            return .rsa(k)
        } catch {
            throw KeyError(description: "the key is neither an RSA (2048 bits or more) nor an Ed25519 private key")
        }
    }

    /// `SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING (32) } }`.
    static let ed25519PKCS8Prefix: [UInt8] = [
        0x30, 0x2E, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
    ]

    static func pemBody(_ text: String, label: String) -> [UInt8]? {
        let begin = "-----BEGIN \(label)-----"
        let end = "-----END \(label)-----"
        guard let b = text.range(of: begin), let e = text.range(of: end), b.upperBound <= e.lowerBound else {
            return nil
        }
        let body = text[b.upperBound..<e.lowerBound].filter { !$0.isWhitespace }
        return Data(base64Encoded: String(body)).map { Array($0) }
    }

    // MARK: Canonicalisation (RFC 6376 §3.4.2, §3.4.4)

    /// Relaxed header canonicalisation of one field: name lower-cased,
    /// unfolded, runs of WSP made one SP, WSP at the ends of the value
    /// removed; `name:value` without CRLF.
    public static func relaxedHeader(name: String, value: [UInt8]) -> [UInt8] {
        var out = Array(name.lowercased().utf8).filter { $0 != 0x20 && $0 != 0x09 }
        out.append(UInt8(ascii: ":"))
        var v: [UInt8] = []
        var pendingSpace = false
        for b in value {
            switch b {
            case 0x0D, 0x0A: continue
            case 0x20, 0x09: pendingSpace = true
            default:
                if pendingSpace && !v.isEmpty { v.append(0x20) }
                pendingSpace = false
                v.append(b)
            }
        }
        return out + v
    }

    /// Relaxed body canonicalisation: WSP at line ends removed, runs of WSP
    /// made one SP, empty lines at the end removed, a non-empty body ends with CRLF.
    public static func relaxedBody(_ body: ArraySlice<UInt8>) -> [UInt8] {
        var lines: [[UInt8]] = []
        var line: [UInt8] = []
        var i = body.startIndex
        while i < body.endIndex {
            let b = body[i]
            if b == 0x0D, i + 1 < body.endIndex, body[i + 1] == 0x0A {
                lines.append(line)
                line = []
                i += 2
                continue
            }
            line.append(b)
            i += 1
        }
        if !line.isEmpty { lines.append(line) }
        var out: [[UInt8]] = lines.map { l in
            var r: [UInt8] = []
            var space = false
            for b in l {
                if b == 0x20 || b == 0x09 {
                    space = true
                } else {
                    if space { r.append(0x20) }
                    space = false
                    r.append(b)
                }
            }
            return r
        }
        while let last = out.last, last.isEmpty { out.removeLast() }
        return out.flatMap { $0 + [0x0D, 0x0A] }
    }

    // MARK: Signing

    /// The `DKIM-Signature:` field (folded, with CRLF) to put on top of
    /// `message` (CRLF line ends, header and body).
    public func signatureField(for message: [UInt8], time: Int64) throws -> String {
        let (fields, bodyStart) = Self.split(message)
        let bodyHash = Data(SHA256.hash(data: Self.relaxedBody(message[bodyStart...]))).base64EncodedString()
        // The last instance of each name first (RFC 6376 §5.4.2); names absent are not listed.
        var used = Set<Int>()
        var signedNames: [String] = []
        var input: [UInt8] = []
        for name in Self.signedFields {
            guard
                let i = fields.indices.reversed().first(where: {
                    !used.contains($0) && fields[$0].name.lowercased() == name
                })
            else { continue }
            used.insert(i)
            signedNames.append(name)
            input += Self.relaxedHeader(name: fields[i].name, value: fields[i].value) + [0x0D, 0x0A]
        }
        let head =
            "v=1; a=\(key.algorithm.rawValue); c=relaxed/relaxed; d=\(domain); s=\(selector);\r\n"
            + "\tt=\(time); h=\(signedNames.joined(separator: ":"));\r\n\tbh=\(bodyHash);\r\n\tb="
        input += Self.relaxedHeader(name: "DKIM-Signature", value: Array(head.utf8))
        let signature: Data
        switch key {
        case .rsa(let k):
            signature = try k.signature(for: SHA256.hash(data: input), padding: .insecurePKCS1v1_5).rawRepresentation
        case .ed25519(let k):
            signature = try k.signature(for: Data(SHA256.hash(data: input)))
        }
        let b = signature.base64EncodedString()
        // Fold b= in 72-character pieces (WSP inside b= is ignored by verifiers).
        var folded = ""
        var rest = Substring(b)
        while !rest.isEmpty {
            if !folded.isEmpty { folded += "\r\n\t " }
            folded += rest.prefix(72)
            rest = rest.dropFirst(72)
        }
        return "DKIM-Signature: \(head)\(folded)\r\n"
    }

    /// The message with its signature field on top.
    public func sign(_ message: [UInt8], time: Int64) throws -> [UInt8] {
        Array(try signatureField(for: message, time: time).utf8) + message
    }

    /// Header fields (name, raw value after the colon, with folding) and where the body starts.
    static func split(_ message: [UInt8]) -> (fields: [(name: String, value: [UInt8])], bodyStart: Int) {
        var fields: [(name: String, value: [UInt8])] = []
        var i = 0
        var lineStart = 0
        while i < message.count {
            guard message[i] == 0x0A else {
                i += 1
                continue
            }
            let lineEnd = i + 1
            let line = message[lineStart..<lineEnd]
            if line.count <= 2 && line.allSatisfy({ $0 == 0x0D || $0 == 0x0A }) {
                return (fields, lineEnd)
            }
            if line.first == 0x20 || line.first == 0x09, !fields.isEmpty {
                fields[fields.count - 1].value += line
            } else if let colon = line.firstIndex(of: UInt8(ascii: ":")) {
                fields.append(
                    (String(decoding: message[lineStart..<colon], as: UTF8.self), Array(message[(colon + 1)..<lineEnd]))
                )
            }
            lineStart = lineEnd
            i = lineEnd
        }
        return (fields, message.count)
    }
}
