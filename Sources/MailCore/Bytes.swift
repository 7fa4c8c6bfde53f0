// Byte-level helpers shared by the parsers. Everything works on one buffer with index ranges.

@usableFromInline
enum ASCII {
    static let tab: UInt8 = 0x09
    static let lf: UInt8 = 0x0A
    static let cr: UInt8 = 0x0D
    static let space: UInt8 = 0x20
    static let quote: UInt8 = 0x22
    static let openParen: UInt8 = 0x28
    static let closeParen: UInt8 = 0x29
    static let plus: UInt8 = 0x2B
    static let dash: UInt8 = 0x2D
    static let colon: UInt8 = 0x3A
    static let semicolon: UInt8 = 0x3B
    static let less: UInt8 = 0x3C
    static let equals: UInt8 = 0x3D
    static let greater: UInt8 = 0x3E
    static let question: UInt8 = 0x3F
    static let at: UInt8 = 0x40
    static let backslash: UInt8 = 0x5C
    static let underscore: UInt8 = 0x5F
}

extension UInt8 {
    @inlinable var isBlank: Bool { self == 0x20 || self == 0x09 }
    @inlinable var isLineBreak: Bool { self == 0x0A || self == 0x0D }
    @inlinable var isWhitespace: Bool { self == 0x20 || self == 0x09 || self == 0x0A || self == 0x0D }
    @inlinable var isDigit: Bool { self >= 0x30 && self <= 0x39 }
    @inlinable var isAlpha: Bool { (self | 0x20) >= 0x61 && (self | 0x20) <= 0x7A }
    @inlinable var lowercasedASCII: UInt8 { (self >= 0x41 && self <= 0x5A) ? self | 0x20 : self }
    @inlinable var hexValue: UInt8? {
        switch self {
        case 0x30...0x39: return self - 0x30
        case 0x41...0x46: return self - 0x41 + 10
        case 0x61...0x66: return self - 0x61 + 10
        default: return nil
        }
    }
}

/// A line inside a buffer: `content` excludes the line break, `next` is the index after it.
public struct LineSpan: Sendable, Hashable {
    public var start: Int
    public var end: Int
    public var next: Int

    @inlinable
    public init(start: Int, end: Int, next: Int) {
        self.start = start
        self.end = end
        self.next = next
    }
}

public enum ByteScan {
    /// Finds the line starting at `start`. CRLF, LF and lone CR all end a line.
    @inlinable
    public static func line(in buffer: UnsafeBufferPointer<UInt8>, from start: Int, limit: Int) -> LineSpan {
        let i = nextLineBreak(in: buffer, from: start, limit: limit)
        if i >= limit { return LineSpan(start: start, end: limit, next: limit) }
        if buffer[i] == 0x0D && i + 1 < limit && buffer[i + 1] == 0x0A {
            return LineSpan(start: start, end: i, next: i + 2)
        }
        return LineSpan(start: start, end: i, next: i + 1)
    }

    /// The index of the next CR or LF at or after `start`, or `limit`. Scans 16 bytes at a time.
    @inlinable
    public static func nextLineBreak(in buffer: UnsafeBufferPointer<UInt8>, from start: Int, limit: Int) -> Int {
        var i = start
        if let base = buffer.baseAddress {
            let raw = UnsafeRawPointer(base)
            let lf = SIMD16<UInt8>(repeating: 0x0A)
            let cr = SIMD16<UInt8>(repeating: 0x0D)
            while i + 16 <= limit {
                let v = raw.loadUnaligned(fromByteOffset: i, as: SIMD16<UInt8>.self)
                let m = (v .== lf) .| (v .== cr)
                if any(m) { return i + firstLane(m) }
                i += 16
            }
        }
        while i < limit {
            let b = buffer[i]
            if b == 0x0A || b == 0x0D { return i }
            i += 1
        }
        return limit
    }

    /// The first set lane of a non-empty mask (lanes in memory order, little-endian words).
    @inlinable
    static func firstLane(_ m: SIMDMask<SIMD16<Int8>>) -> Int {
        let lanes = unsafeBitCast(SIMD16<UInt8>(repeating: 0).replacing(with: 1, where: m), to: (UInt64, UInt64).self)
        return lanes.0 != 0 ? lanes.0.trailingZeroBitCount >> 3 : 8 + lanes.1.trailingZeroBitCount >> 3
    }

