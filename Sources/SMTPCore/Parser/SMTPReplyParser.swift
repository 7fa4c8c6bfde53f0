/// Incremental reply parser for the client side. Feed it bytes as they come;
/// it hands back complete replies and keeps partial ones.
///
/// Only CRLF ends a line. Limits: 4 KiB per line, 256 lines and 64 KiB per
/// reply (RFC 5321 §4.5.3.1): a server past them is a protocol error.
public struct SMTPReplyParser: Sendable {
    public struct Limits: Hashable, Sendable {
        public var maxLineLength: Int
        public var maxLines: Int
        public var maxReplyLength: Int
        public init(maxLineLength: Int = 4096, maxLines: Int = 256, maxReplyLength: Int = 65536) {
            self.maxLineLength = maxLineLength
            self.maxLines = maxLines
            self.maxReplyLength = maxReplyLength
        }
    }

    public let limits: Limits
    private var buffer: [UInt8] = []
    private var scanned = 0
    private var pendingLines: [String] = []
    private var pendingCode: Int?
    private var pendingOctets = 0

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Octets received but not yet part of a complete reply.
    public var bufferedByteCount: Int { buffer.count + pendingOctets }

    /// Whether a reply has begun but not finished.
    public var hasPartialReply: Bool { !buffer.isEmpty || pendingCode != nil }

    public mutating func append<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        buffer.append(contentsOf: bytes)
    }

    /// Returns the next complete reply, or nil when more bytes are needed.
    public mutating func next() throws -> SMTPReply? {
        while true {
            // Find CRLF from where we stopped scanning.
            var lineEnd: Int?
            var i = scanned
            while i < buffer.count {
                let b = buffer[i]
                if b == 0x0A {
                    guard i > 0, buffer[i - 1] == 0x0D else { throw SMTPSyntaxError(.bareLineEnding, "reply line") }
                    lineEnd = i - 1
                    break
                }
                if b == 0x0D, i + 1 < buffer.count, buffer[i + 1] != 0x0A {
                    throw SMTPSyntaxError(.bareLineEnding, "reply line")
                }
                i += 1
            }
            guard let end = lineEnd else {
                // A CR at the end of the read is judged once the next octet is
                // here: scan it again, or a lone CR split across reads slips through.
                scanned = buffer.last == 0x0D ? buffer.count - 1 : buffer.count
                if buffer.count > limits.maxLineLength { throw SMTPSyntaxError(.replyLineTooLong, "reply line") }
                return nil
            }
            guard end + 2 <= limits.maxLineLength else { throw SMTPSyntaxError(.replyLineTooLong, "reply line") }
            let line = buffer[0..<end]
            buffer.removeSubrange(0..<(end + 2))
            scanned = 0
            pendingOctets += end + 2
            let (code, isLast, text) = try Self.parseLine(line)
            if let pc = pendingCode, pc != code { throw SMTPSyntaxError(.mismatchedReplyCodes, "reply") }
            pendingCode = code
            pendingLines.append(text)
            if pendingLines.count > limits.maxLines || pendingOctets > limits.maxReplyLength {
                throw SMTPSyntaxError(.replyTooLong, "reply")
            }
            if isLast {
                let reply = SMTPReply(code: code, lines: pendingLines)
                pendingLines = []
                pendingCode = nil
                pendingOctets = 0
                return reply
            }
        }
    }

    /// Takes all buffered octets that are not part of a reply (used when TLS
    /// starts: anything left is pre-TLS injection).
    public mutating func drainUnprocessed() -> [UInt8] {
        let rest = buffer
        buffer = []
        scanned = 0
        return rest
    }

    /// Parses one line without CRLF: code, last-line flag, text.
    static func parseLine(_ line: ArraySlice<UInt8>) throws -> (Int, Bool, String) {
        guard line.count >= 3 else { throw SMTPSyntaxError(.invalidReplyCode, "reply line") }
        let s = line.startIndex
        let d = [line[s], line[s + 1], line[s + 2]]
        guard d.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            throw SMTPSyntaxError(.invalidReplyCode, "reply line")
        }
        let code = Int(d[0] - 48) * 100 + Int(d[1] - 48) * 10 + Int(d[2] - 48)
        guard (2...5).contains(code / 100), (code / 10) % 10 <= 5 else {
            throw SMTPSyntaxError(.invalidReplyCode, "reply line")
        }
        if line.count == 3 { return (code, true, "") }
        let sep = line[s + 3]
        let text = String(decoding: line[(s + 4)...], as: UTF8.self)
        switch sep {
        case UInt8(ascii: "-"): return (code, false, text)
        case UInt8(ascii: " "): return (code, true, text)
        default: throw SMTPSyntaxError(.invalidReplyCode, "reply line")
        }
    }
}
