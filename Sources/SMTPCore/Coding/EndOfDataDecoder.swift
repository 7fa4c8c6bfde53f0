/// Server-side DATA decoding, safe against SMTP smuggling.
///
/// - The data ends only at `<CRLF>.<CRLF>` with the dot at the start of a
///   line; the decoder starts at a line start, so `.` CRLF right after the
///   354 is an empty message. `\n.\n`, `\n.\r\n`, `\r\n.\n` and `\r.\r`
///   never end the data.
/// - One leading dot is removed from every other line that starts with one.
/// - A lone CR or lone LF anywhere is recorded as a defect and kept in the
///   bytes as it came (never "fixed"); the caller answers `550 5.5.2` after
///   the real terminator.
/// - The message size (CRLFs counted, stuffed dots and the terminator not)
///   is tracked; past `sizeLimit` the bytes are no longer kept but the
///   decoder keeps looking for the terminator.
///
/// - SeeAlso: RFC 5321 §4.1.1.4, §4.5.2
public struct EndOfDataDecoder: Sendable {
    private enum State: Sendable {
        /// After CRLF (or at the start of the data).
        case lineStart
        /// A dot at the start of a line.
        case dotAtLineStart
        /// `.` CR at the start of a line.
        case dotCRAtLineStart
        /// Inside a line.
        case inLine
        /// A CR inside a line (or at its start) waiting for LF.
        case cr
        case finished
    }

    public enum Result: Hashable, Sendable {
        /// All input consumed; the terminator has not been seen yet.
        case needMoreData
        /// The terminator ended at this many octets into the last input.
        case finished(consumed: Int)
    }

    private var state: State = .lineStart
    /// The decoded message (without the terminator), while within the limit.
    public private(set) var message: [UInt8] = []
    /// The decoded size in octets, also counted past the limit.
    public private(set) var size = 0
    public private(set) var sawBareCR = false
    public private(set) var sawBareLF = false
    public let sizeLimit: Int

    public var exceededSizeLimit: Bool { size > sizeLimit }
    public var hasBareLineEnding: Bool { sawBareCR || sawBareLF }
    public var isFinished: Bool { if case .finished = state { return true } else { return false } }

    public init(sizeLimit: Int = .max) {
        self.sizeLimit = sizeLimit
    }

    @inline(__always)
    private mutating func emit(_ b: UInt8) {
        size &+= 1
        if size <= sizeLimit { message.append(b) }
    }

    /// Feeds octets. Returns where the data ended, if it did; octets after
    /// that point belong to the next command and are not consumed.
    public mutating func decode<C: Collection>(_ bytes: C) -> Result where C.Element == UInt8 {
        if case .finished = state { return .finished(consumed: 0) }
        var consumed = 0
        for b in bytes {
            consumed += 1
            switch state {
            case .lineStart:
                switch b {
                case UInt8(ascii: "."): state = .dotAtLineStart
                case 0x0D: state = .cr
                case 0x0A:
                    sawBareLF = true
                    emit(b)
                    state = .inLine
                default:
                    emit(b)
                    state = .inLine
                }
            case .dotAtLineStart:
                // The first dot is removed: it was stuffed (or sloppy).
                switch b {
                case 0x0D: state = .dotCRAtLineStart
                case 0x0A:
                    sawBareLF = true
                    emit(b)
                    state = .inLine
                default:
                    emit(b)
                    state = .inLine
                }
            case .dotCRAtLineStart:
                if b == 0x0A {
                    state = .finished
                    return .finished(consumed: consumed)
                }
                // "." CR x: a lone CR on a dot line. Not the end.
                sawBareCR = true
                emit(0x0D)
                state = .inLine
                inLine(b)
            case .inLine:
                inLine(b)
            case .cr:
                if b == 0x0A {
                    emit(0x0D)
                    emit(0x0A)
                    state = .lineStart
                } else {
                    sawBareCR = true
                    emit(0x0D)
                    state = .inLine
                    inLine(b)
                }
            case .finished:
                return .finished(consumed: consumed - 1)
            }
        }
        return .needMoreData
    }

    @inline(__always)
    private mutating func inLine(_ b: UInt8) {
        switch b {
        case 0x0D: state = .cr
        case 0x0A:
            sawBareLF = true
            emit(b)
        default: emit(b)
        }
    }
}
