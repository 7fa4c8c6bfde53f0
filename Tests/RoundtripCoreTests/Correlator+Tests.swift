import Crypto
import DeliveryReports
import Foundation
import MailCore
import SMTPCore
import TestRandom
import Testing

@testable import RoundtripCore

/// Reports built with RFC3464Builder, parsed back, then correlated.
@Suite struct CorrelatorTests {
    let key = SymmetricKey(data: Array(repeating: UInt8(3), count: 32))
    let foreignKey = SymmetricKey(data: Array(repeating: UInt8(4), count: 32))

    func token(_ seed: UInt64, key: SymmetricKey? = nil, at: UInt32 = 1_800_000_000) -> ProbeToken {
        var rng = SeededGenerator(seed: seed)
        return ProbeToken.make(createdAt: at, key: key ?? self.key, using: &rng)
    }

    func report(
        token t: ProbeToken, to: String? = nil, envid: Bool = true, returnedHeaders: Bool = true,
        recipient: String = "alice@dest.example", action: DeliveryAction = .delivered, status: String = "2.0.0"
    ) -> DeliveryReport {
        let header =
            "Message-ID: <\(t.value)@return.example>\r\nX-Roundtrip-Probe: \(t.value)\r\nSubject: roundtrip probe \(t.value)\r\n"
        let b = RFC3464Builder(
            reportingMTA: "mx.dest.example", from: "MAILER-DAEMON@dest.example",
            to: to ?? "roundtrip+\(t.value)@return.example",
            messageID: "r1@dest.example", date: MessageDate(secondsSince1970: 1_800_000_100, zoneOffsetMinutes: 0),
            boundary: "b1",
            originalEnvelopeID: envid ? t.value : nil,
            recipients: [
                .init(
                    finalRecipient: recipient, originalRecipient: recipient, action: action,
                    status: StatusCode(status)!,
                    diagnostic: action == .failed ? "smtp; 550 5.1.1 unknown user" : nil)
            ],
            returnedHeader: returnedHeaders ? Array(header.utf8) : nil
        )
        return try! DeliveryReportParser.parse(b.build())
    }

    @Test func envelopeRecipientIsStrongest() {
        let t = token(1)
        let c = Correlator(key: key).correlate(
            report(token: t), envelopeRecipients: ["roundtrip+\(t.value)@return.example"], pending: [])
        #expect(c.token == t && c.key == .envelopeRecipient && c.confidence == .high)
    }

    @Test func reportToHeaderCarriesVERP() {
        let t = token(2)
        let c = Correlator(key: key).correlate(report(token: t), pending: [])
        #expect(c.token == t && c.key == .deliveredTo && c.confidence == .high)
    }

    @Test func envelopeIDWhenTheAddressIsRewritten() {
        let t = token(3)
        let c = Correlator(key: key).correlate(report(token: t, to: "srs0=abc@forwarder.example"), pending: [])
        #expect(c.token == t && c.key == .envelopeID)
    }

    @Test func recipientOfAUniquePendingProbeAtLowerConfidence() {
        let t = token(4)
        let other = token(5)
        let r = report(token: t, to: "bounces@elsewhere.example", envid: false, returnedHeaders: false)
        let c = Correlator(key: key).correlate(
            r,
            pending: [
                PendingProbe(token: t, recipients: ["alice@dest.example"]),
                PendingProbe(token: other, recipients: ["bob@dest.example"]),
            ])
        #expect(c.token == t && c.key == .recipient && c.confidence == .medium)
    }

    @Test func returnedHeadersWhenNoEnvelopeKeys() {
        let t = token(6)
        let r = report(
            token: t, to: "bounces@elsewhere.example", envid: false, returnedHeaders: true,
            recipient: "changed@dest.example")
        let c = Correlator(key: key).correlate(r, pending: [PendingProbe(token: t, recipients: ["alice@dest.example"])])
        #expect(c.token == t && c.key == .returnedHeaders && c.confidence == .medium)
    }

    @Test func tokenInTextIsTheLastResort() {
        let t = token(7)
        let r = report(
            token: t, to: "bounces@elsewhere.example", envid: false, returnedHeaders: false, recipient: "x@y.example")
        let c = Correlator(key: key).correlate(
            r, pending: [], text: "Your message roundtrip probe \(t.value) could not be delivered")
        #expect(c.token == t && c.key == .text && c.confidence == .low)
    }

    @Test func forgedTokenDoesNotCorrelate() {
        let forged = token(8, key: foreignKey)
        let r = report(token: forged)
        let c = Correlator(key: key).correlate(
            r, envelopeRecipients: ["roundtrip+\(forged.value)@return.example"],
            pending: [PendingProbe(token: token(9), recipients: ["alice@dest.example"])])
        #expect(c.token == nil)
        #expect(c.isForged)
        #expect(c.forged == [forged.value])
    }

    @Test func unmatchedReportIsKeptAsNone() {
        let r = report(
            token: token(10, key: foreignKey), to: "someone@else.example", envid: false, returnedHeaders: false,
            recipient: "x@y.example")
        let c = Correlator(key: key).correlate(r, pending: [])
        #expect(c.token == nil && c.key == .none && !c.isForged)
    }

