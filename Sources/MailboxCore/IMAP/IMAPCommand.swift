import MailCore

/// The IMAP commands this client sends. There is deliberately no plain
/// `EXPUNGE` and no `CLOSE`: they remove every `\Deleted` message in the
/// mailbox, other clients' too (RFC 9051 §6.4.3).
public enum IMAPCommand: Hashable, Sendable {
    case capability
    case noop
    case logout
    case startTLS
    case login(user: String, password: String)
    /// `AUTHENTICATE PLAIN`, with the response inline when `initialResponse`
    /// (SASL-IR), else after the server's `+`.
    case authenticatePlain(user: String, password: String, initialResponse: Bool)
    case select(String)
    case examine(String)
    case create(String)
    case uidSearch([IMAPSearchKey])
    /// `UID FETCH set (items)`, items as written, e.g. `UID RFC822.SIZE BODY.PEEK[]`.
    case uidFetch(IMAPSequenceSet, items: [String])
    /// `UID STORE set +FLAGS.SILENT (flags)`
    case uidStoreAddFlags(IMAPSequenceSet, flags: [String])
    /// `UID EXPUNGE set` (UIDPLUS): only the named messages.
    case uidExpunge(IMAPSequenceSet)
    /// `UID MOVE set mailbox` (MOVE).
    case uidMove(IMAPSequenceSet, mailbox: String)
    case idle
    /// `LIST "" "*"`: every mailbox with its attributes (RFC 6154 special-use among them).
    case listAll

    /// The capability this command needs, if any.
    public var requiredCapability: String? {
        switch self {
        case .startTLS: return "STARTTLS"
        case .uidExpunge: return "UIDPLUS"
        case .uidMove: return "MOVE"
        case .idle: return "IDLE"
        case .authenticatePlain(_, _, let ir): return ir ? "SASL-IR" : nil
        default: return nil
        }
    }

    /// Whether the command carries a secret (its line is redacted).
    public var carriesCredentials: Bool {
        switch self {
        case .login, .authenticatePlain: return true
        default: return false
        }
    }
}

/// Search keys for `UID SEARCH` (RFC 9051 §6.4.4).
public enum IMAPSearchKey: Hashable, Sendable {
    case all
    case unseen
    /// `HEADER name value`: messages with that field containing `value`.
    case header(String, String)
    /// `TEXT value`: header or body contains `value`.
    case text(String)
    /// `SINCE d-Mon-yyyy` (internal date, by day).
    case since(IMAPDate)
    /// `UID set`, e.g. everything above a high-water mark: `UID 4100:*`.
    case uid(IMAPSequenceSet)
}

/// A date in IMAP's `d-Mon-yyyy` form.
public struct IMAPDate: Hashable, Sendable, CustomStringConvertible {
    public var year: Int
    /// 1...12
    public var month: Int
    /// 1...31
    public var day: Int

    public init?(year: Int, month: Int, day: Int) {
        guard (1...12).contains(month), (1...31).contains(day), (1...9999).contains(year) else { return nil }
        self.year = year
        self.month = month
        self.day = day
    }

    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    public var description: String { "\(day)-\(IMAPDate.months[month - 1])-\(year)" }
}

/// One command on the wire. A synchronising literal splits it into parts:
/// `parts[0]` goes first, and each later part only after the server's `+`.
public struct IMAPEncodedCommand: Hashable, Sendable {
    public var tag: String
    public var parts: [[UInt8]]
    /// The line for transcripts and logs, with secrets replaced by `<redacted>`.
    public var redacted: String
}

/// Encodes commands: strings become an atom if they can, else a quoted
/// string, else a literal (`{n+}` with LITERAL+, else synchronising).
public struct IMAPCommandEncoder: Sendable {
    public var literalPlus: Bool

    public init(literalPlus: Bool = false) {
        self.literalPlus = literalPlus
    }

