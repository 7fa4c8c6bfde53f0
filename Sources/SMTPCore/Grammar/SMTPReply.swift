/// A complete server reply, possibly multiline.
///
///     Reply-line = *( Reply-code "-" [ textstring ] CRLF ) Reply-code [ SP textstring ] CRLF
///
/// - SeeAlso: RFC 5321 §4.2, RFC 2034 (enhanced codes)
public struct SMTPReply: Hashable, Sendable, CustomStringConvertible {
    /// 200...559.
    public let code: Int
    /// The text of each line, without the code and separator.
    public let lines: [String]

    public init(code: Int, lines: [String]) {
        self.code = code
        self.lines = lines.isEmpty ? [""] : lines
    }

    public enum Class: Int, Hashable, Sendable {
        case positiveCompletion = 2
        case positiveIntermediate = 3
        case transientNegative = 4
        case permanentNegative = 5
    }

    public var replyClass: Class { Class(rawValue: code / 100) ?? .permanentNegative }
    public var isPositive: Bool { code / 100 == 2 }
    public var isIntermediate: Bool { code / 100 == 3 }
    public var isTransient: Bool { code / 100 == 4 }
    public var isPermanent: Bool { code / 100 == 5 }

    /// The enhanced status code at the start of the first line, if its class
    /// agrees with the reply code's first digit.
    public var enhancedCode: EnhancedStatusCode? {
        guard let first = lines.first, let (code, _) = EnhancedStatusCode.parsePrefix(Array(first.utf8)[...]) else {
            return nil
        }
        return code.statusClass == self.code / 100 ? code : nil
    }

    /// The text with the enhanced code stripped, lines joined by a space.
    public var text: String {
        lines.map { line -> String in
            let bytes = Array(line.utf8)
            if let (_, n) = EnhancedStatusCode.parsePrefix(bytes[...]) {
                return String(decoding: bytes[n...].drop(while: { $0 == 0x20 }), as: UTF8.self)
            }
            return line
        }.joined(separator: " ")
    }

    /// The wire form, one line per element ("250-...", "250 ...").
    public var wireLines: [String] {
        lines.enumerated().map { i, l in
            let sep = i == lines.count - 1 ? " " : "-"
            return l.isEmpty && i == lines.count - 1 ? "\(code)" : "\(code)\(sep)\(l)"
        }
    }

    public var description: String { wireLines.joined(separator: "\n") }
}
