/// RFC 2047 encoded words.
///
///     encoded-word = "=?" charset ["*" lang] "?" encoding "?" encoded-text "?="
///
/// Whitespace between adjacent encoded words disappears; next to plain text it stays. The bytes of
/// adjacent words in the same charset are joined before conversion, so multi-byte characters split
/// across words survive. Words that do not decode are kept raw.
/// - SeeAlso: RFC 2047 §2, §4, §6.2; RFC 2231 §5 (language suffix).
public enum EncodedWord {
    public static func decode(_ text: String) -> String {
        // Fast path: no "=?" at all.
        let bytes = Array(text.utf8)
        var found = false
        if bytes.count >= 8 {
            for i in 0..<(bytes.count - 1) where bytes[i] == ASCII.equals && bytes[i + 1] == ASCII.question {
                found = true
                break
            }
        }
        if !found { return text }

        var out = ""
        var pendingCharset: String?
        var pendingBytes: [UInt8] = []
        var pendingBlank: [UInt8] = []  // plain whitespace seen after an encoded word
        var plain: [UInt8] = []

        func flushEncoded() {
            if let cs = pendingCharset {
                out += Charset.decode(pendingBytes, charset: cs).string
                pendingCharset = nil
                pendingBytes.removeAll(keepingCapacity: true)
            }
        }
        func flushPlain() {
            if !plain.isEmpty {
                out += decodeUTF8OrLatin1(plain)
                plain.removeAll(keepingCapacity: true)
            }
        }

        var i = 0
        let n = bytes.count
        while i < n {
            if bytes[i] == ASCII.equals, i + 1 < n, bytes[i + 1] == ASCII.question,
                let word = parseWord(bytes, at: i)
            {
                // Whitespace between two encoded words disappears (pendingBlank is only filled then).
                pendingBlank.removeAll(keepingCapacity: true)
                flushPlain()
                if let cs = pendingCharset, cs != word.charset { flushEncoded() }
                pendingCharset = word.charset
                pendingBytes.append(contentsOf: word.bytes)
                i = word.end
                continue
            }
            let b = bytes[i]
            if pendingCharset != nil && b.isWhitespace {
                pendingBlank.append(b)
                i += 1
                continue
            }
            if pendingCharset != nil {
                flushEncoded()
                plain.append(contentsOf: pendingBlank)
                pendingBlank.removeAll(keepingCapacity: true)
            }
            plain.append(b)
            i += 1
        }
        flushPlain()
        flushEncoded()
        if !pendingBlank.isEmpty { out += decodeUTF8OrLatin1(pendingBlank) }
        return out
    }

    struct Word {
        var charset: String
        var bytes: [UInt8]
        var end: Int
    }

    static func parseWord(_ b: [UInt8], at start: Int) -> Word? {
        let n = b.count
        var i = start + 2
        let csStart = i
        while i < n && b[i] != ASCII.question {
            if b[i].isWhitespace || b[i] < 0x21 { return nil }
            i += 1
        }
        guard i + 3 < n, i > csStart else { return nil }
        var charsetBytes = b[csStart..<i]
        if let star = charsetBytes.firstIndex(of: 0x2A) { charsetBytes = charsetBytes[..<star] }
        let charset = String(decoding: charsetBytes, as: UTF8.self).asciiLowercased
        let enc = b[i + 1].lowercasedASCII
        guard enc == 0x62 || enc == 0x71, b[i + 2] == ASCII.question else { return nil }
        let textStart = i + 3
        var j = textStart
        while j + 1 < n && !(b[j] == ASCII.question && b[j + 1] == ASCII.equals) {
            if b[j] == ASCII.space || b[j].isLineBreak || b[j] == ASCII.tab { return nil }
            j += 1
        }
        guard j + 1 < n else { return nil }
        let text = b[textStart..<j]
        let decoded: [UInt8]
        if enc == 0x62 {
            decoded = Base64.decode(text)
        } else {
            var out = [UInt8]()
            out.reserveCapacity(text.count)
            var k = text.startIndex
            while k < text.endIndex {
                let c = text[k]
                if c == ASCII.underscore {
                    out.append(ASCII.space)
                } else if c == ASCII.equals, k + 2 < text.endIndex,
                    let h = text[k + 1].hexValue, let l = text[k + 2].hexValue
                {
                    out.append(h << 4 | l)
                    k += 3
                    continue
                } else {
                    out.append(c)
                }
                k += 1
            }
            decoded = out
        }
        return Word(charset: charset, bytes: decoded, end: j + 2)
    }
}