    @Test func upperCasedVERPStillMatches() {
        let t = token(11)
        let c = Correlator(key: key).correlate(
            report(token: t), envelopeRecipients: ["ROUNDTRIP+\(t.value.uppercased())@RETURN.EXAMPLE"], pending: [])
        #expect(c.token == t)
    }
}

@Suite struct RunTrackerTests {
    let key = SymmetricKey(data: Array(repeating: UInt8(3), count: 32))
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func dsn(_ recipient: String, _ action: DeliveryAction, _ status: String) -> DeliveryReport {
        let b = RFC3464Builder(
            reportingMTA: "mx.dest.example", from: "MAILER-DAEMON@dest.example", to: "rt+x@r.example",
            messageID: "r@d", date: MessageDate(secondsSince1970: 1_800_000_100, zoneOffsetMinutes: 0), boundary: "b",
            recipients: [.init(finalRecipient: recipient, action: action, status: StatusCode(status)!)])
        return try! DeliveryReportParser.parse(b.build())
    }

    let corr = Correlation(token: nil, key: .envelopeID, confidence: .high, forged: [])

    @Test func verdictsFromSubmissionAndReports() {
        var t = RunTracker(recipients: ["a@d.example", "b@d.example", "c@d.example", "e@d.example"])
        t.submitted(
            "a@d.example", server: "mx:25", accepted: true, replyCode: 250, enhancedCode: "2.1.5", text: "ok",
            dsnRequested: true, at: now)
        t.submitted(
            "b@d.example", server: "mx:25", accepted: false, replyCode: 550, enhancedCode: "5.1.1", text: "no",
            dsnRequested: true, at: now)
        t.submitted(
            "c@d.example", server: "mx:25", accepted: true, replyCode: 250, enhancedCode: nil, text: "ok",
            dsnRequested: true, at: now)
        t.submitted(
            "e@d.example", server: "mx:25", accepted: true, replyCode: 250, enhancedCode: nil, text: "ok",
            dsnRequested: true, at: now)
        #expect(t.verdicts == [.pending, .rejected, .pending, .pending])
        t.received(
            dsn("a@d.example", .delivered, "2.0.0"), correlation: corr, source: "listener",
            at: now.addingTimeInterval(1.5))
        t.received(
            dsn("c@d.example", .delayed, "4.4.1"), correlation: corr, source: "listener", at: now.addingTimeInterval(2))
        #expect(t.verdicts == [.delivered, .rejected, .delayed, .pending])
        #expect(!t.isComplete)
        #expect(t.recipients[0].roundTripSeconds == 1.5)
        // A late delayed never replaces a final verdict.
        t.received(
            dsn("a@d.example", .delayed, "4.4.1"), correlation: corr, source: "listener", at: now.addingTimeInterval(3))
        #expect(t.recipients[0].verdict == .delivered)
        t.received(
            dsn("c@d.example", .failed, "5.4.7"), correlation: corr, source: "listener", at: now.addingTimeInterval(4))
        t.deadlinePassed()
        #expect(t.verdicts == [.delivered, .rejected, .failed, .timeout])
        #expect(RunExitStatus.from(verdicts: t.verdicts, strict: false) == .failed)
    }

    @Test func noDSNMeansDSNUnavailable() {
        var t = RunTracker(recipients: ["a@d.example"])
        t.submitted(
            "a@d.example", server: "mx:25", accepted: true, replyCode: 250, enhancedCode: nil, text: "ok",
            dsnRequested: false, at: now)
        #expect(t.verdicts == [.dsnUnavailable])
        #expect(t.isComplete)
    }

    @Test func renderers() throws {
        var t = RunTracker(recipients: ["a@d.example", "b<&>@d.example"])
        t.submitted(
            "a@d.example", server: "mx:25", accepted: true, replyCode: 250, enhancedCode: nil, text: "ok",
            dsnRequested: true, at: now)
        t.received(
            dsn("a@d.example", .delivered, "2.0.0"), correlation: corr, source: "listener",
            at: now.addingTimeInterval(0.25))
        t.deadlinePassed()
        let status = RunExitStatus.from(verdicts: t.verdicts, strict: false)
        let r = RunReport(
            token: "tok", returnPath: "rt+tok@r.example", messageID: "tok@r.example", startedAt: now,
            finishedAt: now.addingTimeInterval(2),
            deadlineSeconds: 60, strict: false,
            submissions: [SubmissionSummary(target: "mx:25", dsnAdvertised: true, dsnRequested: true)],
            recipients: t.recipients, exitCode: status.rawValue)
        let junit = RunRenderer.junit(r)
        #expect(junit.contains("tests=\"2\" failures=\"1\""))
        #expect(junit.contains("name=\"b&lt;&amp;&gt;@d.example\""))
        #expect(junit.contains("<failure type=\"timeout\""))
        let nagios = RunRenderer.nagios(r)
        #expect(nagios.hasPrefix("ROUNDTRIP CRITICAL - 1 delivered, 1 timeout"))
        #expect(nagios.contains("| rtt_max=0.250s"))
        let json = try JSONSerialization.jsonObject(with: Data(RunRenderer.json(r).utf8)) as? [String: Any]
        #expect((json?["recipients"] as? [[String: Any]])?.first?["verdict"] as? String == "delivered")
        #expect(RunRenderer.text(r).contains("delivered       a@d.example  2.0.0  round trip 0.25 s"))
    }
}
