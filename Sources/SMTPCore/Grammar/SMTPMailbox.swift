/// A mailbox as it appears inside an SMTP path: `Local-part "@" Domain`.
///
/// Construction validates the address so that nothing but a well-formed
/// mailbox can ever reach the wire: no CR, LF, NUL or other control
/// character, no unbalanced quoting, and the RFC 5321 §4.5.3.1 size limits.
///
///     MAIL FROM:<roundtrip+k3v9x2q8@return.example>
///
/// - SeeAlso: RFC 5321 §4.1.2, RFC 6531 §3.3
public struct SMTPMailbox: Hashable, Sendable, CustomStringConvertible {
    /// The local part exactly as it goes on the wire (minimal quoting applied).
    public let localPart: String
    /// The domain or address literal (`[192.0.2.1]`, `[IPv6:...]`).
    public let domain: String

    /// Whether the mailbox needs the SMTPUTF8 extension (non-ASCII octets).
    public var requiresSMTPUTF8: Bool {
        localPart.utf8.contains { $0 >= 0x80 } || domain.utf8.contains { $0 >= 0x80 }
    }

    public var description: String { "\(localPart)@\(domain)" }

    /// The local part without quoting, for comparisons.
    public var unquotedLocalPart: String {
        let u = Array(localPart.utf8)
        guard u.count >= 2, u.first == UInt8(ascii: "\""), u.last == UInt8(ascii: "\"") else { return localPart }
        var out: [UInt8] = []
        var i = 1
        while i < u.count - 1 {
            if u[i] == UInt8(ascii: "\\"), i + 1 < u.count - 1 { i += 1 }
            out.append(u[i])
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static let maxLocalPart = 64
    public static let maxDomain = 255
    public static let maxPath = 256

    /// Parses `local@domain` (optionally in angle brackets). An unquoted local
    /// part that is not a dot-atom is quoted minimally.
    public init(_ text: String, context: String = "address") throws {
        var bytes = Array(text.utf8)
        if bytes.first == UInt8(ascii: "<") && bytes.last == UInt8(ascii: ">") && bytes.count >= 2 {
            bytes = Array(bytes[1..<(bytes.count - 1)])
        }
        if bytes.contains(where: { $0 < 0x20 || $0 == 0x7F }) {
            throw SMTPSyntaxError(.controlCharacter, context)
        }
        guard !bytes.isEmpty else { throw SMTPSyntaxError(.emptyValue, context) }
        guard let at = bytes.lastIndex(of: UInt8(ascii: "@")), at > 0, at < bytes.count - 1 else {
            throw SMTPSyntaxError(.invalidAddress, context)
        }
        let rawLocal = Array(bytes[..<at])
        let rawDomain = Array(bytes[(at + 1)...])
        guard Self.isValidDomain(rawDomain) else { throw SMTPSyntaxError(.invalidAddress, context) }
        let local: [UInt8]
        if Self.isDotAtom(rawLocal) {
            local = rawLocal
        } else if let q = Self.validQuotedString(rawLocal) {
            // Re-quote the content so that needless quoted-pairs go away.
            local = Self.isDotAtom(q) ? q : Self.quoted(q)
        } else {
            guard rawLocal.allSatisfy({ $0 >= 0x20 }) else { throw SMTPSyntaxError(.invalidAddress, context) }
            local = Self.quoted(rawLocal)
        }
        guard local.count <= Self.maxLocalPart else {
            throw SMTPSyntaxError(.tooLong(limit: Self.maxLocalPart), "\(context) local part")
        }
        guard rawDomain.count <= Self.maxDomain else {
            throw SMTPSyntaxError(.tooLong(limit: Self.maxDomain), "\(context) domain")
        }
        guard local.count + 1 + rawDomain.count + 2 <= Self.maxPath else {
            throw SMTPSyntaxError(.tooLong(limit: Self.maxPath), "\(context) path")
        }
        self.localPart = String(decoding: local, as: UTF8.self)
        self.domain = String(decoding: rawDomain, as: UTF8.self)
    }

    /// Quotes minimally: escapes only '"' and '\'.
    static func quoted(_ content: [UInt8]) -> [UInt8] {
        var q: [UInt8] = [UInt8(ascii: "\"")]
        for b in content {
            if b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") { q.append(UInt8(ascii: "\\")) }
            q.append(b)
        }
        q.append(UInt8(ascii: "\""))
        return q
    }

    /// The local part compares byte for byte, the domain case-insensitively
    /// (ASCII letters only); the spelling given is kept for the wire.
    public static func == (a: SMTPMailbox, b: SMTPMailbox) -> Bool {
        a.localPart == b.localPart && Self.foldedDomain(a.domain) == Self.foldedDomain(b.domain)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(localPart)
        hasher.combine(Self.foldedDomain(domain))
    }

    static func foldedDomain(_ domain: String) -> [UInt8] {
        domain.utf8.map { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") ? $0 | 0x20 : $0 }
    }

    /// atext plus UTF-8 octets (RFC 6531 extends atext with UTF8-non-ascii).
    static func isAtext(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case 0x80...0xFF:
            return true
        default:
            return Array("!#$%&'*+-/=?^_`{|}~".utf8).contains(b)
        }
    }

    static func isDotAtom(_ s: [UInt8]) -> Bool {
        guard !s.isEmpty, s.first != UInt8(ascii: "."), s.last != UInt8(ascii: ".") else { return false }
        var previousDot = false
        for b in s {
            if b == UInt8(ascii: ".") {
                if previousDot { return false }
                previousDot = true
            } else {
                guard isAtext(b) else { return false }
                previousDot = false
            }
        }
        return true
    }

    /// If `s` is a well-formed quoted-string, returns its unquoted content.
    static func validQuotedString(_ s: [UInt8]) -> [UInt8]? {
        guard s.count >= 2, s.first == UInt8(ascii: "\""), s.last == UInt8(ascii: "\"") else { return nil }
        var out: [UInt8] = []
        var i = 1
        while i < s.count - 1 {
            let b = s[i]
            if b == UInt8(ascii: "\\") {
                guard i + 1 < s.count - 1, s[i + 1] >= 0x20, s[i + 1] != 0x7F else { return nil }
                out.append(s[i + 1])
                i += 2
            } else if b == UInt8(ascii: "\"") || b < 0x20 || b == 0x7F {
                return nil
            } else {
                out.append(b)
                i += 1
            }
        }
        return out
    }

    static func isValidDomain(_ d: [UInt8]) -> Bool {
        guard !d.isEmpty else { return false }
        if d.first == UInt8(ascii: "[") {
            guard d.last == UInt8(ascii: "]"), d.count > 2 else { return false }
            return d[1..<(d.count - 1)].allSatisfy {
                $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "[") && $0 != UInt8(ascii: "]") && $0 != UInt8(ascii: "\\")
            }
        }
        var label = 0
        for b in d {
            if b == UInt8(ascii: ".") {
                if label == 0 { return false }
                label = 0
                continue
            }
            let ok =
                (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
                || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || b == UInt8(ascii: "-")
                || b == UInt8(ascii: "_") || b >= 0x80
            guard ok else { return false }
            label += 1
            if label > 63 { return false }
        }
        return label > 0
    }
}

/// `Reverse-path = Path / "<>"`.
public enum ReversePath: Hashable, Sendable, CustomStringConvertible {
    /// The null sender, reserved for reports. A probe never uses it.
    case null
    case mailbox(SMTPMailbox)

    public var description: String {
        switch self {
        case .null: return "<>"
        case .mailbox(let m): return "<\(m)>"
        }
    }
}