    /// Case-insensitive search of an ASCII needle (given lower-cased) in `bytes`.
    public static func firstIndex(ofLowercased needle: [UInt8], in bytes: ArraySlice<UInt8>) -> Int? {
        guard let first = needle.first, needle.count <= bytes.count else { return nil }
        return bytes.withUnsafeBufferPointer { buf -> Int? in
            let n = needle.count
            let last = buf.count - n
            if last < 0 { return nil }
            let upperFirst: UInt8 = (first >= 0x61 && first <= 0x7A) ? first - 0x20 : first
            var i = 0
            while i <= last {
                let b = buf[i]
                if b == first || b == upperFirst {
                    var j = 1
                    while j < n && buf[i + j].lowercasedASCII == needle[j] { j += 1 }
                    if j == n { return bytes.startIndex + i }
                }
                i += 1
            }
            return nil
        }
    }

    /// Exact byte search (use on pre-lower-cased text with a lower-case needle). Candidates are
    /// found 16 positions at a time by matching the needle's first and last byte.
    public static func firstIndex(of needle: [UInt8], in bytes: ArraySlice<UInt8>) -> Int? {
        let n = needle.count
        guard n > 0, n <= bytes.count else { return n == 0 ? bytes.startIndex : nil }
        return needle.withUnsafeBufferPointer { nb -> Int? in
            bytes.withUnsafeBufferPointer { buf -> Int? in
                find(nb, in: buf, from: 0, to: buf.count).map { bytes.startIndex + $0 }
            }
        }
    }

    /// Exact search of `needle` in `buf[from..<to]`; returns an index into `buf`.
    @inlinable
    public static func find(_ nb: UnsafeBufferPointer<UInt8>, in buf: UnsafeBufferPointer<UInt8>, from: Int, to: Int)
        -> Int?
    {
        let n = nb.count
        guard n > 0, to - from >= n else { return n == 0 ? from : nil }
        let first = nb[0]
        let lastByte = nb[n - 1]
        let last = to - n
        var i = from
        @inline(__always) func matchesAt(_ p: Int) -> Bool {
            var j = 1
            while j < n - 1 && buf[p + j] == nb[j] { j += 1 }
            return j >= n - 1
        }
        if let base = buf.baseAddress {
            let raw = UnsafeRawPointer(base)
            let f = SIMD16<UInt8>(repeating: first)
            let l = SIMD16<UInt8>(repeating: lastByte)
            while i + 15 <= last {
                let a = raw.loadUnaligned(fromByteOffset: i, as: SIMD16<UInt8>.self)
                let b = raw.loadUnaligned(fromByteOffset: i + n - 1, as: SIMD16<UInt8>.self)
                let m = (a .== f) .& (b .== l)
                if any(m) {
                    // Visit only the matching lanes: one bit per lane in two 64-bit words.
                    let lanes = unsafeBitCast(
                        SIMD16<UInt8>(repeating: 0).replacing(with: 1, where: m),
                        to: (UInt64, UInt64).self)
                    var w = lanes.0
                    while w != 0 {
                        let k = w.trailingZeroBitCount >> 3
                        if matchesAt(i + k) { return i + k }
                        w &= w &- 1
                    }
                    w = lanes.1
                    while w != 0 {
                        let k = 8 + w.trailingZeroBitCount >> 3
                        if matchesAt(i + k) { return i + k }
                        w &= w &- 1
                    }
                }
                i += 16
            }
        }
        while i <= last {
            if buf[i] == first && buf[i + n - 1] == lastByte && matchesAt(i) { return i }
            i += 1
        }
        return nil
    }

    /// Case-insensitive prefix test; `prefix` must be lower-cased ASCII.
    @inlinable
    public static func hasPrefix(_ bytes: ArraySlice<UInt8>, lowercased prefix: [UInt8]) -> Bool {
        guard bytes.count >= prefix.count else { return false }
        var i = bytes.startIndex
        for p in prefix {
            if bytes[i].lowercasedASCII != p { return false }
            i += 1
        }
        return true
    }

    /// Trims blanks and line breaks on both sides.
    @inlinable
    public static func trim(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var s = bytes.startIndex
        var e = bytes.endIndex
        while s < e && bytes[s].isWhitespace { s += 1 }
        while e > s && bytes[e - 1].isWhitespace { e -= 1 }
        return bytes[s..<e]
    }
}

/// Makes a String from bytes: UTF-8 if valid, else Latin-1 so nothing is lost.
public func decodeUTF8OrLatin1<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
    var ascii = true
    for b in bytes where b >= 0x80 {
        ascii = false
        break
    }
    if ascii { return String(decoding: bytes, as: UTF8.self) }
    if let s = String(validating: bytes, as: UTF8.self) { return s }
    return Array(bytes).withUnsafeBufferPointer { latin1String($0) }
}

