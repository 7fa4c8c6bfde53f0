/// Address extraction from header values and free text. The one address
/// type with validation and wire form is `SMTPMailbox` (SMTPCore); this
/// finds the addr-spec strings it is made from.
///
///     addr-spec  = local-part "@" domain
///     name-addr  = [display-name] "<" [route ":"] addr-spec ">"
///
/// - SeeAlso: RFC 5322 §3.4, RFC 5321 §4.1.2 (source routes).
public enum AddressParser {
    /// Extracts the addr-spec from a header-style address: `Name <a@b>`, `<a@b>`, `a@b (comment)`,
    /// `"quoted local"@b`, `<@route:a@b>`. Returns the trimmed input when there is no better guess,
    /// or nil for an empty value.
    public static func addrSpec(in value: String) -> String? {
        var value = value
        var lastAngleStart = -1
        var lastAngleEnd = -1
        // Comments removed; every kept byte is a distinct input byte, so `count` bytes suffice.
        let stripped = value.withUTF8 { b in
            [UInt8](unsafeUninitializedCapacity: b.count) { out, kept in
                var n = 0
                var i = 0
                var inQuote = false
                var depth = 0
                while i < b.count {
                    let c = b[i]
                    if inQuote {
                        out[n] = c
                        n += 1
                        if c == ASCII.backslash, i + 1 < b.count {
                            out[n] = b[i + 1]
                            n += 1
                            i += 2
                            continue
                        }
                        if c == ASCII.quote { inQuote = false }
                        i += 1
                        continue
                    }
                    if depth > 0 {
                        if c == ASCII.backslash {
                            i += 2
                            continue
                        }
                        if c == ASCII.openParen { depth += 1 }
                        if c == ASCII.closeParen { depth -= 1 }
                        i += 1
                        continue
                    }
                    switch c {
                    case ASCII.quote:
                        inQuote = true
                        out[n] = c
                        n += 1
                    case ASCII.openParen: depth = 1
                    case ASCII.less:
                        lastAngleStart = n
                        out[n] = c
                        n += 1
                    case ASCII.greater:
                        if lastAngleStart >= 0 && lastAngleEnd < lastAngleStart { lastAngleEnd = n }
                        out[n] = c
                        n += 1
                    default:
                        out[n] = c
                        n += 1
                    }
                    i += 1
                }
                kept = n
            }
        }
        var candidate: ArraySlice<UInt8>
        if lastAngleStart >= 0 {
            let end = lastAngleEnd > lastAngleStart ? lastAngleEnd : stripped.count
            candidate = stripped[(lastAngleStart + 1)..<end]
            // Drop a source route "@a,@b:".
            if candidate.first == ASCII.at, let colon = candidate.firstIndex(of: ASCII.colon) {
                candidate = candidate[(colon + 1)...]
            }
        } else {
            candidate = stripped[...]
        }
        candidate = ByteScan.trim(candidate)
        // Outside quotes, whitespace is not part of an addr-spec: keep the token holding the "@".
        if !candidate.contains(ASCII.quote), candidate.contains(where: { $0.isBlank }) {
            let tokens = candidate.split(whereSeparator: { $0.isBlank })
            if let withAt = tokens.first(where: { $0.contains(ASCII.at) }) { candidate = withAt }
        }
        while let last = candidate.last, last == 0x2E || last == 0x2C || last == ASCII.semicolon {
            candidate = candidate.dropLast()
        }
        if candidate.isEmpty { return nil }
        return decodeUTF8OrLatin1(candidate)
    }

    @inlinable
    static func isLocalChar(_ c: UInt8) -> Bool {
        switch c {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x80...0xFF: return true
        case 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x2F, 0x3D, 0x3F, 0x5E, 0x5F, 0x60, 0x7B, 0x7C,
            0x7D, 0x7E:
            return true
        default: return false
        }
    }

    @inlinable
    static func isDomainChar(_ c: UInt8) -> Bool {
        switch c {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x80...0xFF, 0x2D, 0x2E, 0x5F: return true
        default: return false
        }
    }

    /// Finds addr-specs in free text (for reports without a machine part). The domain must contain
    /// a dot or be an address literal. Returns ranges into `bytes`, in order.
    public static func findAddresses(in bytes: ArraySlice<UInt8>) -> [Range<Int>] {
        var out: [Range<Int>] = []
        let base = bytes.startIndex
        bytes.withUnsafeBufferPointer { buf in
            let n = buf.count
            var i = 0
            var lastEnd = 0
            while i < n {
                guard buf[i] == ASCII.at else {
                    i += 1
                    continue
                }
                var s = i
                while s > lastEnd && isLocalChar(buf[s - 1]) { s -= 1 }
                while s < i && (buf[s] == 0x2E || buf[s] == 0x27 || buf[s] == 0x60 || buf[s] == 0x3D) { s += 1 }
                var e = i + 1
                if e < n && buf[e] == 0x5B {
                    while e < n && buf[e] != 0x5D && !buf[e].isWhitespace { e += 1 }
                    if e < n && buf[e] == 0x5D { e += 1 }
                } else {
                    while e < n && isDomainChar(buf[e]) { e += 1 }
                    while e > i + 1 && (buf[e - 1] == 0x2E || buf[e - 1] == 0x2D) { e -= 1 }
                }
                var hasDot = false
                var k = i + 1
                while k < e {
                    if buf[k] == 0x2E || buf[k] == 0x5B {
                        hasDot = true
                        break
                    }
                    k += 1
                }
                if s < i && e > i + 1 && hasDot {
                    out.append((base + s)..<(base + e))
                    lastEnd = e
                    i = e
                } else {
                    i += 1
                }
            }
        }
        return out
    }
}
