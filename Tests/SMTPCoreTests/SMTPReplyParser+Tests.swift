import TestRandom
import Testing

@testable import SMTPCore

@Suite("SMTPReplyParser")
struct SMTPReplyParserTests {
    static let ehloWire =
        "250-mx.dest.example Hello client.example [192.0.2.7]\r\n"
        + "250-SIZE 52428800\r\n250-8BITMIME\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n"
        + "250-AUTH PLAIN LOGIN\r\n250-AUTH=LOGIN PLAIN\r\n250-DSN\r\n250-SMTPUTF8\r\n250 STARTTLS\r\n"
    static let ehloLines = [
        "mx.dest.example Hello client.example [192.0.2.7]", "SIZE 52428800", "8BITMIME", "PIPELINING",
        "ENHANCEDSTATUSCODES", "AUTH PLAIN LOGIN", "AUTH=LOGIN PLAIN", "DSN", "SMTPUTF8", "STARTTLS",
    ]
    /// An EHLO reply followed by a second reply and the start of a third.
    static let stream = Array(
        (ehloWire + "250 2.1.0 Ok\r\n550 5.1.1 <x@y>: Recipient address rejected\r\n221-bye").utf8)

    struct Fed {
        var replies: [SMTPReply] = []
        var error: SMTPSyntaxError?
        var partial = false
    }

    /// Feeds the chunks one by one, draining complete replies after each.
    static func feed(_ chunks: [ArraySlice<UInt8>], limits: SMTPReplyParser.Limits = .init()) -> Fed {
        var parser = SMTPReplyParser(limits: limits)
        var fed = Fed()
        do {
            for chunk in chunks {
                parser.append(chunk)
                while let r = try parser.next() { fed.replies.append(r) }
            }
        } catch let e as SMTPSyntaxError {
            fed.error = e
        } catch {
            Issue.record("unexpected error \(error)")
        }
        fed.partial = parser.hasPartialReply
        return fed
    }

    static func feed(_ text: String, limits: SMTPReplyParser.Limits = .init()) -> Fed {
        feed([Array(text.utf8)[...]], limits: limits)
    }

    static func checkStream(_ fed: Fed, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(fed.error == nil, sourceLocation: sourceLocation)
        #expect(fed.replies.count == 3, sourceLocation: sourceLocation)
        guard fed.replies.count == 3 else { return }
        #expect(fed.replies[0] == SMTPReply(code: 250, lines: ehloLines), sourceLocation: sourceLocation)
        #expect(fed.replies[1] == SMTPReply(code: 250, lines: ["2.1.0 Ok"]), sourceLocation: sourceLocation)
        #expect(fed.replies[2].code == 550, sourceLocation: sourceLocation)
        #expect(fed.replies[2].enhancedCode?.description == "5.1.1", sourceLocation: sourceLocation)
        #expect(fed.partial, "the unfinished 221- stays buffered", sourceLocation: sourceLocation)
    }

    // MARK: grammar

    @Test(
        arguments: [
            ("220 mx.example ESMTP ready\r\n", 220, ["mx.example ESMTP ready"]),
            ("250\r\n", 250, [""]),
            ("250 \r\n", 250, [""]),
            ("250 2.0.0 Ok\r\n", 250, ["2.0.0 Ok"]),
            ("250-\r\n250 x\r\n", 250, ["", "x"]),
            ("250-a\r\n250\r\n", 250, ["a", ""]),
            (
                "220-mx.example ESMTP\r\n220-Do not talk early\r\n220 \r\n", 220,
                ["mx.example ESMTP", "Do not talk early", ""]
            ),
            ("354 End data with <CR><LF>.<CR><LF>\r\n", 354, ["End data with <CR><LF>.<CR><LF>"]),
            ("334 \r\n", 334, [""]),
            ("200 x\r\n", 200, ["x"]),
            ("559 x\r\n", 559, ["x"]),
            ("250 a\tb  c \r\n", 250, ["a\tb  c "]),
            ("250 a-b 250 c\r\n", 250, ["a-b 250 c"]),
        ] as [(String, Int, [String])])
    func parsesReplies(_ wire: String, _ code: Int, _ lines: [String]) {
        let fed = Self.feed(wire)
        #expect(fed.error == nil)
        #expect(fed.replies == [SMTPReply(code: code, lines: lines)])
        #expect(!fed.partial)
    }

    @Test func wireLinesRoundTripThroughTheParser() throws {
        var rng = SeededGenerator(seed: 5321)
        let textBytes: [UInt8] = [0x09] + Array(0x20...0x7E)
        for _ in 0..<500 {
            let code =
                Int.random(in: 2...5, using: &rng) * 100 + Int.random(in: 0...5, using: &rng) * 10
                + Int.random(in: 0...9, using: &rng)
            let lines = (0..<Int.random(in: 1...6, using: &rng)).map { _ in
                String(
                    decoding: (0..<Int.random(in: 0...30, using: &rng)).map { _ in textBytes.randomElement(using: &rng)!
                    },
                    as: UTF8.self)
            }
            let reply = SMTPReply(code: code, lines: lines)
            let wire = reply.wireLines.map { $0 + "\r\n" }.joined()
            var parser = SMTPReplyParser()
            parser.append(wire.utf8)
            let parsed = try #require(try parser.next())
            #expect(parsed == reply)
            #expect(try parser.next() == nil)
        }
    }

