import MailCore

/// `RET=FULL` or `RET=HDRS`: what a failure report returns. RFC 3461 §4.3.
public enum DSNReturn: String, Hashable, Sendable, CaseIterable {
    case full = "FULL"
    case headers = "HDRS"
}

/// `NOTIFY=NEVER` or a comma list of SUCCESS, FAILURE, DELAY. RFC 3461 §4.1.
public struct DSNNotify: Hashable, Sendable, CustomStringConvertible {
    public enum Condition: String, Hashable, Sendable, CaseIterable, Comparable {
        case success = "SUCCESS"
        case failure = "FAILURE"
        case delay = "DELAY"

        public static func < (a: Condition, b: Condition) -> Bool {
            allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
        }
    }

    /// Empty means NEVER.
    public let conditions: Set<Condition>

    public static let never = DSNNotify(uncheckedConditions: [])
    public static let all = DSNNotify(uncheckedConditions: [.success, .failure, .delay])

    private init(uncheckedConditions: Set<Condition>) { self.conditions = uncheckedConditions }

    public init(_ conditions: Set<Condition>) throws {
        guard !conditions.isEmpty else { throw SMTPSyntaxError(.emptyValue, "NOTIFY") }
        self.conditions = conditions
    }

    public var isNever: Bool { conditions.isEmpty }

    /// Parses `NEVER` or `success,failure,delay` (case-insensitive, no spaces).
    public init(parsing text: String) throws {
        // Check octets first: a CR/LF must be reported as such, and Unicode case
        // folding must not turn "ſuccess" into SUCCESS.
        if text.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) { throw SMTPSyntaxError(.controlCharacter, "NOTIFY") }
        if text.utf8.contains(where: { $0 >= 0x80 }) { throw SMTPSyntaxError(.nonASCII, "NOTIFY") }
        let items = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.uppercased() }
        guard !items.isEmpty, items.allSatisfy({ !$0.isEmpty }) else {
            throw SMTPSyntaxError(.invalidParameter, "NOTIFY")
        }
        if items.contains("NEVER") {
            guard items.count == 1 else { throw SMTPSyntaxError(.notifyNeverCombined, "NOTIFY") }
            self.conditions = []
            return
        }
        var set = Set<Condition>()
        for item in items {
            guard let c = Condition(rawValue: item) else {
                throw SMTPSyntaxError(.invalidParameter, "NOTIFY value \(item.debugDescription)")
            }
            guard set.insert(c).inserted else { throw SMTPSyntaxError(.duplicateParameter, "NOTIFY") }
        }
        self.conditions = set
    }

    public var description: String {
        isNever ? "NEVER" : conditions.sorted().map(\.rawValue).joined(separator: ",")
    }
}

/// `ENVID=<xtext>`: an opaque envelope identifier echoed as
/// `Original-Envelope-Id`. RFC 3461 §4.4. The value must be printable
/// US-ASCII before encoding and at most 100 characters after it.
public struct EnvelopeID: Hashable, Sendable, CustomStringConvertible {
    public let value: String
    public static let maxEncodedLength = 100

    public init(_ value: String) throws {
        guard !value.isEmpty else { throw SMTPSyntaxError(.emptyValue, "ENVID") }
        guard value.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
            throw SMTPSyntaxError(
                value.utf8.contains { $0 < 0x20 || $0 == 0x7F } ? .controlCharacter : .nonASCII, "ENVID")
        }
        guard XText.encode(value).utf8.count <= Self.maxEncodedLength else {
            throw SMTPSyntaxError(.tooLong(limit: Self.maxEncodedLength), "ENVID (xtext-encoded)")
        }
        self.value = value
    }

    public var encoded: String { XText.encode(value) }
    public var description: String { value }
}

/// `ORCPT=<addr-type>;<xtext>`: the original recipient. RFC 3461 §4.2,
/// RFC 6533 §3 for the `utf-8` address type.
public struct OriginalRecipient: Hashable, Sendable {
    public let addressType: String
    public let address: String
    public static let maxParameterLength = 500

    /// `rfc822` for ASCII addresses, `utf-8` (with `\x{...}` escapes) otherwise.
    public init(_ mailbox: SMTPMailbox) throws {
        try self.init(address: mailbox.description)
    }

