import Crypto
import Foundation
import RoundtripCore
import SMTPCore
import Testing

@testable import Roundtrip

/// One suite, the same cases and expectations, run against both backends
/// (`LedgerBackend.all`): record, ingest, verdict rules, expiry, status queries,
/// waiting. Each case gets a fresh ledger (an in-memory SQLite, or a new
/// PostgreSQL database dropped afterwards).
@Suite("Ledger contract (SQLite and PostgreSQL)")
struct LedgerContractTests {
    // MARK: Probes

    @Test(arguments: LedgerBackend.all) func recordProbeStoresProbeAndRecipientsPending(_ backend: LedgerBackend)
        async throws
    {
        try await withLedger(backend) { ledger in
            try await ledger.recordProbe(newProbe(1, recipients: ["alice@example.net", "bob@example.org"]), at: at(0))
            let details = try #require(try await ledger.probe(token: token(1)))
            #expect(details.probe.token == token(1))
            #expect(details.probe.createdAt == at(0))
            #expect(details.probe.deadline == at(600))
            #expect(details.probe.returnPath == "roundtrip+\(token(1))@return.example")
            #expect(details.probe.envelopeID == token(1))
            #expect(details.probe.messageID == "\(token(1))@return.example")
            #expect(details.probe.status == .pending)
            #expect(details.probe.server == nil)
            #expect(details.probe.dsnAvailable == nil)
            #expect(details.probe.mxTried == [])
            #expect(details.recipients.map(\.address) == ["alice@example.net", "bob@example.org"])
            #expect(details.recipients.map(\.position) == [0, 1])
            #expect(details.recipients.allSatisfy { $0.verdict == .pending && $0.accepted == nil })
            #expect(details.reports.isEmpty)
            #expect(details.events.map(\.kind) == ["probe.recorded"])
            #expect(try await ledger.probe(token: token(2)) == nil)
        }
    }

