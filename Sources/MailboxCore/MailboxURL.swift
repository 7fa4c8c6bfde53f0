/// A mailbox location: `imap://user@host:port/INBOX`, `imaps://...`,
/// `pop3://user@host:port`, `pop3s://...` (RFC 5092 / RFC 2384, subset).
/// The user is percent-decoded (`reports%40example.org` → `reports@example.org`).
/// Passwords in the URL are refused: they would show in `ps`.
public struct MailboxURL: Hashable, Sendable, CustomStringConvertible {
    public enum Scheme: String, Hashable, Sendable {
        case imap, imaps, pop3, pop3s

        public var defaultPort: Int {
            switch self {
            case .imap: return 143
            case .imaps: return 993
            case .pop3: return 110
            case .pop3s: return 995
            }
        }

        public var implicitTLS: Bool { self == .imaps || self == .pop3s }
        public var isIMAP: Bool { self == .imap || self == .imaps }
    }

    public var scheme: Scheme
    public var user: String?
    public var host: String
    public var port: Int
    /// IMAP only; "INBOX" when the URL names none.
    public var mailbox: String

    public init(scheme: Scheme, user: String?, host: String, port: Int? = nil, mailbox: String = "INBOX") {
        self.scheme = scheme
        self.user = user
        self.host = host
        self.port = port ?? scheme.defaultPort
        self.mailbox = mailbox
    }

    public struct ParseError: Error, Hashable, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    public init(parsing text: String) throws(ParseError) {
        guard let colon = text.firstIndex(of: ":"), text[colon...].hasPrefix("://") else {
            throw ParseError(message: "\(text.debugDescription) is not a URL like imaps://user@host/INBOX")
        }
        guard let scheme = Scheme(rawValue: text[..<colon].lowercased()) else {
            throw ParseError(
                message: "unknown scheme \(String(text[..<colon]).debugDescription): use imap, imaps, pop3 or pop3s")
        }
        var rest = text[colon...].dropFirst(3)
        var path = ""
        if let slash = rest.firstIndex(of: "/") {
            path = String(rest[rest.index(after: slash)...])
            rest = rest[..<slash]
        }
        var user: String?
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if userInfo.contains(":") {
                throw ParseError(message: "put no password in the URL; use --password-file or ROUNDTRIP_PASSWORD")
            }
            var name = userInfo
            if let semi = name.firstIndex(of: ";") { name = name[..<semi] }  // ;AUTH=...
            guard let decoded = MailboxURL.percentDecode(String(name)), !decoded.isEmpty else {
                throw ParseError(message: "bad user name in \(text.debugDescription)")
            }
            user = decoded
        }
        var host: String
        var port: Int?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else {
                throw ParseError(message: "unclosed [ in \(text.debugDescription)")
            }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") {
                guard let p = Int(after.dropFirst()) else {
                    throw ParseError(message: "bad port in \(text.debugDescription)")
                }
                port = p
            } else if !after.isEmpty {
                throw ParseError(message: "bad host in \(text.debugDescription)")
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = String(rest[..<colon])
            guard let p = Int(rest[rest.index(after: colon)...]) else {
                throw ParseError(message: "bad port in \(text.debugDescription)")
            }
            port = p
        } else {
            host = String(rest)
        }
        if let port, !(1...65535).contains(port) { throw ParseError(message: "the port must be 1-65535") }
        guard !host.isEmpty, !host.contains(where: { $0 == " " || $0 == "/" || $0 == "@" }) else {
            throw ParseError(message: "no host in \(text.debugDescription)")
        }
        var mailbox = "INBOX"
        if scheme.isIMAP {
            if let semi = path.firstIndex(of: ";") { path = String(path[..<semi]) }  // ;UIDVALIDITY=...
            if !path.isEmpty {
                guard let m = MailboxURL.percentDecode(path), !m.isEmpty else {
                    throw ParseError(message: "bad mailbox name in \(text.debugDescription)")
                }
                mailbox = m
            }
        } else if !path.isEmpty {
            throw ParseError(message: "a POP3 URL names no mailbox: \(text.debugDescription)")
        }
        self.init(scheme: scheme, user: user, host: host, port: port, mailbox: mailbox)
    }

    /// `imaps://reports%40example.org@imap.example.org:993/INBOX`
    public var description: String {
        var s = "\(scheme.rawValue)://"
        if let user { s += MailboxURL.percentEncode(user) + "@" }
        s += host.contains(":") ? "[\(host)]" : host
        s += ":\(port)"
        if scheme.isIMAP { s += "/" + MailboxURL.percentEncode(mailbox) }
        return s
    }

    /// Percent-encodes a URL component (everything but unreserved characters and sub-delims other than `;` `@` `:` `/`).
    public static func percentEncodeComponent(_ s: String) -> String { percentEncode(s) }

    public static func percentDecodeComponent(_ s: String) -> String? { percentDecode(s) }

    static func percentDecode(_ s: String) -> String? {
        var out: [UInt8] = []
        var bytes = Array(s.utf8)[...]
        while let b = bytes.popFirst() {
            if b == UInt8(ascii: "%") {
                guard bytes.count >= 2, let v = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16)
                else { return nil }
                out.append(v)
                bytes = bytes.dropFirst(2)
            } else {
                out.append(b)
            }
        }
        guard !out.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { return nil }
        return String(validating: out, as: UTF8.self)
    }

    static func percentEncode(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            let c = Character(Unicode.Scalar(b))
            if b < 0x80, c.isLetter || c.isNumber || "-._~!$'()*+,=".contains(c) {
                out.append(c)
            } else {
                out += "%" + (b < 16 ? "0" : "") + String(b, radix: 16, uppercase: true)
            }
        }
        return out
    }
}
