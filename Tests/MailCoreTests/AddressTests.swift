import MailCore
import Testing

@Suite("Addresses, xtext, unitext, dates, mbox")
struct AddressTests {
    @Test(
        "addr-spec extraction",
        arguments: [
            ("Alice Example <alice@dest.example>", "alice@dest.example"),
            ("<alice@dest.example>", "alice@dest.example"),
            ("alice@dest.example (Alice)", "alice@dest.example"),
            ("\"john q\"@dest.example", "\"john q\"@dest.example"),
            ("\"Doe, John\" <john@dest.example>", "john@dest.example"),
            ("<@relay.example,@b.example:u@c.example>", "u@c.example"),
            ("  rfc822 junk user@x.example  ", "user@x.example"),
        ])
    func addrSpec(_ input: String, _ expected: String) {
        #expect(AddressParser.addrSpec(in: input) == expected)
    }

    @Test("addresses found in free text")
    func findInText() {
        let text = Array("Delivery to <a.b@x.example> failed; see postmaster@y.example. Version 1.2@3".utf8)[...]
        let found = AddressParser.findAddresses(in: text).map { String(decoding: text[$0], as: UTF8.self) }
        #expect(found == ["a.b@x.example", "postmaster@y.example"])
    }

    @Test("xtext encode: upper-case hex for +, =, SP, CTL, 8-bit")
    func xtextEncode() {
        #expect(XText.encode("Bob+tag@example.com") == "Bob+2Btag@example.com")
        #expect(XText.encode("a=b c") == "a+3Db+20c")
        #expect(XText.encode("é") == "+C3+A9")
        #expect(XText.isValid("a+3Db"))
        #expect(!XText.isValid("a+3db"))
        #expect(!XText.isValid("a b"))
    }

    @Test("xtext decode: lenient, invalid text kept literally")
    func xtextDecode() {
        #expect(XText.decode("a+3Db+20c") == "a=b c")
        #expect(XText.decode("a+3db") == "a=b")
        #expect(XText.decode("user+AB@x") == "user\u{AB}@x")  // why Original-Recipient is compared raw too
        #expect(XText.decode("bad+zz+") == "bad+zz+")
        #expect(XText.decode(XText.encode("round trip = ok+")) == "round trip = ok+")
    }

    @Test("unitext \\x{HEX} decode")
    func unitext() {
        #expect(XText.decodeUnitext("j\\x{F6}rg@example.com") == "jörg@example.com")
        #expect(XText.decodeUnitext("\\x{1F600}") == "😀")
        #expect(XText.decodeUnitext("bad\\x{ZZ}") == "bad\\x{ZZ}")
        #expect(XText.decodeUnitext("\\x{D800}") == "\\x{D800}")
    }

    @Test(
        "RFC 5322 dates incl. obsolete zones",
        arguments: [
            ("Tue, 4 Mar 2025 10:12:07 +0100", Int64(1_741_079_527), 60),
            ("4 Mar 2025 10:12 +0100", Int64(1_741_079_520), 60),
            ("Tue, 04 Mar 25 09:12:07 GMT", Int64(1_741_079_527), 0),
            ("Tue, 4 Mar 2025 04:12:07 EST", Int64(1_741_079_527), -300),
            ("Thu, 29 Apr 2013 23:45:41 +0900 (JST)", Int64(1_367_246_741), 540),
        ])
    func dates(_ text: String, _ epoch: Int64, _ zone: Int) throws {
        let d = try #require(MessageDate(text))
        #expect(d.secondsSince1970 == epoch)
        #expect(d.zoneOffsetMinutes == zone)
    }

    @Test("unknown zones, bad dates, formatting")
    func dateEdges() throws {
        #expect(try #require(MessageDate("4 Mar 2025 10:12:07 -0000")).zoneOffsetMinutes == nil)
        #expect(try #require(MessageDate("4 Mar 1999 10:12:07 Z")).zoneOffsetMinutes == 0)
        #expect(MessageDate("yesterday") == nil)
        #expect(MessageDate("32 Foo 2025 99:99") == nil)
        #expect(
            MessageDate(secondsSince1970: 1_741_079_527, zoneOffsetMinutes: 0).rfc5322
                == "Tue, 4 Mar 2025 09:12:07 +0000")
    }

    @Test("mbox split with mboxrd unquoting; tiny files hold nothing")
    func mbox() {
        let raw =
            "From a@b Thu Jan  1 00:00:00 2025\nSubject: one\n\n>From here\n>>From there\n\nFrom c@d Thu Jan  1 00:00:00 2025\nSubject: two\n\nbody\n"
        let messages = Mbox.split(Array(raw.utf8))
        #expect(messages.count == 2)
        #expect(String(decoding: messages[0], as: UTF8.self) == "Subject: one\n\nFrom here\n>From there\n")
        #expect(String(decoding: messages[1], as: UTF8.self) == "Subject: two\n\nbody\n")
        #expect(Mbox.split([]).isEmpty)
        #expect(Mbox.split(Array("\n\n\n".utf8)).isEmpty)
    }
}