    @Test(arguments: LedgerBackend.all) func recordProbeRefusesDuplicatesAndEmptyProbes(_ backend: LedgerBackend)
        async throws
    {
        try await withLedger(backend) { ledger in
            try await ledger.recordProbe(newProbe(1))
            #expect(await ledgerError { try await ledger.recordProbe(newProbe(1)) }?.code == .duplicateProbe)
            #expect(
                await ledgerError { try await ledger.recordProbe(newProbe(2, recipients: [])) }?.code
                    == .invalidArgument)
            let twice = newProbe(3, recipients: ["alice@example.net", "ALICE@example.net"])
            #expect(await ledgerError { try await ledger.recordProbe(twice) }?.code == .invalidArgument)
            let backwards = newProbe(4, created: 100, deadline: 50)
            #expect(await ledgerError { try await ledger.recordProbe(backwards) }?.code == .invalidArgument)
            // Nothing half-written.
            #expect(try await ledger.listProbes(limit: 10).map(\.probe.token) == [token(1)])
        }
    }

    @Test func newProbeFromABuiltProbe() throws {
        let key = SymmetricKey(size: .bits256)
        let probeToken = ProbeToken.make(createdAt: 1_800_000_000, random: Array(repeating: 7, count: 12), key: key)
        let builder = ProbeBuilder(
            from: try SMTPMailbox("roundtrip@return.example"),
            recipients: [try SMTPMailbox("alice@example.net"), try SMTPMailbox("bob@example.org")]
        )
        let probe = try builder.build(token: probeToken, date: "Thu, 15 Jan 2027 08:00:00 +0000")
        let new = NewProbe(probe, createdAt: at(0), deadline: at(900))
        #expect(new.token == probeToken.value)
        #expect(new.returnPath == "roundtrip+\(probeToken.value)@return.example")
        #expect(new.envelopeID == probeToken.value)
        #expect(new.messageID == "\(probeToken.value)@return.example")
        #expect(new.subject == probe.subject)
        #expect(new.recipients == ["alice@example.net", "bob@example.org"])
    }

    // MARK: Submission

    @Test(arguments: LedgerBackend.all) func recordSessionAndSubmissions(_ backend: LedgerBackend) async throws {
        try await withLedger(backend) { ledger in
            try await ledger.recordProbe(newProbe(1, recipients: ["alice@example.net", "bob@example.net"]))
            try await ledger.recordSession(
                token: token(1), server: "mx1.example.net:25", mxTried: ["mx0.example.net:25", "mx1.example.net:25"],
                transcript: #"[{"c":"EHLO client.example"},{"s":"250-mx1 hello"}]"#, dsnAvailable: true, at: at(1)
            )
            let alice = try await ledger.recordSubmission(
                token: token(1), recipient: "alice@example.net", reply: ok250,
                stage: .rcpt, accepted: true, at: at(1))
            let bob = try await ledger.recordSubmission(
                token: token(1), recipient: "bob@example.net", reply: refused550,
                stage: .rcpt, accepted: false, at: at(1))
            #expect(alice == .pending)
            #expect(bob == .rejected)
            let details = try #require(try await ledger.probe(token: token(1)))
            #expect(details.probe.server == "mx1.example.net:25")
            #expect(details.probe.mxTried == ["mx0.example.net:25", "mx1.example.net:25"])
            #expect(details.probe.transcript.contains("EHLO client.example"))
            #expect(details.probe.dsnAvailable == true)
            #expect(details.probe.status == .pending)
            let b = details.recipients[1]
            #expect(b.accepted == false)
            #expect(b.replyStage == .rcpt)
            #expect(b.replyCode == 550)
            #expect(b.replyEnhancedCode == "5.1.1")
            #expect(b.replyText.map { $0.contains("User unknown") } == true)
            #expect(b.verdict == .rejected)
            #expect(details.recipients[0].accepted == true)
            #expect(details.recipients[0].replyEnhancedCode == "2.1.5")
        }
    }

    @Test(arguments: LedgerBackend.all) func rejectionAtDataReplacesAcceptanceAtRcpt(_ backend: LedgerBackend)
        async throws
    {
        try await withLedger(backend) { ledger in
            try await ledger.recordProbe(newProbe(1))
            try await ledger.recordSubmission(
                token: token(1), recipient: "alice@example.net", reply: ok250, accepted: true)
            let verdict = try await ledger.recordSubmission(
                token: token(1), recipient: "alice@example.net", reply: SMTPReply(code: 554, lines: ["5.7.1 spam"]),
                stage: .data, accepted: false
            )
            #expect(verdict == .rejected)
            let details = try #require(try await ledger.probe(token: token(1)))
            #expect(details.recipients[0].replyStage == .data)
            #expect(details.recipients[0].replyCode == 554)
            #expect(details.probe.status == .complete)
        }
    }

    @Test(arguments: LedgerBackend.all) func serverWithoutDSNGivesDSNUnavailable(_ backend: LedgerBackend) async throws
    {
        try await withLedger(backend) { ledger in
            try await ledger.recordProbe(newProbe(1, recipients: ["a@example.net", "b@example.net", "c@example.net"]))
            // Accepted before the session is recorded (order of calls must not matter) ...
            try await ledger.recordSubmission(token: token(1), recipient: "a@example.net", reply: ok250, accepted: true)
            try await ledger.recordSession(
                token: token(1), server: "mx.example.net:25", mxTried: ["mx.example.net:25"],
                transcript: "[]", dsnAvailable: false)
            // ... and after.
            let b = try await ledger.recordSubmission(
                token: token(1), recipient: "b@example.net", reply: ok250, accepted: true)
            let c = try await ledger.recordSubmission(
                token: token(1), recipient: "c@example.net", reply: refused550, accepted: false)
            #expect(b == .dsnUnavailable)
            #expect(c == .rejected)
            let details = try #require(try await ledger.probe(token: token(1)))
            #expect(details.recipients.map(\.verdict) == [.dsnUnavailable, .dsnUnavailable, .rejected])
            #expect(details.probe.status == .complete)
            #expect(details.events.map(\.kind).contains("probe.completed"))
        }
    }

    @Test(arguments: LedgerBackend.all) func submissionsOfATransactionAreOneAtomicWrite(_ backend: LedgerBackend)
        async throws
    {
        try await withLedger(backend) { ledger in
            let addresses = (0..<300).map { "r\($0)@example.net" }
            try await ledger.recordProbe(newProbe(1, recipients: addresses))
            let batch = addresses.enumerated().map { i, a in
                LedgerSubmission(recipient: a, reply: i % 3 == 0 ? refused550 : ok250, accepted: i % 3 != 0)
            }
            // One unknown recipient spoils the whole batch: nothing is half-written.
            let spoiled = batch + [LedgerSubmission(recipient: "eve@example.net", reply: ok250, accepted: true)]
            #expect(
                await ledgerError { try await ledger.recordSubmissions(token: token(1), spoiled, at: at(1)) }?.code
                    == .unknownRecipient)
            #expect(try await ledger.probe(token: token(1))?.recipients.allSatisfy { $0.accepted == nil } == true)

            let verdicts = try await ledger.recordSubmissions(token: token(1), batch, at: at(1))
            #expect(verdicts == batch.map { $0.accepted ? .pending : .rejected })
            let details = try #require(try await ledger.probe(token: token(1)))
            #expect(details.recipients.map(\.verdict) == verdicts)
            #expect(details.recipients.map(\.accepted) == batch.map(\.accepted))
            #expect(details.events.filter { $0.kind == "recipient.submission" }.count == 300)
            #expect(details.probe.status == .pending)

            // Refusing the rest completes the probe in the same write.
            let rest = addresses.enumerated().filter { $0.offset % 3 != 0 }.map {
                LedgerSubmission(
                    recipient: $0.element, reply: SMTPReply(code: 554, lines: ["5.7.1 no"]), stage: .data,
                    accepted: false)
            }
            try await ledger.recordSubmissions(token: token(1), rest, at: at(2))
            #expect(try await ledger.probe(token: token(1))?.probe.status == .complete)
        }
    }

    @Test(arguments: LedgerBackend.all) func submissionArgumentsAreChecked(_ backend: LedgerBackend) async throws {
        try await withLedger(backend) { ledger in
            try await ledger.recordProbe(newProbe(1))
            #expect(
                await ledgerError {
                    try await ledger.recordSubmission(
                        token: token(1), recipient: "alice@example.net", reply: refused550, accepted: true)
                }?.code == .invalidArgument)
            #expect(
                await ledgerError {
                    try await ledger.recordSubmission(
                        token: token(9), recipient: "alice@example.net", reply: ok250, accepted: true)
                }?.code == .unknownProbe)
            #expect(
                await ledgerError {
                    try await ledger.recordSubmission(
                        token: token(1), recipient: "eve@example.net", reply: ok250, accepted: true)
                }?.code == .unknownRecipient)
            #expect(
                await ledgerError {
                    try await ledger.recordSession(
                        token: token(1), server: "x:25", mxTried: [], transcript: "not json", dsnAvailable: true)
                }?.code == .invalidArgument)
            #expect(
                await ledgerError {
                    try await ledger.recordSession(
                        token: token(9), server: "x:25", mxTried: [], transcript: "[]", dsnAvailable: true)
                }?.code == .unknownProbe)
        }
    }

    // MARK: Reports

    @Test(arguments: LedgerBackend.all) func recordReportIsIdempotentByContent(_ backend: LedgerBackend) async throws {
        try await withLedger(backend) { ledger in
            let first = try await ledger.recordReport(report("the same DSN", source: "imap://mail.example/INBOX;UID=7"))
            let again = try await ledger.recordReport(
                report("the same DSN", source: "imap://mail.example/INBOX;UID=7", received: 9))
            let viaMaildir = try await ledger.recordReport(report("the same DSN", source: "maildir:/srv/mail/new/1"))
            let other = try await ledger.recordReport(report("another DSN"))
            #expect(first == again)
            #expect(first == viaMaildir)
            #expect(other != first)
            let stored = try #require(try await ledger.report(id: first))
            #expect(stored.source == "imap://mail.example/INBOX;UID=7")
            #expect(stored.receivedAt == at(5))
            #expect(stored.size == 12)
            #expect(stored.contentHash.count == 64)
            #expect(stored.parsed == #"{"action":"delivered"}"#)
            #expect(stored.matchKey == ReportMatchKey.none)
            #expect(stored.matchedToken == nil)
            #expect(try await ledger.rawReport(id: first) == .bytes(Array("the same DSN".utf8)))
            #expect(try await ledger.unmatchedReports().map(\.id) == [first, other])
            let recorded = try await ledger.events().filter { $0.kind == "report.recorded" }
            #expect(recorded.count == 2)
            #expect(try await ledger.report(id: ReportID(rawValue: 999)) == nil)
            #expect(try await ledger.rawReport(id: ReportID(rawValue: 999)) == nil)
        }
    }

    @Test(arguments: LedgerBackend.all) func reportBytesCanStayInAFile(_ backend: LedgerBackend) async throws {
        try await withLedger(backend) { ledger in
            let id = try await ledger.recordReport(
                report("spooled", storage: .file(path: "/var/spool/roundtrip/1.eml")))
            #expect(try await ledger.rawReport(id: id) == .file(path: "/var/spool/roundtrip/1.eml"))
            #expect(try await ledger.report(id: id)?.rawPath == "/var/spool/roundtrip/1.eml")
            let badJSON = NewReport(receivedAt: at(1), source: "listener", raw: [1, 2], parsed: "{nope")
            #expect(await ledgerError { _ = try await ledger.recordReport(badJSON) }?.code == .invalidArgument)
        }
    }

    @Test(arguments: LedgerBackend.all) func attachDeliveredProvesTheRecipient(_ backend: LedgerBackend) async throws {
        try await withLedger(backend) { ledger in
            try await ledger.recordProbe(newProbe(1), at: at(0))
            try await ledger.recordSubmission(
                token: token(1), recipient: "alice@example.net", reply: ok250, accepted: true)
            let id = try await ledger.recordReport(report("DSN 1", received: 2.5))
            let outcome = try await ledger.attach(
                report: id, to: token(1), recipient: "Alice@Example.NET", verdict: .delivered, status: "2.0.0",
                diagnostic: "smtp; 250 2.0.0 Ok: queued", remoteMTA: "dns; mx.example.net", reportingMTA: nil,
                key: .envelopeRecipient,
                confidence: .high, at: at(3)
            )
            #expect(outcome.previous == .pending)
            #expect(outcome.current == .delivered)
            #expect(outcome.changed)
            #expect(outcome.probeStatus == .complete)
            let details = try #require(try await ledger.probe(token: token(1)))
            let r = details.recipients[0]
            #expect(r.verdict == .delivered)
            #expect(r.statusCode == "2.0.0")
            #expect(r.diagnostic == "smtp; 250 2.0.0 Ok: queued")
            #expect(r.remoteMTA == "dns; mx.example.net")
            #expect(r.reportID == id)
            #expect(r.reportedAt == at(2.5))
            #expect(r.latencyMilliseconds == 2500)
            #expect(details.probe.status == .complete)
            #expect(details.reports.map(\.id) == [id])
            #expect(details.reports[0].matchKey == .envelopeRecipient)
            #expect(details.reports[0].confidence == .high)
            #expect(details.reports[0].matchedAt == at(3))
            #expect(try await ledger.unmatchedReports().isEmpty)
            let kinds = details.events.map(\.kind)
            #expect(kinds.contains("report.matched"))
            #expect(kinds.contains("recipient.verdict"))
            #expect(kinds.last == "probe.completed")
        }
    }

    @Test(arguments: LedgerBackend.all) func verdictsOnlyMoveForward(_ backend: LedgerBackend) async throws {
        try await withLedger(backend) { ledger in
            try await ledger.recordProbe(newProbe(1))
            let delayed = try await ledger.recordReport(report("delayed", received: 1))
            let delivered = try await ledger.recordReport(report("delivered", received: 2))
            let lateDelay = try await ledger.recordReport(report("late delay", received: 3))
            let failed = try await ledger.recordReport(report("failed", received: 4))

            func attach(_ id: ReportID, _ verdict: Verdict, _ status: String) async throws -> AttachOutcome {
                try await ledger.attach(
                    report: id, to: token(1), recipient: "alice@example.net", verdict: verdict,
                    status: status, diagnostic: nil, key: .envelopeID, confidence: .high)
            }
            let o1 = try await attach(delayed, .delayed, "4.4.1")
            #expect(o1.changed && o1.current == .delayed && o1.probeStatus == .pending)
            let o2 = try await attach(delivered, .delivered, "2.0.0")
            #expect(o2.previous == .delayed && o2.current == .delivered && o2.probeStatus == .complete)
            let o3 = try await attach(lateDelay, .delayed, "4.4.1")
            #expect(!o3.changed && o3.current == .delivered)
            let o4 = try await attach(failed, .failed, "5.0.0")
            #expect(!o4.changed && o4.current == .delivered)

            let details = try #require(try await ledger.probe(token: token(1)))
            let r = details.recipients[0]
            #expect(r.verdict == .delivered)
            #expect(r.statusCode == "2.0.0")
            #expect(r.reportID == delivered)
            #expect(r.reportedAt == at(2))
            // All four reports are tied to the probe even though two changed nothing.
            #expect(details.reports.count == 4)
            #expect(details.events.filter { $0.kind == "recipient.verdict-kept" }.count == 2)
        }
    }

    @Test(arguments: LedgerBackend.all) func relayedIsUpgradedByALaterHop(_ backend: LedgerBackend) async throws {
        try await withLedger(backend) { ledger in
            try await ledger.recordProbe(newProbe(1))
            let relayed = try await ledger.recordReport(report("relayed"))
            let delivered = try await ledger.recordReport(report("delivered"))
            _ = try await ledger.attach(
                report: relayed, to: token(1), recipient: "alice@example.net", verdict: .relayed,
                status: "2.0.0", diagnostic: nil, key: .envelopeID, confidence: .high)
            let o = try await ledger.attach(
                report: delivered, to: token(1), recipient: "alice@example.net",
                verdict: .delivered, status: "2.0.0", diagnostic: nil, key: .envelopeID,
                confidence: .high)
            #expect(o.previous == .relayed && o.current == .delivered)
        }
    }

    @Test(arguments: LedgerBackend.all) func oneReportForSeveralRecipients(_ backend: LedgerBackend) async throws {
        try await withLedger(backend) { ledger in
            try await ledger.recordProbe(newProbe(1, recipients: ["a@example.net", "b@example.net"]))
            let id = try await ledger.recordReport(report("multi-recipient DSN"))
            _ = try await ledger.attach(
                report: id, to: token(1), recipient: "a@example.net", verdict: .delivered,
                status: "2.0.0", diagnostic: nil, key: .envelopeID, confidence: .high)
            let o = try await ledger.attach(
                report: id, to: token(1), recipient: "b@example.net", verdict: .failed,
                status: "5.2.2", diagnostic: "mailbox full", key: .envelopeID, confidence: .high)
            #expect(o.probeStatus == .complete)
            let details = try #require(try await ledger.probe(token: token(1)))
            #expect(details.recipients.map(\.verdict) == [.delivered, .failed])
            #expect(details.recipients.map(\.reportID) == [id, id])
            #expect(details.reports.count == 1)
        }
    }

    @Test(arguments: LedgerBackend.all) func oneReportOnManyRecipientsIsOneAttach(_ backend: LedgerBackend)
        async throws
    {
        try await withLedger(backend) { ledger in
            let recipients = (1...300).map { "u\($0)@example.net" }
            try await ledger.recordProbe(newProbe(1, recipients: recipients))
            let id = try await ledger.recordReport(report("a report on 300 recipients"))
            let attachments = recipients.enumerated().map { i, r in
                LedgerAttachment(
                    recipient: r.uppercased(), verdict: i == 7 ? .failed : .delivered,
                    status: i == 7 ? "5.1.1" : "2.0.0",
                    diagnostic: nil, key: .envelopeID, confidence: .high)
            }
            let outcomes = try await ledger.attach(report: id, to: token(1), attachments, at: at(5))
            #expect(outcomes.count == 300)
            #expect(outcomes.allSatisfy { $0.previous == .pending && $0.probeStatus == .complete })
            #expect(outcomes[7].current == .failed && outcomes[8].current == .delivered)
            let details = try #require(try await ledger.probe(token: token(1)))
            #expect(details.recipients.filter { $0.verdict == .delivered }.count == 299)
            #expect(details.probe.status == .complete)
            // A second report: every verdict kept, one event each, nothing changed.
            let again = try await ledger.attach(report: id, to: token(1), attachments, at: at(6))
            #expect(again.allSatisfy { $0.previous == $0.current })
        }
    }

    @Test(arguments: LedgerBackend.all) func attachChecksItsArguments(_ backend: LedgerBackend) async throws {
        try await withLedger(backend) { ledger in
            try await ledger.recordProbe(newProbe(1))
            try await ledger.recordProbe(newProbe(2))
            let id = try await ledger.recordReport(report("r"))
            func attach(
                _ t: String, _ rcpt: String, _ verdict: Verdict = .delivered, report: ReportID? = nil,
                key: ReportMatchKey = .envelopeID
            ) async -> LedgerError? {
                await ledgerError {
                    _ = try await ledger.attach(
                        report: report ?? id, to: t, recipient: rcpt, verdict: verdict,
                        status: nil, diagnostic: nil, key: key, confidence: .high)
                }
            }
            #expect(await attach(token(9), "alice@example.net")?.code == .unknownProbe)
            #expect(await attach(token(1), "eve@example.net")?.code == .unknownRecipient)
            #expect(await attach(token(1), "alice@example.net", report: ReportID(rawValue: 42))?.code == .unknownReport)
            #expect(await attach(token(1), "alice@example.net", .timeout)?.code == .invalidArgument)
            #expect(await attach(token(1), "alice@example.net", .rejected)?.code == .invalidArgument)
            #expect(await attach(token(1), "alice@example.net", key: .none)?.code == .invalidArgument)
            // Failed attempts changed nothing.
            #expect(try await ledger.unmatchedReports().map(\.id) == [id])
            #expect(await attach(token(1), "alice@example.net") == nil)
            #expect(await attach(token(2), "alice@example.net")?.code == .conflictingMatch)
            #expect(try await ledger.probe(token: token(2))?.recipients[0].verdict == .pending)
        }
    }

    @Test(arguments: LedgerBackend.all) func matchWithoutRecipientKeepsTheStrongerMatch(_ backend: LedgerBackend)
        async throws
    {
        try await withLedger(backend) { ledger in
            try await ledger.recordProbe(newProbe(1))
            let id = try await ledger.recordReport(report("legacy NDR"))
            try await ledger.match(report: id, to: token(1), key: .text, confidence: .low, at: at(1))
            #expect(try await ledger.report(id: id)?.confidence == .low)
            try await ledger.match(report: id, to: token(1), key: .returnedHeaders, confidence: .medium, at: at(2))
            try await ledger.match(report: id, to: token(1), key: .text, confidence: .low, at: at(3))
            let stored = try #require(try await ledger.report(id: id))
            #expect(stored.matchedToken == token(1))
            #expect(stored.matchKey == .returnedHeaders)
            #expect(stored.confidence == .medium)
            #expect(stored.matchedAt == at(2))
            #expect(try await ledger.probe(token: token(1))?.recipients[0].verdict == .pending)
            #expect(
                await ledgerError { try await ledger.match(report: id, to: token(5), key: .text, confidence: .low) }?
                    .code
                    == .unknownProbe)
        }
    }

    @Test(arguments: LedgerBackend.all) func unmatchedReportsLeaveOutNonReportsUnlessAsked(_ backend: LedgerBackend)
        async throws
    {
        try await withLedger(backend) { ledger in
            try await ledger.recordProbe(newProbe(1))
            let late = try await ledger.recordReport(report("late report of an expired probe", received: 3))
            let spam = try await ledger.recordReport(report("buy now", received: 1, kind: .notAReport))
            let forged = try await ledger.recordReport(
                NewReport(
                    receivedAt: at(2), source: "listener", raw: Array("forged".utf8), forged: true))
            let matched = try await ledger.recordReport(report("matched", received: 0))
            try await ledger.match(report: matched, to: token(1), key: .envelopeID, confidence: .high)
            #expect(try await ledger.unmatchedReports().map(\.id) == [forged, late])
            #expect(try await ledger.unmatchedReports().first?.forged == true)
            #expect(try await ledger.unmatchedReports(includingNonReports: true).map(\.id) == [spam, forged, late])
        }
    }

    // MARK: Deadlines and listings

    @Test(arguments: LedgerBackend.all) func expireTimesOutPendingRecipientsOnly(_ backend: LedgerBackend) async throws
    {
        try await withLedger(backend) { ledger in
            try await ledger.recordProbe(
                newProbe(
                    1, recipients: ["p@example.net", "d@example.net", "ok@example.net"],
                    deadline: 60))
            try await ledger.recordProbe(newProbe(2, deadline: 600))
            let delayed = try await ledger.recordReport(report("delayed"))
            let delivered = try await ledger.recordReport(report("delivered"))
            _ = try await ledger.attach(
                report: delayed, to: token(1), recipient: "d@example.net", verdict: .delayed,
                status: "4.4.1", diagnostic: nil, key: .envelopeID, confidence: .high)
            _ = try await ledger.attach(
                report: delivered, to: token(1), recipient: "ok@example.net", verdict: .delivered,
                status: "2.0.0", diagnostic: nil, key: .envelopeID, confidence: .high)

            #expect(try await ledger.expire(now: at(59)).isEmpty)
            let changes = try await ledger.expire(now: at(60))
            #expect(
                changes == [ExpiredProbe(token: token(1), timedOut: ["p@example.net"], stillDelayed: ["d@example.net"])]
            )
            let details = try #require(try await ledger.probe(token: token(1)))
            #expect(details.probe.status == .expired)
            #expect(details.recipients.map(\.verdict) == [.timeout, .delayed, .delivered])
            #expect(try await ledger.probe(token: token(2))?.probe.status == .pending)
            #expect(try await ledger.expire(now: at(61)).isEmpty)

            // A late report still counts as evidence; the probe stays expired.
            let late = try await ledger.recordReport(report("late delivery", received: 120))
            let o = try await ledger.attach(
                report: late, to: token(1), recipient: "p@example.net", verdict: .delivered,
                status: "2.0.0", diagnostic: nil, key: .envelopeID, confidence: .high)
            #expect(o.previous == .timeout && o.current == .delivered && o.probeStatus == .expired)
            // A late delay does not undo the timeout's neighbour.
            let lateDelay = try await ledger.recordReport(report("late delay", received: 130))
            let o2 = try await ledger.attach(
                report: lateDelay, to: token(1), recipient: "p@example.net", verdict: .delayed,
                status: "4.4.1", diagnostic: nil, key: .envelopeID, confidence: .high)
            #expect(!o2.changed)
        }
    }

    @Test(arguments: LedgerBackend.all) func pendingProbesAreTheOnesStillWaiting(_ backend: LedgerBackend) async throws
    {
        try await withLedger(backend) { ledger in
            try await ledger.recordProbe(newProbe(1, created: 10, deadline: 600))
            try await ledger.recordProbe(newProbe(2, created: 0, deadline: 600))
            try await ledger.recordProbe(newProbe(3, created: 0, deadline: 30))  // past its deadline at 100
            try await ledger.recordProbe(newProbe(4, created: 0, deadline: 600))  // complete
            try await ledger.recordSubmission(
                token: token(4), recipient: "alice@example.net", reply: refused550, accepted: false)
            let pending = try await ledger.pendingProbes(now: at(100))
            #expect(pending.map(\.probe.token) == [token(2), token(1)])
            #expect(pending.allSatisfy { $0.recipients.map(\.address) == ["alice@example.net"] })
        }
    }

    @Test(arguments: LedgerBackend.all) func listProbesNewestFirst(_ backend: LedgerBackend) async throws {
        try await withLedger(backend) { ledger in
            for n in 1...5 {
                try await ledger.recordProbe(
                    newProbe(n, recipients: ["r\(n)@example.net", "s\(n)@example.net"], created: Double(n)))
            }
            let listed = try await ledger.listProbes(limit: 3)
            #expect(listed.map(\.probe.token) == [token(5), token(4), token(3)])
            #expect(listed[0].recipients.map(\.address) == ["r5@example.net", "s5@example.net"])
            #expect(await ledgerError { _ = try await ledger.listProbes(limit: 0) }?.code == .invalidArgument)
        }
    }

    // MARK: Audit trail

    struct Detail: Encodable {
        var step: String
        var attempt: Int
    }

    // MARK: Arrivals (`verify --arrival`) and the monitor's history

    @Test(arguments: LedgerBackend.all) func arrivalsAreRecordedOncePerRecipient(_ backend: LedgerBackend)
        async throws
    {
        try await withLedger(backend) { ledger in
            try await ledger.recordProbe(newProbe(1, recipients: ["alice@example.net", "bob@example.org"]), at: at(0))
            let e = ArrivalEvidence(
                address: "alice@example.net", mailbox: "imap://u@h:143/INBOX", folder: "Junk", junk: true,
                receivedAt: at(3), observedAt: at(4), authentication: nil, hops: [],
                source: "imap://u@h:143/Junk;UIDVALIDITY=1;UID=9")
            #expect(try await ledger.recordArrival(token: token(1), evidence: e, reportExpected: true))
            var again = e
            again.address = "ALICE@example.net"
            #expect(try await ledger.recordArrival(token: token(1), evidence: again, reportExpected: true) == false)
            let stored = try await ledger.arrivals(token: token(1))
            #expect(stored.map(\.evidence.folder) == ["Junk"])
            #expect(stored.first?.reportExpected == true && stored.first?.evidence.junk == true)
            #expect(try await ledger.probe(token: token(1))?.arrivals.count == 1)
            #expect(try await ledger.probe(token: token(1))?.events.map(\.kind).contains("recipient.arrival") == true)
            #expect(
                await ledgerError {
                    try await ledger.recordArrival(token: token(9), evidence: e, reportExpected: true)
                }?
                .code == .unknownProbe)
        }
    }

    @Test(arguments: LedgerBackend.all) func monitorHistoryAndPruning(_ backend: LedgerBackend) async throws {
        try await withLedger(backend) { ledger in
            for n in 1...3 {
                try await ledger.recordMonitorRoute(token: token(n), route: n == 3 ? "b" : "a", at: at(Double(n * 100)))
                try await ledger.recordProbe(
                    newProbe(n, recipients: ["x@example.net", "y@example.net"], created: Double(n * 100)),
                    at: at(Double(n * 100)))
            }
            try await ledger.recordMonitorInterrupted(token: token(2), at: at(250))
            let all = try await ledger.monitorHistory(since: at(0))
            #expect(all.map(\.route) == ["a", "a", "b"])
            #expect(all.map(\.verdicts.count) == [2, 2, 2])
            #expect(all.map(\.interrupted) == [false, true, false])
            #expect(try await ledger.monitorHistory(since: at(150)).map(\.token) == [token(2), token(3)])
            let pruned = try await ledger.pruneMonitor(before: at(150))
            #expect(pruned.probes == 1)
            #expect(try await ledger.probe(token: token(1)) == nil)
            #expect(try await ledger.monitorHistory(since: at(0)).count == 2)
        }
    }

    @Test(arguments: LedgerBackend.all) func appendEventAndReadTheTrail(_ backend: LedgerBackend) async throws {
        try await withLedger(backend) { ledger in
            try await ledger.recordProbe(newProbe(1))
            let a = try await ledger.appendEvent(
                kind: "verify.started", detail: Detail(step: "connect", attempt: 1), at: at(1))
            let b = try await ledger.appendEvent(
                kind: "probe.note", token: token(1), detailJSON: #"{"note":"hi"}"#, at: at(2))
            #expect(a < b)
            #expect(
                await ledgerError { try await ledger.appendEvent(kind: "x", detailJSON: "{oops") }?.code
                    == .invalidArgument
            )
            #expect(await ledgerError { try await ledger.appendEvent(kind: "") }?.code == .invalidArgument)
            let all = try await ledger.events()
            #expect(all.map(\.kind) == ["probe.recorded", "verify.started", "probe.note"])
            #expect(all[1].detail == #"{"attempt":1,"step":"connect"}"#)
            #expect(all[1].token == nil)
            #expect(try await ledger.events(after: a).map(\.id) == [b])
            #expect(try await ledger.events(token: token(1)).map(\.kind) == ["probe.recorded", "probe.note"])
            #expect(try await ledger.probe(token: token(1))?.events.last?.at == at(2))
        }
    }

    // MARK: Waiting

    @Test(arguments: LedgerBackend.all) func waitForUpdateTimesOutWithoutChanges(_ backend: LedgerBackend) async throws
    {
        try await withLedger(backend) { ledger in
            try await ledger.recordProbe(newProbe(1))
            let start = Date()
            let result = try await ledger.waitForUpdate(
                token: token(1), until: Date().addingTimeInterval(0.3))
            let elapsed = Date().timeIntervalSince(start)
            #expect(result == nil)
            #expect(elapsed >= 0.29)
            #expect(elapsed < 2)
        }
    }

    @Test(arguments: LedgerBackend.all) func waitForUpdateSeesAWriteFromAnotherTask(_ backend: LedgerBackend)
        async throws
    {
        try await withLedger(backend) { ledger in
            try await ledger.recordProbe(newProbe(1))
            try await ledger.recordProbe(newProbe(2))
            let before = try await ledger.revision(token: token(1))
            async let writer: Void = {
                try await Task.sleep(for: .milliseconds(150))
                // A change to another probe does not wake a waiter on probe 1 ...
                try await ledger.appendEvent(kind: "other", token: token(2))
                try await Task.sleep(for: .milliseconds(150))
                let id = try await ledger.recordReport(report("r"))
                _ = try await ledger.attach(
                    report: id, to: token(1), recipient: "alice@example.net", verdict: .delivered,
                    status: "2.0.0", diagnostic: nil, key: .envelopeID, confidence: .high)
            }()
            let start = Date()
            let after = try await ledger.waitForUpdate(
                token: token(1), since: before, until: Date().addingTimeInterval(10))
            try await writer
            #expect(after != nil)
            #expect(after != before)
            #expect(Date().timeIntervalSince(start) >= 0.29)
            #expect(try await ledger.probe(token: token(1))?.recipients[0].verdict == .delivered)
        }
    }

    @Test(arguments: LedgerBackend.all) func waitForUpdateSinceAnOldRevisionReturnsAtOnce(_ backend: LedgerBackend)
        async throws
    {
        try await withLedger(backend) { ledger in
            try await ledger.recordProbe(newProbe(1))
            let old = try await ledger.revision(token: nil)
            try await ledger.recordSubmission(
                token: token(1), recipient: "alice@example.net", reply: ok250, accepted: true)
            let start = Date()
            let now = try await ledger.waitForUpdate(token: nil, since: old, until: Date().addingTimeInterval(10))
            #expect(now != nil && now != old)
            #expect(Date().timeIntervalSince(start) < 1)
            #expect(try await ledger.revision(token: nil) == now)
        }
    }
}
