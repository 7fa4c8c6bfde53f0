import Testing

@testable import SMTPCore

@Suite("Server session: DSN advertisement and recipient policy")
struct SMTPServerSessionPolicyTests {
    static func configuration(dsn: Bool = true) -> SMTPServerSession.Configuration {
        var c = SMTPServerSession.Configuration(hostname: "mx.test", domains: ["sim.test"])
        c.advertiseDSN = dsn
        c.recipientPolicy = .init(["Reject": .refuseUnknownUser, "slow": .acceptWithSlowReplies])
        return c
    }

    @Test("DSN is advertised only when configured; default off")
    func dsn() {
        var off = SessionDriver()
        off.feed("EHLO c\r\n")
        #expect(off.replies.last?.lines.contains("DSN") == false)
        var on = SessionDriver(Self.configuration())
        on.feed("EHLO c\r\n")
        #expect(on.replies.last?.lines.contains("DSN") == true)
        var no = SessionDriver(Self.configuration(dsn: false))
        no.feed("EHLO c\r\n")
        #expect(no.replies.last?.lines.contains("DSN") == false)
    }

    @Test("reject (any +tag, any case) gets 550 5.1.1; others are accepted; DATA goes on with the rest")
    func reject() {
        var d = SessionDriver(Self.configuration())
        d.feed(
            "EHLO c\r\nMAIL FROM:<a@rt.test>\r\nRCPT TO:<REJECT+x@sim.test>\r\nRCPT TO:<reject@sim.test> NOTIFY=NEVER\r\nRCPT TO:<rejected@sim.test>\r\nDATA\r\n"
        )
        #expect(d.take() == [250, 250, 550, 550, 250, 354])
        #expect(d.session.repliesDelayed == false)
        d.feed("Subject: x\r\n\r\nhi\r\n.\r\n")
        #expect(d.messages.first?.0.recipients.map(\.path.address) == ["rejected@sim.test"])
    }

    @Test("only refused recipients: DATA gets 554")
    func onlyRefused() {
        var d = SessionDriver(Self.configuration())
        d.feed("EHLO c\r\nMAIL FROM:<a@rt.test>\r\nRCPT TO:<reject@sim.test>\r\nDATA\r\n")
        #expect(d.take() == [250, 250, 550, 554])
        #expect(d.replies.isEmpty)
    }

    @Test("the refusal text names the address with 5.1.1")
    func refusalText() throws {
        var d = SessionDriver(Self.configuration())
        d.feed("EHLO c\r\nMAIL FROM:<a@rt.test>\r\nRCPT TO:<reject+1@sim.test>\r\n")
        let r = try #require(d.replies.last)
        #expect(r.code == 550)
        #expect(r.lines.first?.hasPrefix("5.1.1 <reject+1@sim.test>") == true)
    }

    @Test("a slow recipient turns repliesDelayed on for the rest of the connection")
    func slow() {
        var d = SessionDriver(Self.configuration())
        d.feed("EHLO c\r\nMAIL FROM:<a@rt.test>\r\nRCPT TO:<success@sim.test>\r\n")
        #expect(d.session.repliesDelayed == false)
        d.feed("RCPT TO:<Slow+t@sim.test>\r\n")
        #expect(d.take() == [250, 250, 250, 250])
        #expect(d.session.repliesDelayed == true)
    }

    @Test("the policy key: local part before +, lower-cased, quotes removed")
    func key() throws {
        #expect(SMTPServerSession.RecipientPolicy.key(of: try SMTPMailbox("Reject+a+b@x.test")) == "reject")
        #expect(SMTPServerSession.RecipientPolicy.key(of: try SMTPMailbox("\"Slow\"@x.test")) == "slow")
        #expect(SMTPServerSession.RecipientPolicy.key(of: try SMTPMailbox("+x@x.test")) == "")
    }

    @Test("other domains are still relay-denied before the policy")
    func relay() {
        var d = SessionDriver(Self.configuration())
        d.feed("EHLO c\r\nMAIL FROM:<a@rt.test>\r\nRCPT TO:<reject@other.test>\r\n")
        #expect(d.replies.last?.lines.first?.hasPrefix("5.7.1") == true)
    }
}
