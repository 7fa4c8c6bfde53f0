/// One header field. The raw value keeps the folds; `value` is unfolded and trimmed.
///
///     Subject: =?utf-8?q?caf=C3=A9?=
///      continued
///
/// - SeeAlso: RFC 5322 §2.2, §3.6; RFC 6532 §3.2 (raw UTF-8).
public struct HeaderField: Sendable, Hashable {
    /// The field name's bytes as written, without stray blanks before the colon.
    public let nameBytes: ArraySlice<UInt8>
    /// The field name as written.
    public var name: String { String(decoding: nameBytes, as: UTF8.self) }
    /// The name lower-cased.
    public var lowercasedName: String { name.asciiLowercased }
    /// The bytes after the colon up to the end of the last continuation line (folds kept).
    public let rawValue: ArraySlice<UInt8>
    /// The name's length and first 7 bytes lower-cased: lookups compare this word and touch the
    /// name bytes only for longer names that match it.
    let nameKey: UInt64

    public init(nameBytes: ArraySlice<UInt8>, rawValue: ArraySlice<UInt8>) {
        self.nameBytes = nameBytes
        self.rawValue = rawValue
        nameKey = nameBytes.withUnsafeBufferPointer { HeaderField.key($0) }
    }

    /// For the header parser, which has the name's bytes at hand.
    init(nameBytes: ArraySlice<UInt8>, rawValue: ArraySlice<UInt8>, nameKey: UInt64) {
        self.nameBytes = nameBytes
        self.rawValue = rawValue
        self.nameKey = nameKey
    }

    static func key(_ name: String) -> UInt64 {
        var name = name
        return name.withUTF8 { key($0) }
    }

    @inline(__always)
    static func key(_ b: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var k = UInt64(min(b.count, 255)) << 56
        var shift: UInt64 = 0
        for i in 0..<min(b.count, 7) {
            k |= UInt64(b[i].lowercasedASCII) << shift
            shift += 8
        }
        return k
    }

    public init(name: String, rawValue: ArraySlice<UInt8>) {
        self.init(nameBytes: Array(name.utf8)[...], rawValue: rawValue)
    }

    public init(name: String, value: String) {
        self.init(name: name, rawValue: ArraySlice(Array(value.utf8)))
    }

    /// Case-insensitive (ASCII) comparison of the field name.
    public func hasName(_ other: String) -> Bool {
        let count = nameBytes.count
        guard count == other.utf8.count else { return false }
        var other = other
        return other.withUTF8 { o in
            nameBytes.withUnsafeBufferPointer { n in
                for i in 0..<count where n[i].lowercasedASCII != o[i].lowercasedASCII { return false }
                return true
            }
        }
    }

    /// The unfolded value: line breaks removed (the blank after them kept), then trimmed.
    /// Raw 8-bit bytes are read as UTF-8, or Latin-1 when they are not valid UTF-8.
    public var value: String { decodeUTF8OrLatin1(unfoldedBytes) }

    /// The unfolded value with RFC 2047 encoded words decoded.
    public var decodedValue: String { EncodedWord.decode(value) }

    /// Unfolded, trimmed bytes.
    public var unfoldedBytes: ArraySlice<UInt8> {
        let trimmed = ByteScan.trim(rawValue)
        var hasBreak = false
        for b in trimmed where b.isLineBreak {
            hasBreak = true
            break
        }
        if !hasBreak { return trimmed }
        var out = [UInt8]()
        out.reserveCapacity(trimmed.count)
        for b in trimmed where !b.isLineBreak { out.append(b) }
        return out[...]
    }
}