    @Test func severalRepliesInOneRead() throws {
        var parser = SMTPReplyParser()
        parser.append("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n".utf8)
        #expect(try parser.next()?.lines == ["2.1.0 Ok"])
        #expect(try parser.next()?.lines == ["2.1.5 Ok"])
        #expect(try parser.next()?.code == 354)
        #expect(try parser.next() == nil)
        #expect(!parser.hasPartialReply)
        #expect(parser.bufferedByteCount == 0)
    }

    @Test func partialRepliesWait() throws {
        var parser = SMTPReplyParser()
        #expect(!parser.hasPartialReply)
        parser.append("250-mx.example\r\n250-DSN\r\n250 SIZ".utf8)
        #expect(try parser.next() == nil)
        #expect(parser.hasPartialReply)
        #expect(parser.bufferedByteCount == 32)
        parser.append("E\r".utf8)
        #expect(try parser.next() == nil)
        parser.append("\n".utf8)
        #expect(try parser.next() == SMTPReply(code: 250, lines: ["mx.example", "DSN", "SIZE"]))
        #expect(!parser.hasPartialReply)
        #expect(parser.bufferedByteCount == 0)
    }

    // MARK: split reads

    @Test func byteByByte() {
        Self.checkStream(Self.feed(Self.stream.indices.map { Self.stream[$0...$0] }))
    }

    @Test func everySplitOffset() {
        for k in 0...Self.stream.count {
            Self.checkStream(Self.feed([Self.stream[..<k], Self.stream[k...]]))
        }
    }

    @Test(arguments: [UInt64(7), 42, 2920, 0xDEAD_BEEF, 1_234_567])
    func randomChunkSizes(seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        for _ in 0..<50 {
            var chunks: [ArraySlice<UInt8>] = []
            var i = 0
            while i < Self.stream.count {
                let n = min(Int.random(in: 0...17, using: &rng), Self.stream.count - i)
                chunks.append(Self.stream[i..<(i + n)])
                i += n
            }
            Self.checkStream(Self.feed(chunks))
        }
    }

    // MARK: bad codes

    @Test(arguments: [
        "099 x\r\n", "199 x\r\n", "600 x\r\n", "999 x\r\n", "2x0 x\r\n", "x50 x\r\n", "25\r\n", "2\r\n", "\r\n",
        "250x\r\n", "250_x\r\n", "250\tx\r\n", "260 x\r\n", "290 x\r\n", "569 x\r\n", " 250 x\r\n", "+OK\r\n",
        "* OK IMAP4rev1\r\n", "25 0\r\n", "-250 x\r\n", "２５０ x\r\n",
    ])
    func refusesBadReplyCodes(_ wire: String) {
        #expect(Self.feed(wire).error?.code == .invalidReplyCode)
    }

    @Test(arguments: ["250-a\r\n251 b\r\n", "250-a\r\n550 b\r\n", "220-a\r\n220-b\r\n250 c\r\n", "354-a\r\n334 b\r\n"])
    func refusesMismatchedCodes(_ wire: String) {
        #expect(Self.feed(wire).error?.code == .mismatchedReplyCodes)
    }

    @Test func badLineInsideAMultilineReply() {
        #expect(Self.feed("250-a\r\n25-b\r\n250 c\r\n").error?.code == .invalidReplyCode)
        #expect(Self.feed("250-a\r\n250xb\r\n250 c\r\n").error?.code == .invalidReplyCode)
    }

    // MARK: line ends

    @Test(arguments: [
        "250 a\n", "250-a\n250 b\r\n", "\n", "250 ok\r\n\n", "250 a\rb\r\n", "250 a\r\r\n", "250-a\r\n250 b\rc\r\n",
        "\r250 x\r\n", "250 a\n\r", "250 a\r\n\r220 b\r\n",
    ])
    func refusesBareLineEndings(_ wire: String) {
        #expect(Self.feed(wire).error?.code == .bareLineEnding)
    }

    /// A lone CR or LF must be caught wherever the read boundary falls.
    @Test(arguments: ["250-a\r\n250 b\rc\r\n", "250-a\r\n250 b\nc\r\n", "250 a\r\r\n", "250 x\r\n\n250 y\r\n"])
    func bareLineEndingsAtEverySplitOffset(_ wire: String) {
        let bytes = Array(wire.utf8)
        for k in 0...bytes.count {
            let fed = Self.feed([bytes[..<k], bytes[k...]])
            #expect(fed.error?.code == .bareLineEnding, "split at \(k)")
        }
        let bytewise = Self.feed(bytes.indices.map { bytes[$0...$0] })
        #expect(bytewise.error?.code == .bareLineEnding, "byte by byte")
    }

