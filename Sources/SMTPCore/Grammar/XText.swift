/// xtext, RFC 3461 §4: octets 0x21–0x7E except "+" and "=" stand for
/// themselves; everything else is "+" followed by two upper-case hex digits.
public enum XText {
    private static let hex: [UInt8] = Array("0123456789ABCDEF".utf8)

    /// Encodes any octets as xtext.
    public static func encode<S: Sequence>(_ octets: S) -> String where S.Element == UInt8 {
        var out: [UInt8] = []
        for b in octets {
            if b >= 0x21 && b <= 0x7E && b != UInt8(ascii: "+") && b != UInt8(ascii: "=") {
                out.append(b)
            } else {
                out.append(UInt8(ascii: "+"))
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func encode(_ string: String) -> String { encode(string.utf8) }

    /// Decodes xtext strictly: returns nil for a "+" not followed by two hex
    /// digits, or a raw octet outside xchar (SP, "=", CTL, 8-bit).
    public static func decodeStrict(_ text: String) -> [UInt8]? {
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "+") {
                guard i + 2 < bytes.count, let h = hexValue(bytes[i + 1]), let l = hexValue(bytes[i + 2]) else { return nil }
                out.append(h << 4 | l)
                i += 3
            } else if b >= 0x21 && b <= 0x7E && b != UInt8(ascii: "=") {
                out.append(b)
                i += 1
            } else {
                return nil
            }
        }
        return out
    }

    private static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
        default: return nil
        }
    }
}
