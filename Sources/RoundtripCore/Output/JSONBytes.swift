/// JSON text (RFC 8259) written straight into a byte buffer, for output that is produced in
/// bulk (`roundtrip parse` prints one object per message): no intermediate values, no
/// Foundation. The caller writes keys in the order it wants (sorted, for our schemas);
/// strings are escaped as RFC 8259 §7 requires and as `JSONEncoder` with
/// `.withoutEscapingSlashes` does: `"` and `\` escaped, control characters as `\b \t \n \f \r`
/// or `\u00XX`, everything else (slashes, non-ASCII) as UTF-8.
public struct JSONBytes: Sendable {
    public var bytes: [UInt8]

    public init(reservingCapacity capacity: Int = 0) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Punctuation, keys and literals the caller knows to be valid JSON.
    @inlinable public mutating func raw(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// `"key":`: the key must not need escaping (our schemas' keys are ASCII letters).
    @inlinable public mutating func key(_ s: StaticString) {
        bytes.append(UInt8(ascii: "\""))
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
    }

    /// `"key":"value"` (or `null`), then `,` unless it is the object's last member.
    public mutating func member(_ name: StaticString, _ value: String?, last: Bool = false) {
        key(name)
        string(value)
        if !last { bytes.append(UInt8(ascii: ",")) }
    }

    /// `"key":true` or `false`, then `,` unless it is the object's last member.
    public mutating func member(_ name: StaticString, _ value: Bool, last: Bool = false) {
        key(name)
        bool(value)
        if !last { bytes.append(UInt8(ascii: ",")) }
    }

    /// `"key":["a","b"]`, then `,` unless it is the object's last member.
    public mutating func member(_ name: StaticString, _ values: [String], last: Bool = false) {
        key(name)
        strings(values)
        if !last { bytes.append(UInt8(ascii: ",")) }
    }

    public mutating func bool(_ b: Bool) {
        if b { raw("true") } else { raw("false") }
    }

    /// A string, or `null`.
    public mutating func string(_ s: String?) {
        guard var s else { return raw("null") }
        s.withUTF8 { string(utf8: $0) }
    }

    /// An array of strings.
    public mutating func strings(_ list: [String]) {
        bytes.append(UInt8(ascii: "["))
        for (i, s) in list.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            string(s)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    /// A string given as UTF-8 (a Swift `String` is always valid UTF-8, so no repair is needed).
    public mutating func string(utf8 s: UnsafeBufferPointer<UInt8>) {
        bytes.append(UInt8(ascii: "\""))
        var clean = 0  // start of the run of octets that need no escape
        for i in 0..<s.count {
            let b = s[i]
            guard b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") else { continue }
            if clean < i { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: s[clean..<i])) }
            clean = i + 1
            bytes.append(UInt8(ascii: "\\"))
            switch b {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes.append(b)
            case 0x08: bytes.append(UInt8(ascii: "b"))
            case 0x09: bytes.append(UInt8(ascii: "t"))
            case 0x0A: bytes.append(UInt8(ascii: "n"))
            case 0x0C: bytes.append(UInt8(ascii: "f"))
            case 0x0D: bytes.append(UInt8(ascii: "r"))
            default:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [
                    UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(b >> 4)], hex[Int(b & 0xF)],
                ])
            }
        }
        if clean < s.count { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: s[clean...])) }
        bytes.append(UInt8(ascii: "\""))
    }
}