    public func encode(_ command: IMAPCommand, tag: String) throws(IMAPEncodingError) -> IMAPEncodedCommand {
        var w = Writer(literalPlus: literalPlus)
        w.raw(tag + " ")
        var redacted: String?
        switch command {
        case .capability: w.raw("CAPABILITY")
        case .noop: w.raw("NOOP")
        case .logout: w.raw("LOGOUT")
        case .startTLS: w.raw("STARTTLS")
        case .idle: w.raw("IDLE")
        case .listAll: w.raw("LIST \"\" \"*\"")
        case .login(let user, let password):
            w.raw("LOGIN ")
            try w.astring(user)
            w.raw(" ")
            try w.astring(password)
            redacted = "\(tag) LOGIN <redacted>"
        case .authenticatePlain(let user, let password, let ir):
            w.raw("AUTHENTICATE PLAIN")
            if ir {
                w.raw(" ")
                w.raw(IMAPCommandEncoder.plainResponse(user: user, password: password))
            }
            redacted = "\(tag) AUTHENTICATE PLAIN" + (ir ? " <redacted>" : "")
        case .select(let m):
            w.raw("SELECT ")
            try w.astring(m)
        case .examine(let m):
            w.raw("EXAMINE ")
            try w.astring(m)
        case .create(let m):
            w.raw("CREATE ")
            try w.astring(m)
        case .uidSearch(let keys):
            w.raw("UID SEARCH")
            if keys.isEmpty { w.raw(" ALL") }
            for k in keys {
                w.raw(" ")
                switch k {
                case .all: w.raw("ALL")
                case .unseen: w.raw("UNSEEN")
                case .header(let name, let value):
                    w.raw("HEADER ")
                    try w.astring(name)
                    w.raw(" ")
                    try w.string(value)
                case .text(let value):
                    w.raw("TEXT ")
                    try w.string(value)
                case .since(let d): w.raw("SINCE \(d)")
                case .uid(let set):
                    guard !set.isEmpty else { throw .emptySet }
                    w.raw("UID \(set)")
                }
            }
        case .uidFetch(let set, let items):
            guard !set.isEmpty else { throw .emptySet }
            for item in items where !item.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F || $0 == 0x20 }) {
                throw .invalidCharacters(item)
            }
            w.raw("UID FETCH \(set) (\(items.joined(separator: " ")))")
        case .uidStoreAddFlags(let set, let flags):
            guard !set.isEmpty else { throw .emptySet }
            for f in flags
            where f.isEmpty
                || !f.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "(") && $0 != UInt8(ascii: ")") })
            {
                throw .invalidCharacters(f)
            }
            w.raw("UID STORE \(set) +FLAGS.SILENT (\(flags.joined(separator: " ")))")
        case .uidExpunge(let set):
            guard !set.isEmpty else { throw .emptySet }
            w.raw("UID EXPUNGE \(set)")
        case .uidMove(let set, let mailbox):
            guard !set.isEmpty else { throw .emptySet }
            w.raw("UID MOVE \(set) ")
            try w.astring(mailbox)
        }
        w.raw("\r\n")
        let parts = w.finish()
        let plain = redacted ?? String(decoding: parts.joined(), as: UTF8.self).replacingCRLF()
        return IMAPEncodedCommand(tag: tag, parts: parts, redacted: plain)
    }

    /// base64("" NUL user NUL password), RFC 4616.
    public static func plainResponse(user: String, password: String) -> String {
        Base64.encode([0] + Array(user.utf8) + [0] + Array(password.utf8), lineLength: 0)
    }

    /// How a string will be sent.
    public enum StringForm: Hashable, Sendable { case atom, quoted, literal }

    public static func form(of s: String, astring: Bool) -> StringForm {
        let u = Array(s.utf8)
        if astring, !u.isEmpty, s.uppercased() != "NIL",
            u.allSatisfy({ Reader.isAtomChar($0) || $0 == UInt8(ascii: "]") })
        {
            return .atom
        }
        if u.count <= 1024, u.allSatisfy({ $0 >= 0x01 && $0 < 0x80 && $0 != 0x0D && $0 != 0x0A }) { return .quoted }
        return .literal
    }

    struct Writer {
        let literalPlus: Bool
        var parts: [[UInt8]] = []
        var current: [UInt8] = []

        mutating func raw(_ s: String) { current += Array(s.utf8) }

        mutating func astring(_ s: String) throws(IMAPEncodingError) { try string(s, astring: true) }

        mutating func string(_ s: String, astring: Bool = false) throws(IMAPEncodingError) {
            let u = Array(s.utf8)
            if u.contains(0) { throw .invalidCharacters("NUL in a string") }
            switch IMAPCommandEncoder.form(of: s, astring: astring) {
            case .atom:
                current += u
            case .quoted:
                current.append(UInt8(ascii: "\""))
                for b in u {
                    if b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") { current.append(UInt8(ascii: "\\")) }
                    current.append(b)
                }
                current.append(UInt8(ascii: "\""))
            case .literal:
                if literalPlus {
                    current += Array("{\(u.count)+}\r\n".utf8)
                    current += u
                } else {
                    current += Array("{\(u.count)}\r\n".utf8)
                    parts.append(current)
                    current = u
                }
            }
        }

        mutating func finish() -> [[UInt8]] {
            parts.append(current)
            return parts
        }
    }
}

public enum IMAPEncodingError: Error, Hashable, Sendable, CustomStringConvertible {
    case emptySet
    case invalidCharacters(String)

    public var description: String {
        switch self {
        case .emptySet: return "a command needs at least one UID"
        case .invalidCharacters(let what): return "invalid characters in \(what.debugDescription)"
        }
    }
}

/// Hands out `a1`, `a2`, ...
public struct IMAPTagGenerator: Sendable {
    private var counter = 0
    public init() {}
    public mutating func next() -> String {
        counter += 1
        return "a\(counter)"
    }
}

extension String {
    func replacingCRLF() -> String {
        var s = self
        while s.hasSuffix("\r\n") { s.removeLast() }
        return s.split(separator: "\r\n", omittingEmptySubsequences: false).joined(separator: " ")
    }
}

extension IMAPCommand: CustomStringConvertible, CustomDebugStringConvertible {
    /// The command without its tag, secrets replaced by `<redacted>`.
    public var description: String {
        guard let e = try? IMAPCommandEncoder().encode(self, tag: "*") else { return "<invalid command>" }
        return String(e.redacted.dropFirst(2))
    }

    public var debugDescription: String { "IMAPCommand(\(description))" }
}
