import Crypto
import Foundation
import SMTPCore
import TestRandom
import Testing

@testable import RoundtripCore

@Suite struct ProbeBuilderTests {
    let key = SymmetricKey(data: Array(repeating: UInt8(1), count: 32))

    func token() -> ProbeToken {
        var rng = SeededGenerator(seed: 42)
        return ProbeToken.make(createdAt: 1_800_000_000, key: key, using: &rng)
    }

    @Test func tokenIsEverywhere() throws {
        let t = token()
        let b = ProbeBuilder(
            from: try SMTPMailbox("roundtrip@return.example"),
            recipients: [try SMTPMailbox("alice@dest.example"), try SMTPMailbox("bob@dest.example")])
        let p = try b.build(token: t, date: "Sun, 29 Nov 2026 03:00:00 +0000")
        #expect(p.returnPath.description == "roundtrip+\(t.value)@return.example")
        #expect(
            try SMTPCommand.mail(.mailbox(p.returnPath), p.mailParameters).line()
                == "MAIL FROM:<roundtrip+\(t.value)@return.example> RET=HDRS ENVID=\(t.value)")
        #expect(
            try SMTPCommand.rcpt(p.recipients[0].mailbox, p.recipients[0].parameters).line()
                == "RCPT TO:<alice@dest.example> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=rfc822;alice@dest.example")
        let text = String(decoding: p.message, as: UTF8.self)
        #expect(text.contains("Message-ID: <\(t.value)@return.example>\r\n"))
        #expect(text.contains("X-Roundtrip-Probe: \(t.value)\r\n"))
        #expect(text.contains("Subject: roundtrip probe \(t.value)\r\n"))
        #expect(text.contains("roundtrip probe token: \(t.value)\r\n"))
        #expect(!text.contains("\n\n") && !text.replacingOccurrences(of: "\r\n", with: "").contains("\n"))
        _ = try DataEncoder.encode(p.message)
    }

    @Test func notifyNeverDropsRET() throws {
        let b = ProbeBuilder(
            from: try SMTPMailbox("rt@r.example"), recipients: [try SMTPMailbox("a@d.example")], notify: .never)
        let p = try b.build(token: token(), date: "x")
        #expect(p.mailParameters.ret == nil)
        #expect(p.recipients[0].parameters.notify == .never)
    }

    @Test func sizePadsToAtLeastN() throws {
        for size in [100, 5000, 123_457] {
            let b = ProbeBuilder(
                from: try SMTPMailbox("rt@r.example"), recipients: [try SMTPMailbox("a@d.example")], size: size)
            let p = try b.build(token: token(), date: "x")
            #expect(p.message.count >= size && p.message.count <= size + 1000)
            _ = try DataEncoder.encode(p.message)
        }
    }

    @Test func manyRecipientsAreFoldedIntoShortLines() throws {
        let recipients = try (1...1000).map { try SMTPMailbox("user\($0)@dest.example") }
        let b = ProbeBuilder(from: try SMTPMailbox("rt@r.example"), recipients: recipients)
        let p = try b.build(token: token(), date: "x")
        _ = try DataEncoder.encode(p.message)
        let text = String(decoding: p.message, as: UTF8.self)
        #expect(text.contains("To: <user1@dest.example>,\r\n <user2@dest.example>,"))
    }

    @Test func tooLongLocalPartIsRefused() throws {
        let long = String(repeating: "l", count: 40)
        let b = ProbeBuilder(from: try SMTPMailbox("\(long)@r.example"), recipients: [try SMTPMailbox("a@d.example")])
        #expect(throws: ProbeBuilder.BuildError.self) { try b.build(token: token(), date: "x") }
    }

    @Test(arguments: ["X-Test: ok", "Precedence: bulk"])
    func goodHeaders(_ h: String) throws {
        _ = try ProbeBuilder.parseHeader(h)
    }

    @Test(arguments: [
        "X-Test: a\r\nBcc: evil@x", "no colon", ": empty", "Message-ID: <x@y>", "X Bad: v", "X-Nul: a\0b",
    ])
    func badHeaders(_ h: String) {
        #expect(throws: ProbeBuilder.BuildError.self) { try ProbeBuilder.parseHeader(h) }
    }

    @Test func bodyFileIsNormalisedAndCarriesTheToken() throws {
        let t = token()
        let b = ProbeBuilder(
            from: try SMTPMailbox("rt@r.example"), recipients: [try SMTPMailbox("a@d.example")],
            body: Array("line one\n.line two\n".utf8))
        let p = try b.build(token: t, date: "x")
        let text = String(decoding: p.message, as: UTF8.self)
        #expect(text.contains("line one\r\n.line two\r\n"))
        #expect(text.contains(t.value))
        let wire = String(decoding: try DataEncoder.encode(p.message), as: UTF8.self)
        #expect(wire.contains("\r\n..line two\r\n"))
    }
}

@Suite struct VerdictTests {
    @Test(arguments: [
        ([Verdict.delivered, .expanded], false, RunExitStatus.proven),
        ([.delivered, .relayed], false, .partial),
        ([.delivered, .relayed], true, .failed),
        ([.delayed], false, .partial),
        ([.dsnUnavailable], false, .partial),
        ([.timeout, .relayed], false, .timeout),
        ([.timeout, .failed], false, .failed),
        ([.rejected], false, .failed),
        ([], false, .proven),
    ])
    func worstVerdictWins(verdicts: [Verdict], strict: Bool, expected: RunExitStatus) {
        #expect(RunExitStatus.from(verdicts: verdicts, strict: strict) == expected)
    }

    @Test func nagiosMapping() {
        #expect(RunExitStatus.proven.nagios == 0)
        #expect(RunExitStatus.partial.nagios == 1)
        #expect(RunExitStatus.failed.nagios == 2)
        #expect(RunExitStatus.configuration.nagios == 3)
    }
}
