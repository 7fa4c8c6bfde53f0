import MailboxCore
import Testing

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

/// Feeds `input` in chunks of `chunk` octets and collects every frame.
func frames(_ input: [UInt8], chunk: Int, limits: IMAPFramingParser.Limits = .init()) throws -> [[UInt8]] {
    var p = IMAPFramingParser(limits: limits)
    var out: [[UInt8]] = []
    var i = 0
    while i < input.count {
        p.append(input[i..<min(i + chunk, input.count)])
        i += chunk
        while let f = try p.next() { out.append(f) }
    }
    #expect(p.bufferedByteCount == 0)
    return out
}

@Suite struct IMAPFramingParserTests {
    static let transcript = bytes(
        "* OK [CAPABILITY IMAP4rev1 IDLE] ready\r\n"
            + "* 17 FETCH (UID 4101 RFC822.SIZE 12 BODY[] {12}\r\nHello\r\nWorld FLAGS (\\Seen))\r\n"
            + "* 2 FETCH (BODY[HEADER] {5}\r\nA: b\n BODY[TEXT] {0}\r\n UID 9)\r\n"
            + "+ idling\r\n"
            + "a1 OK done\r\n"
    )

    static let expected: [[UInt8]] = [
        bytes("* OK [CAPABILITY IMAP4rev1 IDLE] ready\r\n"),
        bytes("* 17 FETCH (UID 4101 RFC822.SIZE 12 BODY[] {12}\r\nHello\r\nWorld FLAGS (\\Seen))\r\n"),
        bytes("* 2 FETCH (BODY[HEADER] {5}\r\nA: b\n BODY[TEXT] {0}\r\n UID 9)\r\n"),
        bytes("+ idling\r\n"),
        bytes("a1 OK done\r\n"),
    ]

    @Test(arguments: [1, 2, 3, 5, 7, 13, 64, 4096])
    func framesAtAnyChunkSize(chunk: Int) throws {
        #expect(try frames(Self.transcript, chunk: chunk) == Self.expected)
    }

    @Test func literalContainingCRLFAndBracesIsOpaque() throws {
        let body = "a1 OK fake\r\n{5}\r\n* BYE\r\n"
        let input = bytes("* 1 FETCH (BODY[] {\(body.utf8.count)}\r\n\(body))\r\nb2 OK real\r\n")
        let f = try frames(input, chunk: 1)
        #expect(f.count == 2)
        #expect(f[1] == bytes("b2 OK real\r\n"))
    }

    @Test func literalSplitAcrossReadsWaitsForEveryOctet() throws {
        var p = IMAPFramingParser()
        p.append(bytes("* 1 FETCH (BODY[] {10}\r\n01234"))
        #expect(try p.next() == nil)
        #expect(p.isInsideLiteral)
        p.append(bytes("5678"))
        #expect(try p.next() == nil)
        p.append(bytes("9)\r"))
        #expect(try p.next() == nil)
        p.append(bytes("\n"))
        #expect(try p.next() == bytes("* 1 FETCH (BODY[] {10}\r\n0123456789)\r\n"))
    }

    @Test func literalPlusFormIsAccepted() throws {
        #expect(try frames(bytes("* 1 FETCH (BODY[] {2+}\r\nab)\r\n"), chunk: 1).count == 1)
    }

    @Test func bracesNotAtTheLineEndAreNotLiterals() throws {
        let f = try frames(bytes("* OK {5} is not a literal here\r\n* OK x{}\r\n* OK {a}\r\n"), chunk: 3)
        #expect(f.count == 3)
    }

    @Test func lineLimit() throws {
        var p = IMAPFramingParser(limits: .init(lineLength: 100))
        p.append(bytes("* OK " + String(repeating: "x", count: 200)))
        #expect(throws: IMAPFramingError.lineTooLong(limit: 100)) { try p.next() }
        var q = IMAPFramingParser(limits: .init(lineLength: 100))
        q.append(bytes("* OK " + String(repeating: "x", count: 120) + "\r\n"))
        #expect(throws: IMAPFramingError.lineTooLong(limit: 100)) { try q.next() }
    }

