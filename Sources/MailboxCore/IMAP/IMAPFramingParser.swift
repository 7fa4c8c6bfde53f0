/// Cuts the server's byte stream into whole IMAP responses. A response is
/// not a line: a line that ends in `{n}` CRLF is followed by exactly n raw
/// octets (a literal), after which the *same* response continues, possibly
/// with more literals (RFC 9051 §4.3).
///
/// Limits (each its own error): a line segment is at most
/// `Limits.lineLength` octets (64 KiB), a literal at most
/// `Limits.literalSize` (50 MiB), a whole response at most
/// `Limits.responseSize`. Only CRLF ends a line.
public struct IMAPFramingParser: Sendable {
    public struct Limits: Hashable, Sendable {
        public var lineLength: Int
        public var literalSize: Int
        public var responseSize: Int
        public init(
            lineLength: Int = 64 * 1024, literalSize: Int = 50 * 1024 * 1024, responseSize: Int = 51 * 1024 * 1024
        ) {
            self.lineLength = lineLength
            self.literalSize = literalSize
            self.responseSize = responseSize
        }
    }

    public let limits: Limits
    private var buffer: [UInt8] = []
    /// Start of the response being framed.
    private var start = 0
    /// Where scanning goes on.
    private var scan = 0
    /// Start of the current line segment (after the last literal).
    private var lineStart = 0
    /// Octets of the current literal still to come.
    private var literalRemaining = 0

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Octets received and not yet handed out as a response.
    public var bufferedByteCount: Int { buffer.count - start }

    /// Whether we are inside a literal (for diagnostics and tests).
    public var isInsideLiteral: Bool { literalRemaining > 0 }

    public mutating func append<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        buffer.append(contentsOf: bytes)
    }

    /// Removes and returns every octet not yet handed out (used when TLS
    /// starts: those octets came in plaintext and must not be parsed).
    public mutating func drainUnprocessed() -> [UInt8] {
        let rest = Array(buffer[start...])
        self = IMAPFramingParser(limits: limits)
        return rest
    }

    /// The next whole response (with its final CRLF and literal octets), or
    /// nil when more bytes are needed.
    public mutating func next() throws(IMAPFramingError) -> [UInt8]? {
        while true {
            if literalRemaining > 0 {
                let take = min(buffer.count - scan, literalRemaining)
                scan += take
                literalRemaining -= take
                if literalRemaining > 0 { return nil }
                lineStart = scan
                continue
            }
            var lf: Int?
            var i = scan
            while i < buffer.count {
                if buffer[i] == 0x0A {
                    lf = i
                    break
                }
                i += 1
            }
            guard let end = lf else {
                scan = buffer.count
                if buffer.count - lineStart > limits.lineLength { throw .lineTooLong(limit: limits.lineLength) }
                return nil
            }
            guard end > lineStart, buffer[end - 1] == 0x0D else { throw .bareLineFeed(offset: end - start) }
            if end + 1 - lineStart > limits.lineLength { throw .lineTooLong(limit: limits.lineLength) }
            scan = end + 1
            if let n = try literalLength(lineEnd: end - 1) {
                guard n <= limits.literalSize else { throw .literalTooLarge(size: n, limit: limits.literalSize) }
                guard scan - start + n <= limits.responseSize else {
                    throw .responseTooLarge(limit: limits.responseSize)
                }
                literalRemaining = n
                lineStart = scan
                continue
            }
            let frame = Array(buffer[start..<scan])
            start = scan
            lineStart = scan
            compactIfWorthIt()
            return frame
        }
    }

    /// `{n}` or `{n+}` right before CRLF (servers never send `{n+}`, but it costs nothing).
    private func literalLength(lineEnd: Int) throws(IMAPFramingError) -> Int? {
        guard lineEnd > lineStart, buffer[lineEnd - 1] == UInt8(ascii: "}") else { return nil }
        var j = lineEnd - 2
        if j >= lineStart, buffer[j] == UInt8(ascii: "+") { j -= 1 }
        var digits = 0
        var value = 0
        var multiplier = 1
        while j >= lineStart, buffer[j] >= 0x30, buffer[j] <= 0x39 {
            if digits >= 12 { throw .literalTooLarge(size: Int.max, limit: limits.literalSize) }
            value += Int(buffer[j] - 0x30) * multiplier
            multiplier *= 10
            digits += 1
            j -= 1
        }
        guard digits > 0, j >= lineStart, buffer[j] == UInt8(ascii: "{") else { return nil }
        return value
    }

    private mutating func compactIfWorthIt() {
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.count <= 1 << 20)
            start = 0
            scan = 0
            lineStart = 0
        } else if start > 64 * 1024 && start * 2 > buffer.count {
            buffer.removeSubrange(0..<start)
            scan -= start
            lineStart -= start
            start = 0
        }
    }
}

public enum IMAPFramingError: Error, Hashable, Sendable, CustomStringConvertible {
    case lineTooLong(limit: Int)
    case literalTooLarge(size: Int, limit: Int)
    case responseTooLarge(limit: Int)
    case bareLineFeed(offset: Int)

    public var description: String {
        switch self {
        case .lineTooLong(let l): return "the server sent a line longer than \(l) octets"
        case .literalTooLarge(let s, let l):
            return s == Int.max
                ? "the server announced an absurd literal size"
                : "the server announced a literal of \(s) octets (limit \(l))"
        case .responseTooLarge(let l): return "the server's response exceeds \(l) octets"
        case .bareLineFeed(let o): return "the server sent a line feed without carriage return (offset \(o))"
        }
    }
}