    public init(address: String, addressType: String? = nil) throws {
        guard !address.isEmpty else { throw SMTPSyntaxError(.emptyValue, "ORCPT") }
        guard !address.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
            throw SMTPSyntaxError(.controlCharacter, "ORCPT")
        }
        let ascii = address.utf8.allSatisfy { $0 < 0x80 }
        let type = addressType ?? (ascii ? "rfc822" : "utf-8")
        guard !type.isEmpty, type.utf8.allSatisfy({ Self.isAtomChar($0) }) else {
            throw SMTPSyntaxError(.invalidParameter, "ORCPT address type")
        }
        if type.lowercased() == "rfc822" && !ascii { throw SMTPSyntaxError(.nonASCII, "ORCPT rfc822 address") }
        self.addressType = type
        self.address = address
        guard ("ORCPT=" + encodedValue).utf8.count <= Self.maxParameterLength else {
            throw SMTPSyntaxError(.tooLong(limit: Self.maxParameterLength), "ORCPT")
        }
    }

    private static func isAtomChar(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
            || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || b == UInt8(ascii: "-")
    }

    /// The parameter value: `rfc822;alice@example.org` with xtext, or the
    /// RFC 6533 utf-8-addr-xtext form.
    public var encodedValue: String {
        if addressType.lowercased() == "utf-8" {
            return addressType + ";" + Self.utf8AddrXText(address)
        }
        return addressType + ";" + XText.encode(address)
    }

    /// utf-8-addr-xtext: QCHAR passes, everything else becomes `\x{HEX}`.
    static func utf8AddrXText(_ s: String) -> String {
        var out = ""
        for scalar in s.unicodeScalars {
            let v = scalar.value
            let isQChar =
                (0x21...0x2A).contains(v) || (0x2C...0x3C).contains(v) || (0x3E...0x5B).contains(v)
                || (0x5D...0x7E).contains(v)
            if isQChar {
                out.unicodeScalars.append(scalar)
            } else {
                out += "\\x{" + String(v, radix: 16, uppercase: true) + "}"
            }
        }
        return out
    }
}

/// `BODY=7BIT` / `BODY=8BITMIME` (RFC 6152).
public enum MailBody: String, Hashable, Sendable {
    case sevenBit = "7BIT"
    case eightBitMIME = "8BITMIME"
}

/// ESMTP parameters of `MAIL FROM`.
public struct MailParameters: Hashable, Sendable {
    public var size: Int?
    public var body: MailBody?
    public var smtpUTF8: Bool
    public var ret: DSNReturn?
    public var envelopeID: EnvelopeID?

    public init(
        size: Int? = nil, body: MailBody? = nil, smtpUTF8: Bool = false, ret: DSNReturn? = nil,
        envelopeID: EnvelopeID? = nil
    ) {
        self.size = size
        self.body = body
        self.smtpUTF8 = smtpUTF8
        self.ret = ret
        self.envelopeID = envelopeID
    }

    public var usesDSN: Bool { ret != nil || envelopeID != nil }

    var encoded: [String] {
        var out: [String] = []
        if let size { out.append("SIZE=\(size)") }
        if let body { out.append("BODY=\(body.rawValue)") }
        if smtpUTF8 { out.append("SMTPUTF8") }
        if let ret { out.append("RET=\(ret.rawValue)") }
        if let envelopeID { out.append("ENVID=\(envelopeID.encoded)") }
        return out
    }
}

/// ESMTP parameters of `RCPT TO`.
public struct RcptParameters: Hashable, Sendable {
    public var notify: DSNNotify?
    public var originalRecipient: OriginalRecipient?

    public init(notify: DSNNotify? = nil, originalRecipient: OriginalRecipient? = nil) {
        self.notify = notify
        self.originalRecipient = originalRecipient
    }

    public var usesDSN: Bool { notify != nil || originalRecipient != nil }

    var encoded: [String] {
        var out: [String] = []
        if let notify { out.append("NOTIFY=\(notify)") }
        if let originalRecipient { out.append("ORCPT=\(originalRecipient.encodedValue)") }
        return out
    }
}
