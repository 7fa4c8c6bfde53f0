import Testing

@testable import SMTPCore

/// SplitMix64: a tiny deterministic generator, so random tests replay exactly.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The code of the `SMTPSyntaxError` thrown by `body`, or nil if it returned
/// normally or threw something else.
func syntaxErrorCode<T>(_ body: () throws -> T) -> SMTPSyntaxError.Code? {
    do {
        _ = try body()
        return nil
    } catch let error as SMTPSyntaxError {
        return error.code
    } catch {
        return nil
    }
}

/// The code of the `SessionError` thrown by `body`, or nil.
func sessionErrorCode<T>(_ body: () throws -> T) -> SMTPClientSession.SessionError.Code? {
    do {
        _ = try body()
        return nil
    } catch let error as SMTPClientSession.SessionError {
        return error.code
    } catch {
        return nil
    }
}

extension String {
    var bytes: [UInt8] { Array(utf8) }
}

/// Parses exactly one complete reply from wire text; fails the test otherwise.
func wireReply(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> SMTPReply {
    var parser = SMTPReplyParser()
    parser.append(text.utf8)
    let reply = try #require(try parser.next(), sourceLocation: sourceLocation)
    #expect(!parser.hasPartialReply, "trailing bytes after the reply", sourceLocation: sourceLocation)
    return reply
}

/// Printable ASCII bytes 0x20...0x7E plus the C0 controls and DEL.
let controlBytes: [UInt8] = Array(0x00...0x1F) + [0x7F]

/// Wire bytes as text, for readable comparisons.
func wireText(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
