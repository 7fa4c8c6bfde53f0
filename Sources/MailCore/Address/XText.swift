/// xtext (RFC 3461 §4) and the RFC 6533 `\x{HEX}` embedded Unicode form.
///
///     xtext    = *( xchar / hexchar )
///     xchar    = %x21-2A / %x2C-3C / %x3E-7E
///     hexchar  = "+" 2( DIGIT / %x41-46 )
///     EmbeddedUnicodeChar = "\x{" HEXPOINT "}"
public enum XText {
    /// Encodes: octets 0x21–0x7E other than `+` and `=` pass, everything else becomes `+HH` (upper case).
    public static func encode<S: Sequence>(_ octets: S) -> String where S.Element == UInt8 {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for b in octets {
            if b >= 0x21 && b <= 0x7E && b != ASCII.plus && b != ASCII.equals {
                out.append(b)
            } else {
                out.append(ASCII.plus)
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func encode(_ text: String) -> String { encode(text.utf8) }

    /// Decodes strictly, for what a peer sends us (ESMTP `ENVID`/`ORCPT`): nil for a `+` not
    /// followed by two hex digits (either case) or a raw octet outside xchar (SP, `=`, CTL, 8-bit).
    public static func decodeStrict(_ text: String) -> [UInt8]? {
        let b = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(b.count)
        var i = 0
        while i < b.count {
            if b[i] == ASCII.plus {
                guard i + 2 < b.count, let h = b[i + 1].hexValue, let l = b[i + 2].hexValue else { return nil }
                out.append(h << 4 | l)
                i += 3
            } else if b[i] >= 0x21 && b[i] <= 0x7E && b[i] != ASCII.equals {
                out.append(b[i])
                i += 1
            } else {
                return nil
            }
        }
        return out
    }

    /// Decodes leniently: `+HH` (either case) becomes the octet; a `+` not followed by two hex
    /// digits is kept literally. Non-UTF-8 results are read as Latin-1.
    public static func decode(_ text: String) -> String {
        let b = Array(text.utf8)
        guard b.contains(ASCII.plus) else { return text }
        var out: [UInt8] = []
        out.reserveCapacity(b.count)
        var i = 0
        while i < b.count {
            if b[i] == ASCII.plus, i + 2 < b.count,
                let h = b[i + 1].hexValue, let l = b[i + 2].hexValue
            {
                out.append(h << 4 | l)
                i += 3
            } else {
                out.append(b[i])
                i += 1
            }
        }
        return decodeUTF8OrLatin1(out)
    }

    /// True if the text is valid xtext (strict: upper-case hex only).
    public static func isValid(_ text: String) -> Bool {
        let b = Array(text.utf8)
        var i = 0
        while i < b.count {
            let c = b[i]
            if c == ASCII.plus {
                guard i + 2 < b.count, b[i + 1].hexValue != nil, b[i + 2].hexValue != nil,
                    !(b[i + 1] >= 0x61), !(b[i + 2] >= 0x61)
                else { return false }
                i += 3
                continue
            }
            if c < 0x21 || c > 0x7E || c == ASCII.equals { return false }
            i += 1
        }
        return true
    }

    /// Decodes RFC 6533 `\x{HEX}` escapes (2–6 hex digits naming a Unicode scalar). Anything invalid
    /// is kept literally.
    public static func decodeUnitext(_ text: String) -> String {
        let b = Array(text.utf8)
        guard b.contains(ASCII.backslash) else { return text }
        var out = ""
        var plain: [UInt8] = []
        var i = 0
        while i < b.count {
            if b[i] == ASCII.backslash, i + 3 < b.count, b[i + 1] == 0x78, b[i + 2] == 0x7B {
                var j = i + 3
                var v: UInt32 = 0
                while j < b.count, j - (i + 3) < 7, let h = b[j].hexValue {
                    v = v << 4 | UInt32(h)
                    j += 1
                }
                let digits = j - (i + 3)
                if j < b.count, b[j] == 0x7D, digits >= 1, digits <= 6, let scalar = Unicode.Scalar(v) {
                    out += decodeUTF8OrLatin1(plain)
                    plain.removeAll()
                    out.unicodeScalars.append(scalar)
                    i = j + 1
                    continue
                }
            }
            plain.append(b[i])
            i += 1
        }
        out += decodeUTF8OrLatin1(plain)
        return out
    }
}
