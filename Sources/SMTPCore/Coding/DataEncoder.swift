/// Client-side DATA coding (RFC 5321 §4.5.2, §4.5.3.1.6): CRLF line ends
/// only, lines of at most 998 octets, a leading "." doubled, and the
/// terminating `.` CRLF appended without an extra blank line.
public enum DataEncoder {
    public static let maxLineLength = 998

    /// Turns LF and lone CR line ends of a locally supplied message into CRLF.
    /// Never used on relayed data: only on content we author.
    public static func normalizeLineEndings(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + bytes.count / 40)
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if b == 0x0D {
                out.append(0x0D)
                out.append(0x0A)
                if i + 1 < bytes.count, bytes[i + 1] == 0x0A { i += 1 }
            } else if b == 0x0A {
                out.append(0x0D)
                out.append(0x0A)
            } else {
                out.append(b)
            }
            i += 1
        }
        return out
    }

    /// Dot-stuffs a CRLF message and appends the end-of-data marker. Throws on
    /// a lone CR or LF (smuggling material), NUL, or an over-long line.
    public static func encode(_ message: [UInt8]) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(message.count + 8)
        var lineLength = 0
        var atLineStart = true
        var i = 0
        while i < message.count {
            let b = message[i]
            if b == 0x0D {
                guard i + 1 < message.count, message[i + 1] == 0x0A else {
                    throw SMTPSyntaxError(.bareLineEnding, "message data")
                }
                out.append(0x0D)
                out.append(0x0A)
                i += 2
                lineLength = 0
                atLineStart = true
                continue
            }
            if b == 0x0A { throw SMTPSyntaxError(.bareLineEnding, "message data") }
            if b == 0 { throw SMTPSyntaxError(.controlCharacter, "message data (NUL)") }
            if atLineStart && b == UInt8(ascii: ".") { out.append(b) }
            atLineStart = false
            out.append(b)
            lineLength += 1
            if lineLength > maxLineLength { throw SMTPSyntaxError(.tooLong(limit: maxLineLength), "message line") }
            i += 1
        }
        if !atLineStart {
            out.append(0x0D)
            out.append(0x0A)
        }
        out.append(UInt8(ascii: "."))
        out.append(0x0D)
        out.append(0x0A)
        return out
    }
}
