import TestRandom
import Testing

@testable import SMTPCore

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
