/// One POP3 reply: `+OK text` or `-ERR text`, with an optional response
/// code (`-ERR [IN-USE] ...`, RFC 2449 §8) and, for multi-line replies,
/// the lines that followed, dot-unstuffed (RFC 1939 §3).
public struct POP3Reply: Hashable, Sendable {
    public var isOK: Bool
    /// `IN-USE`, `LOGIN-DELAY`, `SYS/TEMP`, `SYS/PERM`, `AUTH`, ... (upper-cased).
    public var code: String?
    public var text: String
    /// The body of a multi-line reply with CRLF line ends, dots unstuffed,
    /// without the terminating `.` line; nil for single-line replies.
    public var body: [UInt8]?

    public init(isOK: Bool, code: String? = nil, text: String, body: [UInt8]? = nil) {
        self.isOK = isOK
        self.code = code
        self.text = text
        self.body = body
    }

    /// The body's lines as text (CAPA, UIDL, LIST).
    public var lines: [String] {
        guard let body else { return [] }
        var out: [String] = []
        var start = 0
        var i = 0
        while i + 1 < body.count {
            if body[i] == 0x0D, body[i + 1] == 0x0A {
                out.append(String(decoding: body[start..<i], as: UTF8.self))
                i += 2
                start = i
            } else {
                i += 1
            }
        }
        if start < body.count { out.append(String(decoding: body[start...], as: UTF8.self)) }
        return out
    }

    /// The first line as the server sent it.
    public var statusLine: String {
        (isOK ? "+OK" : "-ERR") + (code.map { " [\($0)]" } ?? "") + (text.isEmpty ? "" : " " + text)
    }
}

/// Frames POP3 replies. Whether a `+OK` starts a multi-line reply depends on
/// the command, so the driver queues an expectation per command before it
/// sends it; `-ERR` is always one line.
///
/// Limits: status line 4 KiB (RFC 2449 allows 512; we are lenient), body line
/// 1 MiB, body 50 MiB.
public struct POP3ReplyParser: Sendable {
    public struct Limits: Hashable, Sendable {
        public var statusLineLength: Int
        public var bodyLineLength: Int
        public var bodySize: Int
        public init(statusLineLength: Int = 4096, bodyLineLength: Int = 1 << 20, bodySize: Int = 50 * 1024 * 1024) {
            self.statusLineLength = statusLineLength
            self.bodyLineLength = bodyLineLength
            self.bodySize = bodySize
        }
    }

    public enum Expectation: Hashable, Sendable {
        case singleLine
        /// Multi-line when the status is `+OK`.
        case multiLine
    }

    public let limits: Limits
    private var buffer: [UInt8] = []
    private var position = 0
    /// Where the search for the next LF goes on: bytes before it were looked
    /// at already, so a line that arrives in many pieces is scanned once.
    private var scanned = 0
    private var expectations: [Expectation] = []
    /// A multi-line reply whose status line is read.
    private var partial: POP3Reply?
    private var body: [UInt8] = []

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Queues what the reply to the next command looks like. The greeting
    /// (and anything with no expectation queued) is single-line.
    public mutating func expect(_ e: Expectation) { expectations.append(e) }

    public var bufferedByteCount: Int { buffer.count - position + body.count }

    public mutating func append<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        buffer.append(contentsOf: bytes)
    }

    public mutating func drainUnprocessed() -> [UInt8] {
        let rest = Array(buffer[position...])
        let keep = expectations
        self = POP3ReplyParser(limits: limits)
        expectations = keep
        return rest
    }

    public mutating func next() throws(POP3ParseError) -> POP3Reply? {
        while true {
            let limit = partial == nil ? limits.statusLineLength : limits.bodyLineLength
            guard let line = try nextLine(limit: limit) else { return nil }
            if var reply = partial {
                if line == [UInt8(ascii: ".")] {
                    reply.body = body
                    partial = nil
                    body = []
                    return reply
                }
                // Dot-unstuffing: a line starting with "." lost one.
                let content = line.first == UInt8(ascii: ".") ? line.dropFirst() : line[...]
                guard body.count + content.count + 2 <= limits.bodySize else {
                    throw .bodyTooLarge(limit: limits.bodySize)
                }
                body += content
                body += [0x0D, 0x0A]
                continue
            }
            let reply = try POP3ReplyParser.parseStatus(line)
            let expectation = expectations.isEmpty ? .singleLine : expectations.removeFirst()
            if reply.isOK, expectation == .multiLine {
                partial = reply
                continue
            }
            return reply
        }
    }

    private mutating func nextLine(limit: Int) throws(POP3ParseError) -> [UInt8]? {
        var i = max(position, scanned)
        while i < buffer.count, buffer[i] != 0x0A { i += 1 }
        guard i < buffer.count else {
            scanned = i
            if buffer.count - position > limit { throw .lineTooLong(limit: limit) }
            return nil
        }
        guard i > position, buffer[i - 1] == 0x0D else { throw .bareLineFeed }
        guard i - 1 - position <= limit else { throw .lineTooLong(limit: limit) }
        let line = Array(buffer[position..<(i - 1)])
        position = i + 1
        scanned = position
        if position == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.count < 1 << 20)
            position = 0
            scanned = 0
        } else if position > 1 << 16, position * 2 > buffer.count {
            buffer.removeSubrange(0..<position)
            position = 0
            scanned = 0
        }
        return line
    }

    /// status = ("+OK" / "-ERR") [SP ["[" resp-code "]" SP] text]
    public static func parseStatus(_ line: [UInt8]) throws(POP3ParseError) -> POP3Reply {
        let text = String(decoding: line, as: UTF8.self)
        let isOK: Bool
        var rest: Substring
        if text.hasPrefix("+OK") {
            isOK = true
            rest = text.dropFirst(3)
        } else if text.hasPrefix("-ERR") {
            isOK = false
            rest = text.dropFirst(4)
        } else {
            throw .notAStatusLine(String(text.prefix(80)))
        }
        if let f = rest.first, f != " " { throw .notAStatusLine(String(text.prefix(80))) }
        rest = rest.drop { $0 == " " }
        var code: String?
        if rest.first == "[", let close = rest.firstIndex(of: "]") {
            code = rest[rest.index(after: rest.startIndex)..<close].uppercased()
            rest = rest[rest.index(after: close)...].drop { $0 == " " }
        }
        return POP3Reply(isOK: isOK, code: code, text: String(rest))
    }
}

public enum POP3ParseError: Error, Hashable, Sendable, CustomStringConvertible {
    case lineTooLong(limit: Int)
    case bodyTooLarge(limit: Int)
    case bareLineFeed
    case notAStatusLine(String)

    public var description: String {
        switch self {
        case .lineTooLong(let l): return "the server sent a line longer than \(l) octets"
        case .bodyTooLarge(let l): return "the server's multi-line reply exceeds \(l) octets"
        case .bareLineFeed: return "the server sent a line feed without carriage return"
        case .notAStatusLine(let s): return "not a POP3 status line: \(s.debugDescription)"
        }
    }
}
