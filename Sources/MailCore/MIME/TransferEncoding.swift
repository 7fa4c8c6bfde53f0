/// Content-Transfer-Encoding values (names are case-insensitive).
/// - SeeAlso: RFC 2045 §6.
public enum TransferEncoding: Sendable, Hashable {
    case sevenBit, eightBit, binary, quotedPrintable, base64
    case other(String)

    public init(headerValue: String?) {
        guard let v = headerValue else {
            self = .sevenBit
            return
        }
        var token = v.asciiLowercased.trimmedBlanks
        if let semi = token.utf8.firstIndex(of: 0x3B) { token = String(token[..<semi]).trimmedBlanks }
        switch token {
        case "", "7bit", "7-bit": self = .sevenBit
        case "8bit", "8-bit": self = .eightBit
        case "binary": self = .binary
        case "quoted-printable", "quoted_printable", "qp": self = .quotedPrintable
        case "base64", "base-64": self = .base64
        default: self = .other(token)
        }
    }

    /// Reads the field's value; the usual bare tokens are matched on the raw bytes without
    /// making Strings, anything else goes through `init(headerValue:)`.
    init(field: HeaderField?) {
        guard let f = field else {
            self = .sevenBit
            return
        }
        let t = ByteScan.trim(f.rawValue)
        if let e = t.withUnsafeBufferPointer({ TransferEncoding.bareToken($0) }) {
            self = e
        } else {
            self.init(headerValue: f.value)
        }
    }

    static func bareToken(_ b: UnsafeBufferPointer<UInt8>) -> TransferEncoding? {
        @inline(__always) func equals(_ word: StaticString) -> Bool {
            guard b.count == word.utf8CodeUnitCount else { return false }
            let w = word.utf8Start
            for i in 0..<b.count where b[i].lowercasedASCII != w[i] { return false }
            return true
        }
        switch b.count {
        case 4:
            if equals("7bit") { return .sevenBit }
            if equals("8bit") { return .eightBit }
        case 6:
            if equals("base64") { return .base64 }
            if equals("binary") { return .binary }
        case 16:
            if equals("quoted-printable") { return .quotedPrintable }
        default: break
        }
        return nil
    }

    /// Undoes the encoding leniently. Identity encodings return the bytes unchanged.
    public func decode(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        switch self {
        case .quotedPrintable: return QuotedPrintable.decode(bytes)[...]
        case .base64: return Base64.decode(bytes)[...]
        default: return bytes
        }
    }
}

/// Quoted-printable, decoded leniently: lower-case hex accepted, a bad `=` kept literally, trailing
/// blanks at line ends dropped, soft breaks (`=` at the end of a line, any line ending) removed.
/// - SeeAlso: RFC 2045 §6.7.
public enum QuotedPrintable {
    public static func decode(_ input: ArraySlice<UInt8>) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(input.count)
        input.withUnsafeBufferPointer { b in
            let n = b.count
            var i = 0
            var blankRunStart = -1  // index in `out` where a run of trailing blanks began
            while i < n {
                let c = b[i]
                if c == ASCII.equals {
                    if i + 2 < n {
                        if let h = b[i + 1].hexValue, let l = b[i + 2].hexValue {
                            out.append(h << 4 | l)
                            blankRunStart = -1
                            i += 3
                            continue
                        }
                    }
                    // Soft line break: "=" followed by optional blanks and a line end (or the end).
                    var j = i + 1
                    while j < n && b[j].isBlank { j += 1 }
                    if j == n {
                        i = n
                        continue
                    }
                    if b[j] == ASCII.cr {
                        i = (j + 1 < n && b[j + 1] == ASCII.lf) ? j + 2 : j + 1
                        continue
                    }
                    if b[j] == ASCII.lf {
                        i = j + 1
                        continue
                    }
                    out.append(c)
                    blankRunStart = -1
                    i += 1
                    continue
                }
                if c.isBlank {
                    if blankRunStart < 0 { blankRunStart = out.count }
                    out.append(c)
                    i += 1
                    continue
                }
                if c == ASCII.cr || c == ASCII.lf {
                    if blankRunStart >= 0 { out.removeSubrange(blankRunStart...) }
                    blankRunStart = -1
                    out.append(c)
                    i += 1
                    continue
                }
                blankRunStart = -1
                out.append(c)
                i += 1
            }
        }
        return out
    }
}

/// Base64, decoded leniently: characters outside the alphabet are skipped, decoding stops at the
/// padding. Also used for RFC 2047 "B" words.
/// - SeeAlso: RFC 2045 §6.8.
public enum Base64 {
    static let table: [UInt8] = {
        var t = [UInt8](repeating: 0xFF, count: 256)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        for (i, c) in alphabet.enumerated() { t[Int(c)] = UInt8(i) }
        t[Int(UInt8(ascii: "-"))] = 62  // URL-safe variants, seen in the wild
        t[Int(UInt8(ascii: "_"))] = 63
        return t
    }()

    public static func decode<C: Collection>(_ input: C) -> [UInt8] where C.Element == UInt8 {
        var out = [UInt8]()
        out.reserveCapacity(input.count * 3 / 4)
        var acc: UInt32 = 0
        var bits = 0
        let table = Base64.table
        for c in input {
            if c == ASCII.equals { break }
            let v = table[Int(c)]
            if v == 0xFF { continue }
            acc = (acc << 6) | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: acc >> UInt32(bits)))
                acc &= (1 << UInt32(bits)) - 1
            }
        }
        return out
    }

    public static func encode(_ input: [UInt8], lineLength: Int = 76) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out = [UInt8]()
        var col = 0
        var i = 0
        while i < input.count {
            let b0 = input[i]
            let b1: UInt8 = i + 1 < input.count ? input[i + 1] : 0
            let b2: UInt8 = i + 2 < input.count ? input[i + 2] : 0
            out.append(alphabet[Int(b0 >> 2)])
            out.append(alphabet[Int((b0 & 0x03) << 4 | b1 >> 4)])
            out.append(i + 1 < input.count ? alphabet[Int((b1 & 0x0F) << 2 | b2 >> 6)] : ASCII.equals)
            out.append(i + 2 < input.count ? alphabet[Int(b2 & 0x3F)] : ASCII.equals)
            i += 3
            col += 4
            if lineLength > 0 && col >= lineLength && i < input.count {
                out.append(ASCII.cr)
                out.append(ASCII.lf)
                col = 0
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