    @Test func crAtTheEndOfAReadWaitsForTheNextByte() throws {
        var parser = SMTPReplyParser()
        parser.append("250 ok\r".utf8)
        #expect(try parser.next() == nil)
        parser.append("\n".utf8)
        #expect(try parser.next()?.lines == ["ok"])
    }

    // MARK: limits

    @Test func longLinesUpToTheLimit() throws {
        let thousand = "250 " + String(repeating: "x", count: 994) + "\r\n"
        #expect(thousand.utf8.count == 1000)
        #expect(Self.feed(thousand).replies.first?.lines.first?.utf8.count == 994)
        let max = "250 " + String(repeating: "x", count: 4090) + "\r\n"
        #expect(max.utf8.count == 4096)
        #expect(Self.feed(max).replies.count == 1)
        let over = "250 " + String(repeating: "x", count: 4091) + "\r\n"
        #expect(Self.feed(over).error?.code == .replyLineTooLong)
    }

    @Test func overlongLineWithoutCRLFFailsWithoutWaitingForTheEnd() throws {
        var parser = SMTPReplyParser()
        parser.append(Array(repeating: UInt8(ascii: "2"), count: 4096))
        #expect(try parser.next() == nil)
        parser.append([UInt8(ascii: "x")])
        #expect(syntaxErrorCode { try parser.next() } == .replyLineTooLong)
    }

    @Test func lineCountLimit() {
        let ok = String(repeating: "250-x\r\n", count: 255) + "250 x\r\n"
        #expect(Self.feed(ok).replies.first?.lines.count == 256)
        let over = String(repeating: "250-x\r\n", count: 256) + "250 x\r\n"
        #expect(Self.feed(over).error?.code == .replyTooLong)
        // Refused as soon as the 257th line arrives, not at the end.
        let endless = String(repeating: "250-x\r\n", count: 257)
        #expect(Self.feed(endless).error?.code == .replyTooLong)
    }

    @Test func replySizeLimit() {
        let line = "250-" + String(repeating: "x", count: 4090) + "\r\n"
        let last = "250 " + String(repeating: "x", count: 4090) + "\r\n"
        let ok = String(repeating: line, count: 15) + last
        #expect(ok.utf8.count == 65536)
        #expect(Self.feed(ok).replies.count == 1)
        let over = String(repeating: line, count: 16) + "250 x\r\n"
        #expect(Self.feed(over).error?.code == .replyTooLong)
    }

    @Test func customLimits() {
        let lineLimit = SMTPReplyParser.Limits(maxLineLength: 10, maxLines: 100, maxReplyLength: 1000)
        #expect(Self.feed("250 1234\r\n", limits: lineLimit).replies.count == 1)
        #expect(Self.feed("250 12345\r\n", limits: lineLimit).error?.code == .replyLineTooLong)
        let countLimit = SMTPReplyParser.Limits(maxLineLength: 100, maxLines: 3, maxReplyLength: 1000)
        #expect(Self.feed("250-1\r\n250-2\r\n250 3\r\n", limits: countLimit).replies.count == 1)
        #expect(Self.feed("250-1\r\n250-2\r\n250-3\r\n250 4\r\n", limits: countLimit).error?.code == .replyTooLong)
        let sizeLimit = SMTPReplyParser.Limits(maxLineLength: 100, maxLines: 100, maxReplyLength: 20)
        #expect(Self.feed("250-1234\r\n250 1234\r\n", limits: sizeLimit).replies.count == 1)
        #expect(Self.feed("250-1234\r\n250 12345\r\n", limits: sizeLimit).error?.code == .replyTooLong)
        // Limits apply per reply: two replies of 20 octets each are fine.
        #expect(Self.feed("250-1234\r\n250 1234\r\n250-1234\r\n250 1234\r\n", limits: sizeLimit).replies.count == 2)
    }

    @Test func defaultLimitsFollowProtocolNotes() {
        let l = SMTPReplyParser.Limits()
        #expect(l.maxLineLength == 4096)
        #expect(l.maxLines == 256)
        #expect(l.maxReplyLength == 65536)
    }

    // MARK: STARTTLS (RFC 3207 §4.2)

    @Test func drainUnprocessedHandsBackBytesInjectedAfterThe220() throws {
        var parser = SMTPReplyParser()
        parser.append("220 2.0.0 Ready to start TLS\r\n250 2.0.0 fake\r\n".utf8)
        #expect(try parser.next()?.code == 220)
        #expect(parser.hasPartialReply)
        #expect(parser.drainUnprocessed() == Array("250 2.0.0 fake\r\n".utf8))
        #expect(!parser.hasPartialReply)
        #expect(try parser.next() == nil)
        #expect(parser.drainUnprocessed().isEmpty)
    }
}
