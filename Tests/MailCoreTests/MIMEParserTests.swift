import MailCore
import Testing

private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

@Suite("MIME parser")
struct MIMEParserTests {
    static let nested = """
        Content-Type: multipart/mixed; boundary="outer"

        preamble
        --outer
        Content-Type: text/plain

        first
        --outer
        Content-Type: multipart/alternative; boundary="inner"

        --inner
        Content-Type: text/plain

        alt one
        --inner
        Content-Type: text/html

        <p>alt two</p>
        --inner--
        --outer
        Content-Type: message/rfc822

        Subject: inner message
        Content-Type: text/plain

        inner body
        --outer--
        epilogue
        """

    @Test("nested multiparts, preamble/epilogue ignored, message/rfc822 recursion", arguments: ["\n", "\r\n", "\r"])
    func nested(_ eol: String) throws {
        let text = Self.nested.replacingOccurrences(of: "\n", with: eol)
        let m = try MIMEParser.parse(bytes(text))
        #expect(m.children.count == 3)
        #expect(m.children[0].text == "first")
        #expect(m.children[1].children.map(\.text) == ["alt one", "<p>alt two</p>"])
        let inner = try #require(m.children[2].encapsulatedMessage)
        #expect(inner.header.value("subject") == "inner message")
        #expect(inner.text == "inner body")
        #expect(m.defects.isEmpty)
    }

    @Test("a part ending with a line break keeps it (the delimiter's CRLF belongs to the delimiter)")
    func trailingBreak() throws {
        let m = try MIMEParser.parse(
            bytes("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nline\r\n\r\n--b--\r\n"))
        #expect(Array(m.children[0].body) == bytes("line\r\n"))
    }

    @Test("missing close delimiter closes at the end of the data, with a flag")
    func missingClose() throws {
        let m = try MIMEParser.parse(bytes("Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b\n\ntwo"))
        #expect(m.children.map(\.text) == ["one", "two"])
        #expect(m.defects.contains(.missingCloseDelimiter))
    }

    @Test("an outer delimiter ends a truncated inner part")
    func outerEndsInner() throws {
        let raw = """
            Content-Type: multipart/mixed; boundary="o"

            --o
            Content-Type: multipart/alternative; boundary="i"

            --i

            truncated inner
            --o

            after
            --o--
            """
        let m = try MIMEParser.parse(bytes(raw))
        #expect(m.children.count == 2)
        #expect(m.children[0].children.first?.text == "truncated inner")
        #expect(m.children[0].defects.contains(.missingCloseDelimiter))
        #expect(m.children[1].text == "after")
    }

    @Test(
        "boundary traps: a longer boundary that starts with the real one is not a delimiter; transport padding allowed")
    func boundaryTraps() throws {
        let raw = "Content-Type: multipart/mixed; boundary=ab\n\n--ab  \n\n--abc not a delimiter\n--ab--x\n--ab--\n"
        let m = try MIMEParser.parse(bytes(raw))
        #expect(m.children.count == 1)
        #expect(m.children[0].text == "--abc not a delimiter\n--ab--x")
    }

    @Test(
        "a part starting with a blank line has no header and takes the defaults; multipart/digest defaults to message/rfc822"
    )
    func defaults() throws {
        let m = try MIMEParser.parse(
            bytes("Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: x\n\nhi\n--d--\n"))
        #expect(m.children[0].contentType.mimeType == "message/rfc822")
        #expect(m.children[0].encapsulatedMessage?.header.value("subject") == "x")
        let p = try MIMEParser.parse(bytes("Content-Type: multipart/mixed; boundary=d\n\n--d\n\nplain\n--d--\n"))
        #expect(p.children[0].contentType.mimeType == "text/plain")
        #expect(p.children[0].contentTypeDefaulted)
    }

    @Test("quoted-printable: soft breaks, lower-case hex, bad = kept, trailing blanks dropped")
    func quotedPrintable() {
        #expect(QuotedPrintable.decode(bytes("a=3Db=\r\nc=3dd =ZZ x  \r\ny")[...]) == bytes("a=bc=d =ZZ x\r\ny"))
        #expect(QuotedPrintable.decode(bytes("end=")[...]) == bytes("end"))
        #expect(QuotedPrintable.decode(bytes("soft=\nbreak")[...]) == bytes("softbreak"))
    }

    @Test("base64: junk skipped, stops at padding")
    func base64() {
        #expect(Base64.decode(bytes("aGVs\r\nbG8*!=garbage")) == bytes("hello"))
        #expect(Base64.decode(bytes("")) == [])
        #expect(Base64.decode(bytes(Base64.encode(bytes("round trip ✓")))) == bytes("round trip ✓"))
        // RFC 4648 §10 vectors, unfolded as SASL sends them.
        for (plain, encoded) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")] {
            #expect(Base64.encode(bytes(plain), lineLength: 0) == encoded)
        }
        #expect(!Base64.encode([UInt8](repeating: 7, count: 300), lineLength: 0).contains("\r\n"))
    }

    @Test("encoded message/global is decoded before parsing")
    func encodedGlobal() throws {
        let inner = Base64.encode(bytes("Subject: über\r\n\r\nbody"))
        let raw =
            "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: message/global\nContent-Transfer-Encoding: base64\n\n\(inner)\n--b--\n"
        let m = try MIMEParser.parse(bytes(raw))
        #expect(m.children[0].encapsulatedMessage?.header.value("subject") == "über")
    }

    @Test("depth cap: deep nesting is cut at the limit, no crash")
    func depthCap() throws {
        var raw = ""
        for i in 0..<200 { raw += "Content-Type: multipart/mixed; boundary=b\(i)\n\n--b\(i)\n" }
        raw += "\nleaf\n"
        let m = try MIMEParser.parse(bytes(raw))
        var depth = 0
        var p = m
        while let c = p.children.first {
            p = c
            depth += 1
        }
        #expect(depth <= 32)
        #expect(p.defects.contains(.depthLimitReached))
    }

    @Test("part cap: at most 1000 entities")
    func partCap() throws {
        var raw = "Content-Type: multipart/mixed; boundary=b\n\n"
        for _ in 0..<3000 { raw += "--b\n\nx\n" }
        raw += "--b--\n"
        let m = try MIMEParser.parse(bytes(raw))
        #expect(m.children.count < 1000)
        #expect(m.defects.contains(.partLimitReached))
    }

    @Test("messages over 50 MiB are refused quickly with an error")
    func sizeLimit() {
        let big = [UInt8](repeating: 0x41, count: 50 * 1024 * 1024 + 1)
        let clock = ContinuousClock()
        let elapsed = clock.measure {
            #expect(throws: MIMELimitError.self) { try MIMEParser.parse(big) }
        }
        #expect(elapsed < .seconds(1))
    }

    @Test(
        "garbage and truncated input never crash",
        arguments: [
            "", "\n", "--", "Content-Type: multipart/mixed\n\n--x\n",
            "Content-Type: multipart/mixed; boundary=\"\"\n\n--\n",
            "Content-Type: message/rfc822\n\n", "Content-Type: multipart/mixed; boundary=a\n\n--a", "\u{0}\u{1}\u{2}",
            "Content-Type: text/plain; charset=\"\n\n", "Content-Transfer-Encoding: base64\n\n====",
        ])
    func garbage(_ s: String) throws {
        let m = try MIMEParser.parse(bytes(s))
        _ = m.text
        _ = m.allParts()
    }
}
