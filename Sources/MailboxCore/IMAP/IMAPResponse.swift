/// One server response (RFC 9051 §7): untagged data, a continuation
/// request, or the tagged completion of a command.
public enum IMAPResponse: Hashable, Sendable {
    case untagged(IMAPUntaggedResponse)
    /// `+ text`: send the next part of the command (literal, SASL data), or IDLE is running.
    case continuation(String)
    case tagged(IMAPTaggedResponse)
}

public enum IMAPStatus: String, Hashable, Sendable {
    case ok = "OK"
    case no = "NO"
    case bad = "BAD"
}

/// `a1 OK [CODE ...] text`
public struct IMAPTaggedResponse: Hashable, Sendable {
    public var tag: String
    public var status: IMAPStatus
    public var code: IMAPResponseCode?
    public var text: String

    public init(tag: String, status: IMAPStatus, code: IMAPResponseCode? = nil, text: String) {
        self.tag = tag
        self.status = status
        self.code = code
        self.text = text
    }
}

/// The bracketed response codes we act on (RFC 9051 §7.1, RFC 5530, RFC 4315).
public enum IMAPResponseCode: Hashable, Sendable {
    case capability([String])
    case uidValidity(UInt32)
    case uidNext(UInt32)
    case alert
    case authenticationFailed
    case unavailable
    case tryCreate
    case readWrite
    case readOnly
    case permanentFlags([String])
    /// `[COPYUID uidvalidity source-uids destination-uids]`
    case copyUID(uidValidity: UInt32, source: IMAPSequenceSet, destination: IMAPSequenceSet)
    /// `[APPENDUID uidvalidity uid]`
    case appendUID(uidValidity: UInt32, uid: UInt32)
    /// Any other code, upper-cased name and the raw rest.
    case other(String, String?)
}

/// `* ...`
public enum IMAPUntaggedResponse: Hashable, Sendable {
    public enum ConditionKind: String, Hashable, Sendable {
        case ok = "OK", no = "NO", bad = "BAD", bye = "BYE", preauth = "PREAUTH"
    }
    /// `* OK|NO|BAD|BYE|PREAUTH [code] text`
    case condition(ConditionKind, IMAPResponseCode?, String)
    case capability([String])
    case exists(Int)
    case expunge(Int)
    case recent(Int)
    case flags([String])
    /// `* SEARCH 4 9 12` (UIDs for UID SEARCH).
    case search([UInt32])
    /// `* ESEARCH (TAG "a5") UID ALL 4101,4107 COUNT 2`
    case esearch(IMAPESearch)
    case fetch(sequenceNumber: Int, IMAPFetchAttributes)
    /// Anything else: the keyword and the raw rest (LIST, STATUS, ENABLED, ...).
    case other(String, String)
}

public struct IMAPESearch: Hashable, Sendable {
    public var tag: String?
    public var uid: Bool
    public var all: IMAPSequenceSet?
    public var count: Int?
    public var min: UInt32?
    public var max: UInt32?

    public init(
        tag: String? = nil, uid: Bool = false, all: IMAPSequenceSet? = nil, count: Int? = nil, min: UInt32? = nil,
        max: UInt32? = nil
    ) {
        self.tag = tag
        self.uid = uid
        self.all = all
        self.count = count
        self.min = min
        self.max = max
    }
}

/// The items of a FETCH response we use; the rest are skipped.
public struct IMAPFetchAttributes: Hashable, Sendable {
    public var uid: UInt32?
    public var rfc822Size: Int?
    /// `BODY[]` octets; nil when absent.
    public var body: [UInt8]?
    /// True when the server answered `BODY[] NIL` (the message is gone).
    public var bodyIsNil: Bool
    /// Other sections, e.g. "HEADER" → octets.
    public var sections: [String: [UInt8]]
    public var flags: [String]?
    public var internalDate: String?

    public init(
        uid: UInt32? = nil, rfc822Size: Int? = nil, body: [UInt8]? = nil, bodyIsNil: Bool = false,
        sections: [String: [UInt8]] = [:], flags: [String]? = nil, internalDate: String? = nil
    ) {
        self.uid = uid
        self.rfc822Size = rfc822Size
        self.body = body
        self.bodyIsNil = bodyIsNil
        self.sections = sections
        self.flags = flags
        self.internalDate = internalDate
    }
}

/// A set of UIDs or sequence numbers: `1,4:7,9`. `*` is represented as
/// `UInt32.max` (only meaningful in commands).
public struct IMAPSequenceSet: Hashable, Sendable, CustomStringConvertible {
    public var ranges: [ClosedRange<UInt32>]

    public init(_ ranges: [ClosedRange<UInt32>]) {
        self.ranges = ranges
    }

    /// Groups numbers into ranges, sorted and de-duplicated.
    public init<S: Sequence>(numbers: S) where S.Element == UInt32 {
        var out: [ClosedRange<UInt32>] = []
        for n in Set(numbers).sorted() {
            if let last = out.last, last.upperBound != UInt32.max, last.upperBound + 1 == n {
                out[out.count - 1] = last.lowerBound...n
            } else {
                out.append(n...n)
            }
        }
        ranges = out
    }

    /// Everything from `n` upwards: `n:*`.
    public static func from(_ n: UInt32) -> IMAPSequenceSet { IMAPSequenceSet([n...UInt32.max]) }

    public var isEmpty: Bool { ranges.isEmpty }

    /// The numbers, up to `limit` of them (a hostile `1:4294967295` must not
    /// allocate 16 GiB).
    public func expanded(limit: Int = 1_000_000) throws(IMAPParseError) -> [UInt32] {
        var out: [UInt32] = []
        for r in ranges {
            if r.upperBound == UInt32.max { throw IMAPParseError("open-ended set cannot be expanded") }
            if out.count + Int(r.upperBound - r.lowerBound) + 1 > limit {
                throw IMAPParseError("set holds more than \(limit) numbers")
            }
            out.append(contentsOf: r)
        }
        return out
    }

    public var description: String {
        ranges.map { r -> String in
            let hi = r.upperBound == UInt32.max ? "*" : String(r.upperBound)
            return r.lowerBound == r.upperBound ? hi : "\(r.lowerBound):\(hi)"
        }.joined(separator: ",")
    }
}

public struct IMAPParseError: Error, Hashable, Sendable, CustomStringConvertible {
    public var hint: String
    public var offset: Int?

    public init(_ hint: String, offset: Int? = nil) {
        self.hint = hint
        self.offset = offset
    }

    public var description: String {
        offset.map { "\(hint) (at octet \($0))" } ?? hint
    }
}