    @Test func defaultLineLimitIs64KiB() throws {
        var p = IMAPFramingParser()
        p.append(bytes("* OK " + String(repeating: "x", count: 64 * 1024)))
        #expect(throws: IMAPFramingError.lineTooLong(limit: 65536)) { try p.next() }
        // The literal's octets do not count towards the line.
        let big = String(repeating: "y", count: 200_000)
        let f = try frames(bytes("* 1 FETCH (BODY[] {200000}\r\n\(big))\r\n"), chunk: 8192)
        #expect(f.count == 1 && f[0].count > 200_000)
    }

    @Test func literalLimit() throws {
        var p = IMAPFramingParser()
        p.append(bytes("* 1 FETCH (BODY[] {52428801}\r\n"))
        #expect(throws: IMAPFramingError.literalTooLarge(size: 52_428_801, limit: 52_428_800)) { try p.next() }
        var q = IMAPFramingParser()
        q.append(bytes("* 1 FETCH (BODY[] {52428800}\r\n"))
        #expect(try q.next() == nil)  // exactly 50 MiB is allowed
        var r = IMAPFramingParser()
        r.append(bytes("* 1 FETCH (BODY[] {99999999999999999999}\r\n"))
        #expect(throws: IMAPFramingError.self) { try r.next() }
    }

    @Test func responseLimitCountsAllLiterals() throws {
        var p = IMAPFramingParser(limits: .init(lineLength: 1000, literalSize: 100, responseSize: 150))
        p.append(bytes("* 1 FETCH (BODY[1] {100}\r\n" + String(repeating: "a", count: 100) + " BODY[2] {100}\r\n"))
        #expect(throws: IMAPFramingError.responseTooLarge(limit: 150)) { while try p.next() != nil {} }
    }

    @Test func bareLineFeedIsRejected() throws {
        var p = IMAPFramingParser()
        p.append(bytes("* OK hi\n"))
        #expect(throws: IMAPFramingError.self) { try p.next() }
    }

    @Test func drainReturnsBufferedPlaintext() throws {
        var p = IMAPFramingParser()
        p.append(bytes("a2 OK Begin TLS\r\n* OK injected\r\n"))
        #expect(try p.next() == bytes("a2 OK Begin TLS\r\n"))
        #expect(p.drainUnprocessed() == bytes("* OK injected\r\n"))
        #expect(p.bufferedByteCount == 0)
        #expect(try p.next() == nil)
    }

    @Test func manyFramesKeepTheBufferSmall() throws {
        var p = IMAPFramingParser()
        for i in 0..<10_000 {
            p.append(bytes("* \(i) EXISTS\r\n"))
            #expect(try p.next() != nil)
        }
        #expect(p.bufferedByteCount == 0)
    }
}

@Suite struct IMAPLargeLiteralTests {
    @Test func tenMiBLiteralInSmallReadsIsLinear() throws {
        let size = 10 * 1024 * 1024
        var p = IMAPFramingParser()
        let head = bytes("* 1 FETCH (UID 9 BODY[] {\(size)}\r\n")
        let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 64 * 1024)
        let clock = ContinuousClock()
        let elapsed = try clock.measure {
            p.append(head)
            #expect(try p.next() == nil)
            for _ in 0..<(size / chunk.count) {
                p.append(chunk)
                #expect(try p.next() == nil)
            }
            p.append(bytes(")\r\n"))
            let frame = try #require(try p.next())
            let response = try IMAPResponseParser.parse(frame)
            guard case .untagged(.fetch(1, let a)) = response else {
                Issue.record("not a FETCH")
                return
            }
            #expect(a.uid == 9 && a.body?.count == size)
        }
        #expect(elapsed < .seconds(20))
    }

    @Test func pop3MultiLineOfManyLines() throws {
        var p = POP3ReplyParser()
        p.expect(.multiLine)
        p.append(bytes("+OK\r\n"))
        let line = bytes(String(repeating: "y", count: 76) + "\r\n")
        for _ in 0..<20_000 { p.append(line) }
        p.append(bytes(".\r\n"))
        let r = try #require(try p.next())
        #expect(r.body?.count == 20_000 * 78)
    }
}
