import Crypto
import Foundation
import MailCore
import SMTPCore
import TestRandom
import Testing

@testable import RoundtripCore

@Suite struct ArrivalEvidenceTests {
    let key = SymmetricKey(data: Array(repeating: UInt8(7), count: 32))

    func token(_ seed: UInt64 = 1) -> ProbeToken {
        var rng = SeededGenerator(seed: seed)
        return ProbeToken.make(createdAt: 1_800_000_000, key: key, using: &rng)
    }

    func message(_ t: String, extra: [String] = [], messageID: String? = nil) -> [UInt8] {
        let lines =
            extra + [
                "From: <reports@rt.test>", "To: <alice@rt.test>", "Subject: roundtrip probe \(t)",
                "Message-ID: <\(messageID ?? t)@rt.test>", "X-Roundtrip-Probe: \(t)", "", "body",
            ]
        return Array(lines.joined(separator: "\r\n").utf8)
    }

    func evidence(
        _ bytes: [UInt8], recipients: [String] = ["alice@rt.test"], user: String? = nil, trusted: String? = nil
    ) -> ArrivalEvidence? {
        ArrivalEvidence.from(
            bytes, token: token(), key: key, recipients: recipients, mailbox: "imap://alice%40rt.test@h:143/INBOX",
            mailboxUser: user, folder: "INBOX", junk: false, internalDate: nil, source: "s", trustedAuthservID: trusted,
            observedAt: Date(timeIntervalSince1970: 1_800_000_100))
    }

    @Test func readsTheArrivedProbe() throws {
        let t = token().value
        let bytes = message(
            t,
            extra: [
                "Authentication-Results: mx.rt.test; dkim=pass header.d=rt.test header.s=s1; spf=pass; dmarc=pass",
                "Received: from client (localhost [127.0.0.1]) by mx.rt.test (Postfix) with ESMTPS id A for <alice@rt.test>; Fri, 15 Jan 2027 08:00:05 +0000",
                "Received: from [127.0.0.1] by first.rt.test with ESMTP id B; Fri, 15 Jan 2027 08:00:02 +0000",
                "Delivered-To: alice@rt.test",
            ])
        let e = try #require(evidence(bytes, recipients: ["bob@rt.test", "Alice@rt.test"]))
        #expect(e.address == "Alice@rt.test")
        #expect(e.tokenIn == ["X-Roundtrip-Probe", "Message-ID"])
        #expect(e.hops.map(\.by) == ["mx.rt.test", "first.rt.test"])
        #expect(e.hops.map(\.tls) == [true, false])
        #expect(e.receivedAt == e.hops[0].at)
        #expect(e.arrivedAt == e.receivedAt)
        #expect(e.authentication?.dkim.first?.selector == "s1")
        #expect(e.concerns.isEmpty)
    }

    @Test func onlyAnAuthenticatedTokenOfThisProbeCounts() {
        let other = token(2).value
        #expect(evidence(message(other)) == nil)
        // A forged token (right shape, wrong HMAC) in both places.
        var forged = Array(token().value)
        forged[30] = forged[30] == "a" ? "b" : "a"
        #expect(evidence(message(String(forged))) == nil)
        // The Message-ID alone is enough.
        let t = token().value
        let onlyID = Array(
            "From: <a@b>\r\nMessage-ID: <\(t)@rt.test>\r\nX-Roundtrip-Probe: \(other)\r\n\r\nx".utf8)
        #expect(evidence(onlyID)?.tokenIn == ["Message-ID"])
    }

    @Test func whichRecipient() {
        let t = token().value
        // Several recipients and nothing naming one: the mailbox user decides, else nobody.
        #expect(evidence(message(t), recipients: ["a@x", "b@x"]) == nil)
        #expect(evidence(message(t), recipients: ["a@x", "b@x"], user: "B@x")?.address == "b@x")
        #expect(evidence(message(t, extra: ["X-Original-To: <a@x>"]), recipients: ["a@x", "b@x"])?.address == "a@x")
    }

    @Test func concerns() throws {
        let t = token().value
        let bytes = message(
            t, extra: ["Authentication-Results: mx; dkim=fail header.d=rt.test; dmarc=fail; spf=fail"])
        var e = try #require(evidence(bytes))
        e.junk = true
        e.folder = "Junk"
        #expect(e.concerns.count == 3)
        #expect(e.concerns[0].contains("Junk"))
        #expect(e.concerns[1].hasPrefix("dkim=fail header.d=rt.test"))
    }

    @Test func hostileMessagesNeverCrash() {
        var rng = SeededGenerator(seed: 9)
        let t = token().value
        for _ in 0..<200 {
            var bytes = message(t, extra: ["Received: ;;;(", "Authentication-Results: ;"])
            for _ in 0..<20 {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            _ = evidence(bytes)
        }
    }
}

@Suite struct ArrivalVerdictTests {
    @Test func rulesForEveryVerdict() {
        for old in Verdict.allCases {
            let expected: Verdict?
            let withoutReport: Verdict?
            switch old {
            case .relayed: (expected, withoutReport) = (.delivered, .delivered)
            case .dsnUnavailable, .timeout: (expected, withoutReport) = (.arrived, .delivered)
            case .pending, .delayed: (expected, withoutReport) = (nil, .delivered)
            case .delivered, .expanded, .failed, .rejected, .arrived: (expected, withoutReport) = (nil, nil)
            }
            #expect(VerdictRules.arrival(replaces: old, reportExpected: true) == expected, "\(old)")
            #expect(VerdictRules.arrival(replaces: old, reportExpected: false) == withoutReport, "\(old)")
        }
        // A report after an arrival-only verdict still counts.
        #expect(VerdictRules.report(.delivered, replaces: .arrived, key: .envelopeID))
        #expect(VerdictRules.report(.relayed, replaces: .arrived, key: .envelopeID))
        #expect(!VerdictRules.report(.delayed, replaces: .arrived, key: .envelopeID))
        #expect(!VerdictRules.report(.delivered, replaces: .arrived, key: .recipient))
    }

