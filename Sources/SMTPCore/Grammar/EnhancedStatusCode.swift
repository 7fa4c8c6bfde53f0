/// `status-code = class "." subject "." detail` (RFC 3463 §2): class 2, 4
/// or 5, subject and detail 1 to 3 digits without leading zeros.
public struct EnhancedStatusCode: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    public let statusClass: Int
    public let subject: Int
    public let detail: Int

    public init?(statusClass: Int, subject: Int, detail: Int) {
        guard [2, 4, 5].contains(statusClass), (0...999).contains(subject), (0...999).contains(detail) else {
            return nil
        }
        self.statusClass = statusClass
        self.subject = subject
        self.detail = detail
    }

    /// Parses exactly `x.y.z`.
    public init?(_ text: some StringProtocol) {
        guard let (code, length) = Self.parsePrefix(Array(text.utf8)[...]), length == text.utf8.count else {
            return nil
        }
        self = code
    }

    /// Parses an `x.y.z` at the start of `bytes`, followed by SP, end or a
    /// non-digit; returns the code and the octets consumed.
    public static func parsePrefix(_ bytes: ArraySlice<UInt8>) -> (EnhancedStatusCode, Int)? {
        var i = bytes.startIndex
        var parts: [Int] = []
        for n in 0..<3 {
            var value = 0
            var digits = 0
            while i < bytes.endIndex, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") {
                value = value * 10 + Int(bytes[i] - UInt8(ascii: "0"))
                digits += 1
                i += 1
                if digits > 3 { return nil }
            }
            let maxDigits = n == 0 ? 1 : 3
            guard digits >= 1, digits <= maxDigits else { return nil }
            parts.append(value)
            if n < 2 {
                guard i < bytes.endIndex, bytes[i] == UInt8(ascii: ".") else { return nil }
                i += 1
            }
        }
        if i < bytes.endIndex, bytes[i] != 0x20, bytes[i] != 0x09 { return nil }
        guard let code = EnhancedStatusCode(statusClass: parts[0], subject: parts[1], detail: parts[2]) else {
            return nil
        }
        return (code, i - bytes.startIndex)
    }

    public var description: String { "\(statusClass).\(subject).\(detail)" }

    public static func < (a: Self, b: Self) -> Bool {
        (a.statusClass, a.subject, a.detail) < (b.statusClass, b.subject, b.detail)
    }

    public init(from decoder: any Decoder) throws {
        let s = try decoder.singleValueContainer().decode(String.self)
        guard let c = EnhancedStatusCode(s) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not x.y.z"))
        }
        self = c
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
