import Testing

@testable import SMTPCore

@Suite("Server session: hostile clients (recipient gate, junk commands, storage, lifetime)")
struct SMTPServerSessionHostileTests {
    /// Tags of four lower-case letters stand in for probe tokens whose HMAC verifies.
    static let gate = RecipientGate(acceptedLocalParts: ["Reports"]) { tag in
        tag.count == 4 && tag.allSatisfy { $0.isLowercase }
    }

    static func driver(gate: RecipientGate? = Self.gate, junk: Int = 100) -> SessionDriver {
        var c = SMTPServerSession.Configuration(hostname: "mx.test", domains: ["return.example"])
        c.maxJunkCommands = junk
        var d = SessionDriver(c)
        d.session.recipientGate = gate
        return d
    }

    @Test(
        "the gate takes LOCAL+valid-tag, postmaster (bare and in a domain) and --accept local parts, any case, any +tag"
    )
    func gateAccepts() {
        var d = Self.driver()
        d.feed("EHLO c\r\nMAIL FROM:<>\r\n")
        for rcpt in [
            "roundtrip+abcd@return.example", "ANY+wxyz@return.example", "postmaster@return.example", "<Postmaster>",
            "POSTMASTER+x@return.example", "reports@return.example", "REPORTS+anything@return.example",
        ] {
            d.replies = []
            d.feed("RCPT TO:\(rcpt.hasPrefix("<") ? rcpt : "<\(rcpt)>")\r\n")
            #expect(d.codes == [250], "\(rcpt)")
        }
        d.feed("DATA\r\nSubject: x\r\n\r\nhi\r\n.\r\n")
        #expect(d.messages.count == 1)
        #expect(d.messages[0].0.recipients.count == 7)
    }

    @Test(
        "the gate refuses bare local parts, invalid tags, empty tags and unknown names with 550 5.1.1; DATA then gets 554"
    )
    func gateRefuses() throws {
        var d = Self.driver()
        d.feed("EHLO c\r\nMAIL FROM:<>\r\n")
        for rcpt in [
            "roundtrip@return.example", "roundtrip+ABCDE@return.example", "roundtrip+abc@return.example",
            "roundtrip+@return.example", "alice@return.example", "reports-x@return.example",
            "\"roundtrip+abcd x\"@return.example",
        ] {
            d.replies = []
            d.feed("RCPT TO:<\(rcpt)>\r\n")
            #expect(d.codes == [550], "\(rcpt)")
            #expect(d.replies.first?.lines.first?.hasPrefix("5.1.1 ") == true)
        }
        d.replies = []
        d.feed("DATA\r\n")
        #expect(d.codes == [554])
        #expect(d.messages.isEmpty)
    }

    @Test("without a gate every recipient in the domains is taken (simulator, tests)")
    func noGate() {
        var d = Self.driver(gate: nil)
        d.feed("EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<anyone@return.example>\r\n")
        #expect(d.codes == [250, 250, 250])
    }

    @Test("1,000 pipelined NOOPs: 100 are answered, then 421 4.7.0 and close; nothing after is processed")
    func junkCommandsEndTheSession() {
        var d = Self.driver()
        d.feed(String(repeating: "NOOP\r\n", count: 1000))
        #expect(d.codes.count == 101)
        #expect(d.codes.prefix(100).allSatisfy { $0 == 250 })
        #expect(d.codes.last == 421)
        #expect(d.replies.last?.lines.first?.hasPrefix("4.7.0") == true)
        #expect(d.closed)
    }

    @Test("EHLO, HELO, RSET, VRFY and unknown commands count as junk; an accepted message starts the count anew")
    func junkCountsAndResets() {
        var d = Self.driver(junk: 5)
        d.feed("EHLO c\r\nRSET\r\nVRFY x\r\nXYZZY\r\nHELO c\r\n")
        #expect(d.codes == [250, 250, 252, 502, 250])
        d.feed("MAIL FROM:<>\r\nRCPT TO:<postmaster@return.example>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\n")
        #expect(d.messages.count == 1)
        d.replies = []
        d.feed("NOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\n")
        #expect(d.codes == [250, 250, 250, 250, 250])
        #expect(!d.closed)
        d.feed("NOOP\r\n")
        #expect(d.codes.last == 421)
        #expect(d.closed)
    }

    @Test("without free storage DATA gets 452 4.3.1 and the transaction stays; with it again, DATA goes on")
    func storage() {
        var d = Self.driver()
        d.feed("EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<postmaster@return.example>\r\n")
        d.session.storageAvailable = false
        d.replies = []
        d.feed("DATA\r\n")
        #expect(d.codes == [452])
        #expect(d.replies.first?.lines.first == "4.3.1 Insufficient system storage")
        d.session.storageAvailable = true
        d.replies = []
        d.feed("DATA\r\nSubject: x\r\n\r\nhi\r\n.\r\n")
        #expect(d.codes == [354, 250])
        #expect(d.messages.count == 1)
    }

    @Test("lifetime exceeded: 421 4.4.2 and close")
    func lifetime() {
        var d = Self.driver()
        d.feed("EHLO c\r\n")
        let action = d.session.lifetimeExceeded()
        guard case .replyThenClose(let r) = action else {
            Issue.record("expected replyThenClose, got \(action)")
            return
        }
        #expect(r.code == 421)
        #expect(r.lines.first?.hasPrefix("4.4.2") == true)
        #expect(d.session.phase == .closed)
    }
}
