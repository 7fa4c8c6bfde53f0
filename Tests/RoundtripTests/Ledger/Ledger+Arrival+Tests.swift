import Foundation
import Roundtrip
import RoundtripCore
import Testing

/// The ledger keeps arrivals beside the report verdicts, and `status` reads
/// the same verdict `verify` gave in memory (one rule, `VerdictRules.arrival`).
@Suite struct LedgerArrivalTests {
    func arrival(_ address: String, junk: Bool = false) -> ArrivalEvidence {
        ArrivalEvidence(
            address: address, mailbox: "imap://u@h:143/INBOX", folder: junk ? "Junk" : "INBOX", junk: junk,
            receivedAt: at(3), observedAt: at(4),
            authentication: .init(authservID: "mx", spf: "pass", dkim: [.init(result: "pass", domain: "x")]),
            hops: [], source: "imap://u@h:143/INBOX;UIDVALIDITY=1;UID=9")
    }

    @Test func statusReadsTheVerdictVerifyGave() async throws {
        let recipients = ["relayed@example.net", "pending@example.net", "delivered@example.net", "none@example.net"]
        let ledger = try Ledger.inMemory()
        try await ledger.recordProbe(newProbe(1, recipients: recipients, deadline: 60))
        var tracker = RunTracker(recipients: recipients)
        for r in recipients {
            try await ledger.recordSubmission(token: token(1), recipient: r, reply: ok250, stage: .rcpt, accepted: true)
            tracker.submitted(
                r, server: nil, accepted: true, replyCode: 250, enhancedCode: "2.1.5", text: "Ok", dsnRequested: true,
                at: at(1))
        }
        for (r, verdict) in [("relayed@example.net", Verdict.relayed), ("delivered@example.net", .delivered)] {
            let id = try await ledger.recordReport(report("report for \(r)"))
            let e = ReportEvidence(
                address: r, verdict: verdict, action: verdict.rawValue, key: .envelopeID, source: "m")
            try await ledger.attach(report: id, to: token(1), evidence: e, at: at(5))
            tracker.apply(e, at: at(5))
        }
        for r in recipients.prefix(3) {
            #expect(try await ledger.recordArrival(token: token(1), evidence: arrival(r), reportExpected: true))
            tracker.arrived(arrival(r))
        }
        // The first arrival per recipient is kept.
        #expect(
            try await !ledger.recordArrival(
                token: token(1), evidence: arrival("relayed@example.net", junk: true), reportExpected: true))
        _ = try await ledger.expire(now: at(61))
        tracker.deadlinePassed()
        let details = try #require(try await ledger.probe(token: token(1)))
        #expect(details.arrivals.map(\.evidence.address) == Array(recipients.prefix(3)))
        #expect(details.events.contains { $0.kind == "recipient.arrival" })
        let status = StatusQuery.runReport(details, strict: false, now: at(70))
        #expect(status.recipients.map(\.verdict) == [.delivered, .arrived, .delivered, .timeout])
        #expect(status.recipients.map(\.verdict) == tracker.verdicts)
        #expect(status.recipients.map(\.proof) == tracker.recipients.map(\.proof))
        #expect(status.recipients.map(\.outbound) == tracker.recipients.map(\.outbound))
        #expect(status.recipients[0].arrival?.authentication?.spf == "pass")
        #expect(status.recipients[0].arrival?.junk == false)
    }

    @Test func noReportExpected() async throws {
        let ledger = try Ledger.inMemory()
        try await ledger.recordProbe(newProbe(2))
        try await ledger.recordArrival(token: token(2), evidence: arrival("alice@example.net"), reportExpected: false)
        let details = try #require(try await ledger.probe(token: token(2)))
        let r = StatusQuery.runReport(details, strict: true, now: at(10)).recipients[0]
        #expect(r.verdict == .delivered && r.proof == "arrival" && r.inbound == "not tested (--no-report)")
        #expect(
            await ledgerError {
                try await ledger.recordArrival(token: token(9), evidence: arrival("a@x"), reportExpected: true)
            }?.code == .unknownProbe)
    }
}