    func arrival(_ address: String, junk: Bool = false, auth: AuthenticationSummary? = nil) -> ArrivalEvidence {
        ArrivalEvidence(
            address: address, mailbox: "imap://u@h:143/INBOX", folder: junk ? "Junk" : "INBOX", junk: junk,
            receivedAt: Date(timeIntervalSince1970: 1003), observedAt: Date(timeIntervalSince1970: 1004),
            authentication: auth, source: "s")
    }

    func relayedReport(_ address: String) -> ReportEvidence {
        ReportEvidence(address: address, verdict: .relayed, action: "relayed", key: .envelopeID, source: "maildir")
    }

    @Test func relayedPlusArrivalIsDelivered() {
        let start = Date(timeIntervalSince1970: 1000)
        for arrivalFirst in [true, false] {
            var t = RunTracker(recipients: ["a@x"])
            t.submitted(
                "a@x", server: "s", accepted: true, replyCode: 250, enhancedCode: nil, text: nil, dsnRequested: true,
                at: start)
            if arrivalFirst {
                let changed = t.arrived(arrival("a@x"))
                #expect(!changed)
                #expect(t.recipients[0].verdict == .pending)
                #expect(!t.isComplete)
                t.apply(relayedReport("a@x"), at: start)
            } else {
                t.apply(relayedReport("a@x"), at: start)
                #expect(t.recipients[0].verdict == .relayed)
                let changed = t.arrived(arrival("a@x"))
                #expect(changed)
            }
            let r = t.recipients[0]
            #expect(r.verdict == .delivered)
            #expect(r.proof == "arrival")
            #expect(r.outbound.hasPrefix("arrived in INBOX"))
            #expect(r.inbound.hasPrefix("report received via maildir"))
            #expect(r.endToEndSeconds == 4)  // observed at 1004, accepted at 1000
            #expect(RunExitStatus.from(recipients: t.recipients, strict: true) == .proven)
        }
    }

    @Test func dsnUnavailablePlusArrival() {
        for reportExpected in [true, false] {
            var t = RunTracker(recipients: ["a@x"], reportExpected: reportExpected)
            t.submitted(
                "a@x", server: "s", accepted: true, replyCode: 250, enhancedCode: nil, text: nil, dsnRequested: false,
                at: Date(timeIntervalSince1970: 1000))
            t.arrived(arrival("a@x"))
            #expect(t.recipients[0].verdict == (reportExpected ? .arrived : .delivered))
            #expect(t.recipients[0].inbound == VerdictWording.arrivalInbound(reportExpected: reportExpected))
            #expect(
                RunExitStatus.from(recipients: t.recipients, strict: false) == (reportExpected ? .partial : .proven))
            #expect(
                RunExitStatus.from(recipients: t.recipients, strict: true) == (reportExpected ? .failed : .proven))
        }
    }

    @Test func pendingWithArrivalAtTheDeadlineIsArrived() {
        var t = RunTracker(recipients: ["a@x", "b@x"])
        for a in ["a@x", "b@x"] {
            t.submitted(
                a, server: "s", accepted: true, replyCode: 250, enhancedCode: nil, text: nil, dsnRequested: true,
                at: Date(timeIntervalSince1970: 1000))
        }
        t.arrived(arrival("a@x"))
        let again = t.arrived(arrival("a@x", junk: true))
        #expect(!again)  // the first arrival is kept
        t.deadlinePassed()
        #expect(t.verdicts == [.arrived, .timeout])
        #expect(t.recipients[0].arrival?.junk == false)
        #expect(RunExitStatus.from(recipients: t.recipients, strict: false) == .timeout)
    }

    @Test func junkAndAuthenticationFailuresWarn() {
        let failing = AuthenticationSummary(authservID: "mx", dkim: [.init(result: "fail", domain: "x")])
        for (e, concern) in [
            (arrival("a@x", junk: true), true), (arrival("a@x", auth: failing), true), (arrival("a@x"), false),
        ] {
            var t = RunTracker(recipients: ["a@x"], reportExpected: false)
            t.submitted(
                "a@x", server: "s", accepted: true, replyCode: 250, enhancedCode: nil, text: nil, dsnRequested: false,
                at: Date(timeIntervalSince1970: 1000))
            t.arrived(e)
            #expect(t.recipients[0].verdict == .delivered)
            #expect(RunExitStatus.from(recipients: t.recipients, strict: false) == (concern ? .partial : .proven))
            #expect(RunExitStatus.from(recipients: t.recipients, strict: true) == (concern ? .failed : .proven))
            let report = RunReport(
                token: "t", returnPath: "r", messageID: "m", startedAt: Date(timeIntervalSince1970: 1000),
                finishedAt: Date(timeIntervalSince1970: 1010), deadlineSeconds: 60, strict: false,
                submissions: [], recipients: t.recipients, exitCode: 0)
            #expect(RunRenderer.text(report).contains("arrival: ") == true)
            #expect(RunRenderer.text(report).contains("warning:") == concern)
            #expect(RunRenderer.nagios(report).contains("'e2e_1'=4.000s"))
            #expect(RunRenderer.junit(report).contains("<skipped") == concern)
            #expect(RunRenderer.json(report).contains("\"arrival\" : {"))
        }
    }

    @Test func arrivalForAnUnknownRecipientChangesNothing() {
        var t = RunTracker(recipients: ["a@x"])
        let changed = t.arrived(arrival("z@x"))
        #expect(!changed)
        #expect(t.recipients[0].arrival == nil)
    }
}
