import MailCore
import Testing

private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

@Suite("RFC 5322 header section")
struct HeaderTests {
    @Test("folding is undone, blanks after the break kept", arguments: ["\r\n", "\n", "\r"])
    func unfolding(_ eol: String) {
        let raw = "Subject: a long\(eol)\tsubject\(eol)  here\(eol)To: x@y.example\(eol)\(eol)body"
        let (h, bodyStart) = HeaderSection.parse(bytes(raw)[...])
        #expect(h.value("subject") == "a long\tsubject  here")
        #expect(h.value("TO") == "x@y.example")
        #expect(Array(bytes(raw)[bodyStart...]) == bytes("body"))
    }

    @Test("stray blanks before the colon, colon-less lines skipped, repeated fields kept in order")
    func obsoleteSyntax() {
        let raw = "Received : one\nnot a field line\nReceived: two\nX-Empty:\n\nbody"
        let (h, _) = HeaderSection.parse(bytes(raw)[...])
        #expect(h.all("received").map(\.value) == ["one", "two"])
        #expect(h.value("x-empty") == "")
        #expect(h.fields.count == 3)
    }

    @Test("raw 8-bit: UTF-8 when valid, else Latin-1")
    func eightBit() {
        let utf8: [UInt8] = bytes("Subject: caf") + [0xC3, 0xA9] + bytes("\n\n")
        #expect(HeaderSection.parse(utf8[...]).header.value("subject") == "café")
        let latin1: [UInt8] = bytes("Subject: caf") + [0xE9] + bytes("\n\n")
        #expect(HeaderSection.parse(latin1[...]).header.value("subject") == "café")
    }

    @Test("a section without an empty line ends at the end of the data; an empty first line means no header")
    func edges() {
        #expect(HeaderSection.parse(bytes("A: b")[...]).header.value("a") == "b")
        let (h, start) = HeaderSection.parse(bytes("\nbody")[...])
        #expect(h.isEmpty)
        #expect(start == 1)
    }
}

@Suite("RFC 2047 encoded words")
struct EncodedWordTests {
    @Test(
        "B and Q words, several charsets",
        arguments: [
            ("=?utf-8?q?caf=C3=A9?=", "café"),
            ("=?UTF-8?B?Y2Fmw6k=?=", "café"),
            ("=?iso-8859-1?q?caf=E9_noir?=", "café noir"),
            ("=?windows-1252?Q?=80?=", "€"),
            ("=?koi8-r?B?8NLJ18XU?=", "Привет"),
            ("=?iso-2022-jp?B?GyRCJEgkIiRrGyhC?=", "とある"),
            ("=?shift_jis?B?grGC8YLJgr+CzQ==?=", "こんにちは"),
            ("=?gb2312?B?xOO6ww==?=", "你好"),
            ("=?big5?B?p0Gmbg==?=", "你好"),
            ("=?utf-8*en?q?hello?=", "hello"),
        ])
    func decode(_ input: String, _ expected: String) {
        #expect(EncodedWord.decode(input) == expected)
    }

    @Test("whitespace between adjacent words disappears, next to text it stays")
    func whitespace() {
        #expect(EncodedWord.decode("=?utf-8?q?a?= =?utf-8?q?b?=") == "ab")
        #expect(EncodedWord.decode("=?utf-8?q?a?=\r\n =?utf-8?q?b?=") == "ab")
        #expect(EncodedWord.decode("x =?utf-8?q?a?= y") == "x a y")
    }

    @Test("a multi-byte character split across two words survives (bytes joined before conversion)")
    func splitCharacter() {
        // "é" = C3 A9, split over two B words.
        #expect(EncodedWord.decode("=?utf-8?B?w6==?= =?utf-8?Q?=A9?=") != "")
        #expect(EncodedWord.decode("=?utf-8?Q?=C3?= =?utf-8?Q?=A9?=") == "é")
    }

    @Test("malformed words stay raw")
    func malformed() {
        #expect(EncodedWord.decode("=?utf-8?x?abc?=") == "=?utf-8?x?abc?=")
        #expect(EncodedWord.decode("=?utf-8?q?abc") == "=?utf-8?q?abc")
        #expect(EncodedWord.decode("plain") == "plain")
    }

    @Test("unknown charset falls back to Latin-1 flagged")
    func unknownCharset() {
        let d = Charset.decode([0x41, 0xE9], charset: "x-no-such-charset")
        #expect(d.string == "Aé")
        #expect(d.exact == false)
    }
}

@Suite("Content-Type and RFC 2231")
struct ContentTypeTests {
    @Test("type, subtype and parameters, case-insensitive names, quoted values")
    func basic() throws {
        let ct = try #require(
            ContentType(headerValue: "Multipart/Report; Report-Type=delivery-status;\r\n\tboundary=\"a b;c\""))
        #expect(ct.mimeType == "multipart/report")
        #expect(ct.parameters["report-type"] == "delivery-status")
        #expect(ct.boundary == "a b;c")
    }

    @Test("RFC 2231 charset and continuations")
    func rfc2231() throws {
        let ct = try #require(
            ContentType(
                headerValue:
                    "application/x; name*=utf-8''%E2%82%AC%20rate; title*0=\"abc\"; title*1*=%41%42; title*2=\"z\""))
        #expect(ct.parameters["name"] == "€ rate")
        #expect(ct.parameters["title"] == "abcABz")
    }

    @Test("garbage gives nil")
    func garbage() {
        #expect(ContentType(headerValue: "") == nil)
        #expect(ContentType(headerValue: "text") == nil)
        #expect(ContentType(headerValue: ";;;") == nil)
    }
}
