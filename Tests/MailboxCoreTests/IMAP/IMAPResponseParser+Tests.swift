import MailboxCore
import Testing

func parse(_ s: String) throws -> IMAPResponse {
    try IMAPResponseParser.parse(bytes(s))
}

@Suite struct IMAPResponseParserTests {
    @Test func taggedWithCodes() throws {
        #expect(
            try parse("a1 OK [CAPABILITY IMAP4rev1 IDLE MOVE] Logged in\r\n")
                == .tagged(
                    .init(tag: "a1", status: .ok, code: .capability(["IMAP4rev1", "IDLE", "MOVE"]), text: "Logged in")))
        #expect(
            try parse("a2 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n")
                == .tagged(.init(tag: "a2", status: .no, code: .authenticationFailed, text: "Authentication failed.")))
        #expect(
            try parse("a3 NO [TRYCREATE] Mailbox doesn't exist: Done\r\n")
                == .tagged(.init(tag: "a3", status: .no, code: .tryCreate, text: "Mailbox doesn't exist: Done")))
        #expect(
            try parse("a4 BAD Error in IMAP command\r\n")
                == .tagged(.init(tag: "a4", status: .bad, text: "Error in IMAP command")))
        #expect(
            try parse("a5 OK [READ-WRITE] Select completed\r\n")
                == .tagged(.init(tag: "a5", status: .ok, code: .readWrite, text: "Select completed")))
        #expect(try parse("a6 ok done\r\n") == .tagged(.init(tag: "a6", status: .ok, text: "done")))
        #expect(
            try parse("a7 NO [UNAVAILABLE] later\r\n")
                == .tagged(.init(tag: "a7", status: .no, code: .unavailable, text: "later")))
    }

    @Test func copyUIDAndOtherCodes() throws {
        let r = try parse("a9 OK [COPYUID 38505 304,319:320 3956:3958] Done\r\n")
        guard case .tagged(let t) = r, case .copyUID(let v, let src, let dst)? = t.code else {
            Issue.record("\(r)")
            return
        }
        #expect(v == 38505)
        #expect(try src.expanded() == [304, 319, 320])
        #expect(try dst.expanded() == [3956, 3957, 3958])
        #expect(
            try parse("* OK [UIDVALIDITY 3857529045] UIDs valid\r\n")
                == .untagged(.condition(.ok, .uidValidity(3_857_529_045), "UIDs valid")))
        #expect(
            try parse("* OK [UIDNEXT 4392] Predicted next UID\r\n")
                == .untagged(.condition(.ok, .uidNext(4392), "Predicted next UID")))
        #expect(
            try parse("* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n")
                == .untagged(.condition(.ok, .permanentFlags(["\\Deleted", "\\Seen", "\\*"]), "Limited")))
        #expect(
            try parse("* OK [HIGHESTMODSEQ 715194045007]\r\n")
                == .untagged(.condition(.ok, .other("HIGHESTMODSEQ", "715194045007"), "")))
        #expect(
            try parse("a1 OK [APPENDUID 38505 3955] done\r\n")
                == .tagged(.init(tag: "a1", status: .ok, code: .appendUID(uidValidity: 38505, uid: 3955), text: "done"))
        )
    }

    @Test func untaggedConditions() throws {
        #expect(
            try parse("* OK [ALERT] System shutdown in 10 minutes\r\n")
                == .untagged(.condition(.ok, .alert, "System shutdown in 10 minutes")))
        #expect(
            try parse("* BYE Autologout; idle for too long\r\n")
                == .untagged(.condition(.bye, nil, "Autologout; idle for too long")))
        #expect(
            try parse("* PREAUTH [CAPABILITY IMAP4rev2] Logged in as alice\r\n")
                == .untagged(.condition(.preauth, .capability(["IMAP4rev2"]), "Logged in as alice")))
        #expect(try parse("* OK\r\n") == .untagged(.condition(.ok, nil, "")))
        #expect(try parse("* NO [ALERT] quota\r\n") == .untagged(.condition(.no, .alert, "quota")))
    }

    @Test func capabilityExistsExpungeRecentFlags() throws {
        #expect(
            try parse("* CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN LOGINDISABLED\r\n")
                == .untagged(.capability(["IMAP4rev1", "STARTTLS", "AUTH=PLAIN", "LOGINDISABLED"])))
        #expect(try parse("* 23 EXISTS\r\n") == .untagged(.exists(23)))
        #expect(try parse("* 3 EXPUNGE\r\n") == .untagged(.expunge(3)))
        #expect(try parse("* 0 RECENT\r\n") == .untagged(.recent(0)))
        #expect(
            try parse("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n")
                == .untagged(.flags(["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"])))
        #expect(
            try parse("* LIST (\\HasNoChildren) \"/\" INBOX\r\n")
                == .untagged(.other("LIST", "(\\HasNoChildren) \"/\" INBOX")))
    }

    @Test func searchAndESearch() throws {
        #expect(try parse("* SEARCH 2 84 882\r\n") == .untagged(.search([2, 84, 882])))
        #expect(try parse("* SEARCH\r\n") == .untagged(.search([])))
        #expect(try parse("* SEARCH 2 5 (MODSEQ 917162500)\r\n") == .untagged(.search([2, 5])))
        let r = try parse("* ESEARCH (TAG \"a5\") UID ALL 4101,4107:4109 COUNT 4\r\n")
        guard case .untagged(.esearch(let e)) = r else {
            Issue.record("\(r)")
            return
        }
        #expect(e.tag == "a5" && e.uid && e.count == 4)
        #expect(try e.all?.expanded() == [4101, 4107, 4108, 4109])
        #expect(try parse("* ESEARCH (TAG \"a6\") UID\r\n") == .untagged(.esearch(.init(tag: "a6", uid: true))))
        #expect(
            try parse("* ESEARCH (TAG \"a7\") UID MIN 3 MAX 9\r\n")
                == .untagged(.esearch(.init(tag: "a7", uid: true, min: 3, max: 9))))
    }

    @Test func fetchWithLiteralItemsInAnyOrder() throws {
        let a = try parse("* 17 FETCH (UID 4101 RFC822.SIZE 12 BODY[] {12}\r\nHello\r\nWorld FLAGS (\\Seen $Junk))\r\n")
        let b = try parse("* 17 FETCH (FLAGS (\\Seen $Junk) BODY[] {12}\r\nHello\r\nWorld RFC822.SIZE 12 UID 4101)\r\n")
        let expected = IMAPResponse.untagged(
            .fetch(
                sequenceNumber: 17,
                .init(uid: 4101, rfc822Size: 12, body: bytes("Hello\r\nWorld"), flags: ["\\Seen", "$Junk"])))
        #expect(a == expected)
        #expect(b == expected)
    }

    @Test func fetchWithQuotedBodyNilBodyAndSkippedItems() throws {
        #expect(
            try parse("* 1 FETCH (UID 7 BODY[] \"a \\\"q\\\" \\\\ b\")\r\n")
                == .untagged(.fetch(sequenceNumber: 1, .init(uid: 7, body: bytes("a \"q\" \\ b")))))
        #expect(
            try parse("* 1 FETCH (UID 8 BODY[] NIL)\r\n")
                == .untagged(.fetch(sequenceNumber: 1, .init(uid: 8, bodyIsNil: true))))
        let r = try parse(
            "* 4 FETCH (INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" ENVELOPE (\"date\" \"subj\" ((NIL NIL \"a\" \"b.c\")) NIL NIL NIL NIL NIL NIL {3}\r\n<x>) BODYSTRUCTURE (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 1) MODSEQ (12) UID 99 BODY[HEADER.FIELDS (FROM TO)] {4}\r\nA: b BODY[]<0> {2}\r\nhi)\r\n"
        )
        guard case .untagged(.fetch(4, let f)) = r else {
            Issue.record("\(r)")
            return
        }
        #expect(f.uid == 99)
        #expect(f.internalDate == "17-Jul-1996 02:44:25 -0700")
        #expect(f.sections["HEADER.FIELDS (FROM TO)"] == bytes("A: b"))
        #expect(f.body == bytes("hi"))
    }

    @Test func fetchWithSeveralLiterals() throws {
        let r = try parse("* 2 FETCH (BODY[HEADER] {4}\r\nH: v BODY[TEXT] {3}\r\nabc BODY[] {0}\r\n UID 5)\r\n")
        #expect(
            r
                == .untagged(
                    .fetch(
                        sequenceNumber: 2,
                        .init(uid: 5, body: [], sections: ["HEADER": bytes("H: v"), "TEXT": bytes("abc")]))))
    }

    @Test func continuation() throws {
        #expect(try parse("+ idling\r\n") == .continuation("idling"))
        #expect(try parse("+\r\n") == .continuation(""))
        #expect(try parse("+ \r\n") == .continuation(""))
    }

    @Test(arguments: [
        "a1 MAYBE done\r\n",
        "* 1 FETCH (UID x)\r\n",
        "* 1 FETCH (BODY[] {10}\r\nshort)\r\n",
        "* 1 FETCH (BODY[] \"unterminated)\r\n",
        "* 1 FETCH (BODY[] \"bad \\n escape\")\r\n",
        "* SEARCH 1 x\r\n",
        "* OK [UIDVALIDITY abc] x\r\n",
        "* OK [COPYUID 1 2] x\r\n",
        "no crlf",
        "\r\n",
        "* \r\n",
        "* 1 FETCH (UID 0)\r\n",
        "* ESEARCH (TAG \"a\") UID ALL 1:x\r\n",
    ])
    func malformedInputThrows(input: String) {
        #expect(throws: IMAPParseError.self) { try parse(input) }
    }

    @Test func deepNestingIsBounded() {
        let deep = String(repeating: "(", count: 500) + String(repeating: ")", count: 500)
        #expect(throws: IMAPParseError.self) { try parse("* 1 FETCH (BODYSTRUCTURE \(deep) UID 1)\r\n") }
    }

    @Test func hugeSetsAreNotExpandedBlindly() throws {
        let set = try IMAPResponseParser.parseSet("1:4000000000")
        #expect(throws: IMAPParseError.self) { try set.expanded() }
        #expect(throws: IMAPParseError.self) { try IMAPResponseParser.parseSet("5:*").expanded() }
    }

    @Test func randomBytesNeverCrash() {
        var rng = SystemRandomNumberGenerator()
        let alphabet = bytes("* ()[]{}\"\\+0123456789 aA\r\nFETCHUIDBODY")
        for _ in 0..<2000 {
            let n = Int.random(in: 0..<60, using: &rng)
            var input = (0..<n).map { _ in alphabet.randomElement(using: &rng) ?? 0 }
            input += [0x0D, 0x0A]
            _ = try? IMAPResponseParser.parse(input)
            var f = IMAPFramingParser()
            f.append(input)
            _ = try? f.next()
        }
    }
}