extension String {
    /// ASCII lower-casing, cheaper than `lowercased()` and locale-free.
    public var asciiLowercased: String {
        var copy = self
        return copy.withUTF8 { buf -> String in
            var needs = false
            for b in buf where b >= 0x41 && b <= 0x5A {
                needs = true
                break
            }
            if !needs { return self }
            return String(unsafeUninitializedCapacity: buf.count) { out in
                for i in 0..<buf.count { out[i] = buf[i].lowercasedASCII }
                return buf.count
            }
        }
    }

    /// Trims ASCII blanks and line breaks.
    public var trimmedBlanks: String {
        var copy = self
        return copy.withUTF8 { u -> String in
            var s = 0
            var e = u.count
            while s < e && u[s].isWhitespace { s += 1 }
            while e > s && u[e - 1].isWhitespace { e -= 1 }
            if s == 0 && e == u.count { return self }
            return String(decoding: UnsafeBufferPointer(rebasing: u[s..<e]), as: UTF8.self)
        }
    }

    /// `split(separator:)` for an ASCII separator, comparing UTF-8 bytes instead of Characters
    /// (empty pieces omitted, as `split` does).
    public func splitASCII(_ separator: UInt8) -> [Substring] {
        var out: [Substring] = []
        let u = utf8
        var start = u.startIndex
        var i = start
        while i != u.endIndex {
            if u[i] == separator {
                if start != i { out.append(self[start..<i]) }
                start = u.index(after: i)
            }
            i = u.index(after: i)
        }
        if start != u.endIndex { out.append(self[start..<u.endIndex]) }
        return out
    }
}

extension String {
    /// Byte-wise substring test (no Foundation, no Unicode canonical equivalence): the needle's
    /// UTF-8 bytes appear in the receiver's UTF-8 bytes.
    public func hasSubstring(_ needle: String) -> Bool {
        var haystack = self
        var needle = needle
        return haystack.withUTF8 { h in
            needle.withUTF8 { n in
                if n.isEmpty { return true }
                if n.count > h.count { return false }
                let first = n[0]
                var i = 0
                let last = h.count - n.count
                while i <= last {
                    if h[i] == first {
                        var j = 1
                        while j < n.count && h[i + j] == n[j] { j += 1 }
                        if j == n.count { return true }
                    }
                    i += 1
                }
                return false
            }
        }
    }
}

/// Fast path for contiguous bytes.
public func decodeUTF8OrLatin1(_ bytes: ArraySlice<UInt8>) -> String {
    bytes.withUnsafeBufferPointer { decodeUTF8OrLatin1Buffer($0) }
}

/// Fast path for contiguous bytes.
public func decodeUTF8OrLatin1(_ bytes: [UInt8]) -> String {
    bytes.withUnsafeBufferPointer { decodeUTF8OrLatin1Buffer($0) }
}

/// `String(decoding: bytes, as: UTF8.self).asciiLowercased` in one step (no second String).
func lowercasedString(_ bytes: ArraySlice<UInt8>) -> String {
    bytes.withUnsafeBufferPointer { b -> String in
        for c in b where c >= 0x80 { return String(decoding: b, as: UTF8.self).asciiLowercased }
        return String(unsafeUninitializedCapacity: b.count) { out in
            for i in 0..<b.count { out[i] = b[i].lowercasedASCII }
            return b.count
        }
    }
}

/// Fast path for bytes already in a buffer.
public func decodeUTF8OrLatin1Buffer(_ buf: UnsafeBufferPointer<UInt8>) -> String {
    var ascii = true
    for b in buf where b >= 0x80 {
        ascii = false
        break
    }
    if ascii { return String(decoding: buf, as: UTF8.self) }
    if let s = String(validating: buf, as: UTF8.self) { return s }
    return latin1String(buf)
}

/// Latin-1 → String, transcoding bytes directly to UTF-8.
public func latin1String(_ buf: UnsafeBufferPointer<UInt8>) -> String {
    var high = 0
    for b in buf where b >= 0x80 { high += 1 }
    return String(unsafeUninitializedCapacity: buf.count + high) { out in
        var j = 0
        for b in buf {
            if b < 0x80 {
                out[j] = b
                j += 1
            } else {
                out[j] = 0xC0 | (b >> 6)
                out[j + 1] = 0x80 | (b & 0x3F)
                j += 2
            }
        }
        return j
    }
}
