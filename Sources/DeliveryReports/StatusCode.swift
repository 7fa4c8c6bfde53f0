import MailCore

/// An RFC 3463 enhanced status code `class.subject.detail`.
///
///     status-code = class "." subject "." detail   ; class 2 / 4 / 5
///     subject     = 1*3DIGIT   detail = 1*3DIGIT
///
/// - SeeAlso: RFC 3463 §2, registry RFC 5248, protocol-notes §4.
public struct StatusCode: Sendable, Hashable, CustomStringConvertible {
    public var statusClass: Int
    public var subject: Int
    public var detail: Int

    public init(statusClass: Int, subject: Int, detail: Int) {
        self.statusClass = statusClass
        self.subject = subject
        self.detail = detail
    }

    public var description: String { "\(statusClass).\(subject).\(detail)" }

    public enum Class: Sendable, Hashable {
        case success, persistentTransient, permanent
    }

    public var kind: Class {
        switch statusClass {
        case 2: return .success
        case 4: return .persistentTransient
        default: return .permanent
        }
    }

    /// Parses exactly `d.ddd.ddd` (surrounding blanks allowed).
    public init?(_ text: String) {
        let b = Array(text.utf8)
        let t = ByteScan.trim(b[...])
        guard let (code, end) = StatusCode.parse(t, at: t.startIndex), end == t.endIndex else { return nil }
        self = code
    }

    static func parse(_ b: ArraySlice<UInt8>, at start: Int) -> (StatusCode, Int)? {
        var i = start
        guard i < b.endIndex, b[i] == 0x32 || b[i] == 0x34 || b[i] == 0x35 else { return nil }
        let cls = Int(b[i] - 0x30)
        i += 1
        guard i < b.endIndex, b[i] == 0x2E else { return nil }
        i += 1
        var subject = 0
        var digits = 0
        while i < b.endIndex, b[i].isASCIIDigit, digits < 4 {
            subject = subject * 10 + Int(b[i] - 0x30)
            i += 1
            digits += 1
        }
        guard digits >= 1, digits <= 3, i < b.endIndex, b[i] == 0x2E else { return nil }
        i += 1
        var detail = 0
        digits = 0
        while i < b.endIndex, b[i].isASCIIDigit, digits < 4 {
            detail = detail * 10 + Int(b[i] - 0x30)
            i += 1
            digits += 1
        }
        guard digits >= 1, digits <= 3 else { return nil }
        return (StatusCode(statusClass: cls, subject: subject, detail: detail), i)
    }

    /// Finds the first enhanced status code standing alone in free text (not part of an IP address
    /// or a version number).
    public static func find(in text: ArraySlice<UInt8>) -> StatusCode? {
        findWithRange(in: text)?.code
    }

    public static func find(in text: String) -> StatusCode? { find(in: Array(text.utf8)[...]) }

    public static func findWithRange(in b: ArraySlice<UInt8>) -> (code: StatusCode, range: Range<Int>)? {
        var i = b.startIndex
        while i < b.endIndex {
            let c = b[i]
            if c == 0x32 || c == 0x34 || c == 0x35 {
                let prevOK =
                    i == b.startIndex
                    || !(b[i - 1].isASCIIDigit || b[i - 1] == 0x2E || b[i - 1].isASCIILetter
                        || b[i - 1] == 0x2D || b[i - 1] == 0x2F)
                if prevOK, let (code, end) = parse(b, at: i) {
                    var nextOK = true
                    if end < b.endIndex {
                        let n = b[end]
                        if n.isASCIIDigit || n.isASCIILetter || n == 0x2D || n == 0x3A || n == 0x2F { nextOK = false }
                        if n == 0x2E, end + 1 < b.endIndex, b[end + 1].isASCIIDigit { nextOK = false }
                    }
                    if nextOK { return (code, i..<end) }
                }
            }
            i += 1
        }
        return nil
    }

