import TestRandom
import Testing

@testable import SMTPCore

@Suite("DataEncoder")
struct DataEncoderTests {
    @Test(arguments: [
        ("Subject: x\r\n\r\nhello\r\n", "Subject: x\r\n\r\nhello\r\n.\r\n"),
        ("", ".\r\n"),
        ("hello", "hello\r\n.\r\n"),
        ("hello\r\n", "hello\r\n.\r\n"),
        ("a\r\n\r\n", "a\r\n\r\n.\r\n"),
        ("\r\n", "\r\n.\r\n"),
        (".", "..\r\n.\r\n"),
        (".\r\n", "..\r\n.\r\n"),
        ("a\r\n.\r\nb\r\n", "a\r\n..\r\nb\r\n.\r\n"),
        (".hidden\r\n..two\r\n", "..hidden\r\n...two\r\n.\r\n"),
        ("a.b\r\n x.\r\n", "a.b\r\n x.\r\n.\r\n"),
        ("a\r\n.", "a\r\n..\r\n.\r\n"),
        ("MAIL FROM:<x>\r\n", "MAIL FROM:<x>\r\n.\r\n"),
        ("8bit \u{E9}\r\n", "8bit \u{E9}\r\n.\r\n"),
        ("tab\there\r\n", "tab\there\r\n.\r\n"),
    ])
    func encodes(_ message: String, _ wire: String) throws {
        #expect(try DataEncoder.encode(Array(message.utf8)) == Array(wire.utf8))
    }

    /// No extra blank line before the final dot.
    @Test func terminatorFollowsTheLastLineDirectly() throws {
        let out = try DataEncoder.encode(Array("body\r\n".utf8))
        #expect(out.suffix(5) == Array("\r\n.\r\n".utf8))
        #expect(!String(decoding: out, as: UTF8.self).contains("\r\n\r\n."))
    }

    @Test(arguments: [
        "a\rb", "a\nb", "a\r", "\n", "\r", "a\r\nb\n", "a\n.\nMAIL FROM:<x>\r\n", "a\r\n.\rb\r\n", "a\r\r\n",
        "ok\r\n\n.\r\n", "x\r\n.\n",
    ])
    func refusesLoneCRAndLF(_ message: String) {
        #expect(syntaxErrorCode { try DataEncoder.encode(Array(message.utf8)) } == .bareLineEnding)
    }

    @Test func refusesNUL() {
        #expect(syntaxErrorCode { try DataEncoder.encode([0x61, 0x00, 0x62]) } == .controlCharacter)
        #expect(syntaxErrorCode { try DataEncoder.encode([0x00]) } == .controlCharacter)
    }

    @Test func lineLengthLimitIs998OctetsWithoutTheStuffedDot() throws {
        let line998 = Array(repeating: UInt8(ascii: "x"), count: 998)
        #expect(try DataEncoder.encode(line998 + [0x0D, 0x0A]).count == 1000 + 3)
        #expect(
            syntaxErrorCode { try DataEncoder.encode(line998 + [UInt8(ascii: "x"), 0x0D, 0x0A]) }
                == .tooLong(limit: 998))
        #expect(syntaxErrorCode { try DataEncoder.encode(line998 + [UInt8(ascii: "x")]) } == .tooLong(limit: 998))
        // A leading dot counts once: the stuffed copy is not part of the line.
        let dotted = [UInt8(ascii: ".")] + Array(repeating: UInt8(ascii: "x"), count: 997)
        let out = try DataEncoder.encode(dotted + [0x0D, 0x0A])
        #expect(out.count == 999 + 2 + 3)
        // The limit is per line.
        #expect(try DataEncoder.encode(line998 + [0x0D, 0x0A] + line998).count == 2 * 1000 + 3)
        // Octets, not characters: 499 "é" are 998 octets.
        let e = Array(String(repeating: "é", count: 499).utf8)
        #expect(try DataEncoder.encode(e).count == 998 + 2 + 3)
        #expect(syntaxErrorCode { try DataEncoder.encode(e + [UInt8(ascii: "x")]) } == .tooLong(limit: 998))
    }

    @Test(arguments: [
        ("a\nb\n", "a\r\nb\r\n"),
        ("a\rb\r", "a\r\nb\r\n"),
        ("a\r\nb\r\n", "a\r\nb\r\n"),
        ("a\nb\rc\r\nd", "a\r\nb\r\nc\r\nd"),
        ("\r\r\n", "\r\n\r\n"),
        ("\n\r", "\r\n\r\n"),
        ("\n\n", "\r\n\r\n"),
        ("", ""),
        ("no line end", "no line end"),
        ("\n.\n", "\r\n.\r\n"),
    ])
    func normalizeLineEndings(_ input: String, _ expected: String) {
        #expect(DataEncoder.normalizeLineEndings(Array(input.utf8)) == Array(expected.utf8))
    }

    static func splitCRLF(_ b: [UInt8]) -> [[UInt8]] {
        var lines: [[UInt8]] = []
        var current: [UInt8] = []
        var i = 0
        while i < b.count {
            if b[i] == 0x0D, i + 1 < b.count, b[i + 1] == 0x0A {
                lines.append(current)
                current = []
                i += 2
            } else {
                current.append(b[i])
                i += 1
            }
        }
        lines.append(current)
        return lines
    }

    /// Normalising then encoding never leaves a lone CR or LF and never ends the data early.
    @Test func normalizedRandomMessagesEncodeSafely() throws {
        var rng = SeededGenerator(seed: 1000)
        let pool: [UInt8] = [0x0D, 0x0A, UInt8(ascii: "."), UInt8(ascii: "a"), UInt8(ascii: " "), 0x09, 0xC3, 0xA9]
        for _ in 0..<2000 {
            let message = (0..<Int.random(in: 0...60, using: &rng)).map { _ in pool.randomElement(using: &rng)! }
            let out = try DataEncoder.encode(DataEncoder.normalizeLineEndings(message))
            // Every CR is followed by LF and every LF preceded by CR.
            for i in out.indices {
                if out[i] == 0x0D { #expect(i + 1 < out.count && out[i + 1] == 0x0A) }
                if out[i] == 0x0A { #expect(i > 0 && out[i - 1] == 0x0D) }
            }
            // The only "CRLF . CRLF" (or leading ". CRLF") is the terminator at the end.
            let lines = Self.splitCRLF(out)
            #expect(lines.last == [])
            #expect(lines.dropLast().firstIndex(of: [UInt8(ascii: ".")]) == lines.count - 2)
            // Un-stuffing gives back the normalised message.
            let body = lines.dropLast(2).map { $0.first == UInt8(ascii: ".") ? Array($0.dropFirst()) : $0 }
            var expected = DataEncoder.normalizeLineEndings(message)
            if !expected.isEmpty && expected.suffix(2) != [0x0D, 0x0A] { expected += [0x0D, 0x0A] }
            #expect(body.flatMap { $0 + [0x0D, 0x0A] } == expected)
        }
    }
}
