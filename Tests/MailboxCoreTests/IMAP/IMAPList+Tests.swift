import MailboxCore
import Testing

@Suite struct IMAPListTests {
    @Test func specialUseEntries() throws {
        let junk = try #require(IMAPListEntry(parsing: #"(\HasNoChildren \Junk) "." Junk"#))
        #expect(junk.has("\\junk") && junk.name == "Junk" && junk.delimiter == ".")
        let quoted = try #require(IMAPListEntry(parsing: #"(\Junk) "/" "Spam \"Mail\"""#))
        #expect(quoted.name == "Spam \"Mail\"" && quoted.delimiter == "/")
        let flat = try #require(IMAPListEntry(parsing: "() NIL INBOX"))
        #expect(flat.delimiter == nil && flat.attributes.isEmpty && !flat.has("\\Junk"))
    }

    @Test func malformedIsNil() {
        for s in [
            "", "(", "()", #"(\Junk) "." "#, #"(\Junk) "." "unterminated"#, #"(\Junk) "." {4}"#,
            #"(\Junk) "." a b"#, "no parens", #"(\Junk) "\"#,
        ] {
            #expect(IMAPListEntry(parsing: s) == nil, "\(s)")
        }
    }

    @Test func encodesList() throws {
        #expect(text(try IMAPCommandEncoder().encode(.listAll, tag: "a1")) == "a1 LIST \"\" \"*\"\r\n")
    }

    @Test func internalDates() {
        #expect(IMAPDateTime.secondsSince1970("04-Dec-2026 10:00:01 +0000") == 1_796_378_401)
        #expect(IMAPDateTime.secondsSince1970(" 4-Dec-2026 11:00:01 +0100") == 1_796_378_401)
        #expect(IMAPDateTime.secondsSince1970("\"04-Dec-2026 05:00:01 -0500\"") == 1_796_378_401)
        #expect(IMAPDateTime.secondsSince1970("01-Jan-1970 00:00:00 +0000") == 0)
        #expect(IMAPDateTime.secondsSince1970("29-Feb-2028 00:00:00 +0000") == 1_835_395_200)
        for bad in [
            "", "04-Dec-2026", "04-Foo-2026 10:00:01 +0000", "04-Dec-2026 25:00:01 +0000",
            "04-Dec-2026 10:00:01 0000", "32-Dec-2026 10:00:01 +0000", "04-Dec-2026 10:00 +0000",
        ] {
            #expect(IMAPDateTime.secondsSince1970(bad) == nil, "\(bad)")
        }
    }
}