    /// Finds the enhanced code in SMTP reply text, preferring one right after a reply code
    /// (`550 5.1.1`, `550-5.7.1`, `550-'5.7.1`) over a code written elsewhere.
    public static func findInDiagnostic(_ text: String) -> StatusCode? {
        let b = Array(text.utf8)[...]
        var i = b.startIndex
        while i + 3 < b.endIndex {
            if b[i] == 0x34 || b[i] == 0x35 || b[i] == 0x32, b[i + 1].isASCIIDigit, b[i + 2].isASCIIDigit,
                i == b.startIndex || !b[i - 1].isASCIIDigit && b[i - 1] != 0x2E,
                b[i + 3] == 0x20 || b[i + 3] == 0x2D
            {
                var j = i + 4
                while j < b.endIndex && (b[j] == 0x20 || b[j] == 0x27 || b[j] == 0x22 || b[j] == 0x23 || b[j] == 0x28) {
                    j += 1
                }
                if let (code, end) = parse(b, at: j), end == b.endIndex || !b[end].isASCIIDigit {
                    return code
                }
            }
            i += 1
        }
        return find(in: b)
    }

    /// The fallback when only a basic SMTP reply code is known (protocol-notes §4 table).
    /// The result is a guess and must be flagged as pseudo by the caller.
    public static func pseudo(replyCode: Int, text: String = "") -> StatusCode {
        let lower = text.asciiLowercased
        switch replyCode {
        case 421: return StatusCode(statusClass: 4, subject: 4, detail: 2)
        case 450: return StatusCode(statusClass: 4, subject: 0, detail: 0)
        case 451: return StatusCode(statusClass: 4, subject: 3, detail: 0)
        case 452:
            return lower.hasSubstring("too many recipients")
                ? StatusCode(statusClass: 4, subject: 5, detail: 3) : StatusCode(statusClass: 4, subject: 3, detail: 1)
        case 500: return StatusCode(statusClass: 5, subject: 5, detail: 2)
        case 501: return StatusCode(statusClass: 5, subject: 5, detail: 4)
        case 502, 503: return StatusCode(statusClass: 5, subject: 5, detail: 1)
        case 504: return StatusCode(statusClass: 5, subject: 5, detail: 4)
        case 530: return StatusCode(statusClass: 5, subject: 7, detail: 0)
        case 534: return StatusCode(statusClass: 5, subject: 7, detail: 9)
        case 535: return StatusCode(statusClass: 5, subject: 7, detail: 8)
        case 552:
            return lower.hasSubstring("quota") || lower.hasSubstring("mailbox full")
                || lower.hasSubstring("mailbox is full")
                ? StatusCode(statusClass: 5, subject: 2, detail: 2) : StatusCode(statusClass: 5, subject: 3, detail: 4)
        case 553: return StatusCode(statusClass: 5, subject: 1, detail: 3)
        default:
            switch replyCode / 100 {
            case 2: return StatusCode(statusClass: 2, subject: 0, detail: 0)
            case 4: return StatusCode(statusClass: 4, subject: 0, detail: 0)
            default: return StatusCode(statusClass: 5, subject: 0, detail: 0)
            }
        }
    }
}

/// Finds a basic SMTP reply code (`[245]yz`) standing alone in free text.
public enum ReplyCode {
    public static func find(in b: ArraySlice<UInt8>) -> Int? {
        var i = b.startIndex
        while i + 2 < b.endIndex {
            let c = b[i]
            if c == 0x32 || c == 0x34 || c == 0x35, b[i + 1].isASCIIDigit, b[i + 2].isASCIIDigit,
                b[i + 1] <= 0x35
            {
                let prevOK =
                    i == b.startIndex
                    || !(b[i - 1].isASCIIDigit || b[i - 1].isASCIILetter || b[i - 1] == 0x2E
                        || b[i - 1] == 0x3A || b[i - 1] == 0x2D || b[i - 1] == 0x2F
                        || b[i - 1] == 0x23 || b[i - 1] == 0x3D || b[i - 1] == 0x2B)
                let end = i + 3
                var nextOK = true
                if end < b.endIndex {
                    let n = b[end]
                    nextOK =
                        n == 0x20 || n == 0x2D || n == 0x09 || n == 0x0A || n == 0x0D || n == 0x29 || n == 0x5D
                        || n == 0x2C || n == 0x3B || n == 0x22 || n == 0x27
                }
                if prevOK && nextOK {
                    return Int(b[i] - 0x30) * 100 + Int(b[i + 1] - 0x30) * 10 + Int(b[i + 2] - 0x30)
                }
            }
            i += 1
        }
        return nil
    }

    public static func find(in text: String) -> Int? { find(in: Array(text.utf8)[...]) }
}

extension UInt8 {
    @inlinable var isASCIIDigit: Bool { self >= 0x30 && self <= 0x39 }
    @inlinable var isASCIILetter: Bool { (self | 0x20) >= 0x61 && (self | 0x20) <= 0x7A }
}
