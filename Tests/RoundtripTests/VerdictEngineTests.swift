import Crypto
import DeliveryReports
import Foundation
import MailCore
import Roundtrip
import RoundtripCore
import SMTPCore
import TestRandom
import Testing

/// One verdict engine: the in-memory run (`verify`) and the ledger (`status`,
/// `listen --ledger`) give the same verdict and the same words for the same
/// evidence, whatever its order.
@Suite struct VerdictEngineTests {
    static let server = "mx.example.net:25"
    static let keys: [CorrelationKey] = [
        .envelopeRecipient, .deliveredTo, .envelopeID, .returnedHeaders, .text, .recipient,
    ]

    @Test(arguments: 0..<40)
    func memoryAndLedgerAgree(seed: UInt64) async throws {
        var rng = SeededGenerator(seed: seed)
        let addresses = (0..<Int.random(in: 1...3, using: &rng)).map { "user\($0)@example.net" }
        let ledger = try Ledger.inMemory()
        let probe = newProbe(Int(seed) + 1, recipients: addresses)
        try await ledger.recordProbe(probe)
        try await ledger.recordSession(
            token: probe.token, server: Self.server, mxTried: [Self.server], transcript: "[]", dsnAvailable: true,
            at: at(1))
        var tracker = RunTracker(recipients: addresses)
        for a in addresses {
            _ = try await ledger.recordSubmission(
                token: probe.token, recipient: a, reply: ok250, accepted: true, at: at(1))
            tracker.submitted(
                a, server: Self.server, accepted: true, replyCode: 250, enhancedCode: "2.1.5", text: "Ok",
                dsnRequested: true, at: at(1))
        }
        for n in 0..<Int.random(in: 0...8, using: &rng) {
            let action = DeliveryAction.allCases.randomElement(using: &rng)!
            let key = Self.keys.randomElement(using: &rng)!
            let status = action == .failed ? "5.1.1" : action == .delayed ? "4.4.1" : "2.0.0"
            let evidence = ReportEvidence(
                address: addresses.randomElement(using: &rng)!, verdict: VerdictRules.verdict(for: action),
                action: action.rawValue,
                status: Bool.random(using: &rng) ? status : nil,
                diagnostic: action == .failed ? "smtp; 550 5.1.1 unknown user \(n)" : nil,
                remoteMTA: "dns; mx\(n).example.net",
                reportingMTA: Bool.random(using: &rng) ? "dns; relay\(n).example.net" : nil,
                key: key, confidence: key.isAuthenticated ? .high : .medium, source: "listener:/store/new/\(seed)-\(n)"
            )
            let id = try await ledger.recordReport(
                report("report \(seed) \(n)", source: evidence.source, received: Double(2 + n)))
            try await ledger.attach(report: id, to: probe.token, evidence: evidence, at: at(Double(2 + n)))
            tracker.apply(evidence, at: at(Double(2 + n)))
            // The tracker counts its waiting recipients instead of scanning them.
            #expect(tracker.waitingCount == tracker.recipients.filter { !$0.verdict.isFinal }.count)
            #expect(tracker.isComplete == tracker.recipients.allSatisfy { $0.verdict.isFinal })
        }
        let details = try #require(try await ledger.probe(token: probe.token))
        let fromLedger = StatusQuery.runReport(details, strict: false, now: at(100)).recipients
        for (memory, stored) in zip(tracker.recipients, fromLedger) {
            #expect(memory.address == stored.address)
            #expect(memory.verdict == stored.verdict, "seed \(seed)")
            #expect(memory.outbound == stored.outbound, "seed \(seed)")
            #expect(memory.inbound == stored.inbound, "seed \(seed)")
            #expect(memory.unconfirmedReports == stored.unconfirmedReports, "seed \(seed)")
            #expect(memory.status == stored.status, "seed \(seed)")
        }
        #expect(
            RunExitStatus.from(verdicts: tracker.verdicts, strict: false).rawValue
                == StatusQuery.runReport(details, strict: false).exitCode)
    }

    @Test("evidence by recipient alone never changes a verdict, in memory or in the ledger")
    func unauthenticatedEvidenceIsShownNotCounted() async throws {
        let ledger = try Ledger.inMemory()
        let probe = newProbe(77)
        try await ledger.recordProbe(probe)
        _ = try await ledger.recordSubmission(
            token: probe.token, recipient: "alice@example.net", reply: ok250, accepted: true, at: at(1))
        var tracker = RunTracker(recipients: ["alice@example.net"])
        tracker.submitted(
            "alice@example.net", server: nil, accepted: true, replyCode: 250, enhancedCode: nil, text: nil,
            dsnRequested: true, at: at(1))
        for action in DeliveryAction.allCases {
            let e = ReportEvidence(
                address: "alice@example.net", verdict: VerdictRules.verdict(for: action), action: action.rawValue,
                key: .recipient, confidence: .medium, source: "forger-\(action)")
            let changed = tracker.apply(e, at: at(2))
            #expect(!changed)
            let id = try await ledger.recordReport(report("forged \(action)", source: e.source))
            let outcome = try await ledger.attach(report: id, to: probe.token, evidence: e, at: at(2))
            #expect(outcome.current == .pending)
        }
        #expect(tracker.recipients[0].verdict == .pending)
        #expect(tracker.recipients[0].unconfirmedReports == DeliveryAction.allCases.count)
        let details = try #require(try await ledger.probe(token: probe.token))
        #expect(details.recipients[0].verdict == .pending)
        #expect(details.recipients[0].unconfirmedReports == DeliveryAction.allCases.count)
        let text = RunRenderer.text(StatusQuery.runReport(details, strict: false), colour: false)
        #expect(text.contains("unconfirmed: 5 report(s) named this recipient without a valid probe token"))
    }

    @Test("the rules table: only authenticated keys, forward only, the first final report wins")
    func rules() {
        for key in CorrelationKey.allCases {
            for new in Verdict.allCases {
                for old in Verdict.allCases {
                    let allowed = VerdictRules.report(new, replaces: old, key: key)
                    if !key.isAuthenticated || !VerdictRules.reportVerdicts.contains(new) { #expect(!allowed) }
                    if [.delivered, .expanded, .failed, .rejected].contains(old) { #expect(!allowed) }
                    if new == .delayed { #expect(allowed == (key.isAuthenticated && old == .pending)) }
                }
            }
        }
        #expect(VerdictRules.report(.delivered, replaces: .relayed, key: .envelopeID))
        #expect(!VerdictRules.report(.relayed, replaces: .relayed, key: .envelopeID))
        #expect(VerdictRules.report(.relayed, replaces: .timeout, key: .returnedHeaders))
        #expect(!CorrelationKey.recipient.isAuthenticated && !CorrelationKey.none.isAuthenticated)
    }
}

/// Reports that arrive at a standing listener (`listen --ledger`) and try to
/// prove a probe without knowing its token.
@Suite struct ForgedReportTests {
    let key = SymmetricKey(data: Array(repeating: UInt8(9), count: 32))

    func makeToken(_ seed: UInt64, key: SymmetricKey? = nil) -> ProbeToken {
        var rng = SeededGenerator(seed: seed)
        return ProbeToken.make(createdAt: UInt32(Date().timeIntervalSince1970), key: key ?? self.key, using: &rng)
    }

    /// A pending probe to nodsn@sim.test in a fresh ledger.
    func pendingProbe(_ ledger: Ledger, token t: ProbeToken) async throws {
        let now = Date()
        try await ledger.recordProbe(
            NewProbe(
                token: t.value, createdAt: now, deadline: now.addingTimeInterval(600),
                returnPath: "roundtrip+\(t.value)@return.example",
                envelopeID: t.value, messageID: "\(t.value)@return.example", subject: "roundtrip probe \(t.value)",
                recipients: ["nodsn@sim.test"]
            ))
        _ = try await ledger.recordSubmission(token: t.value, recipient: "nodsn@sim.test", reply: ok250, accepted: true)
    }

    func dsn(to: String, envid: String?, returned: String?) -> [UInt8] {
        RFC3464Builder(
            reportingMTA: "mx.sim.test", from: "MAILER-DAEMON@sim.test", to: to, messageID: "forged@attacker.example",
            date: MessageDate(secondsSince1970: 1_800_000_100, zoneOffsetMinutes: 0), boundary: "b1",
            originalEnvelopeID: envid,
            recipients: [
                .init(
                    finalRecipient: "nodsn@sim.test", originalRecipient: "nodsn@sim.test", action: .delivered,
                    status: StatusCode("2.0.0")!)
            ],
            returnedHeader: returned.map { Array($0.utf8) }
        ).build()
    }

    @Test("a tokenless DSN to the bare return address naming the pending recipient leaves the verdict pending")
    func tokenless() async throws {
        let ledger = try Ledger.inMemory()
        let t = makeToken(1)
        try await pendingProbe(ledger, token: t)
        let ingest = ReportIngest(ledger: ledger, key: key)
        let outcome = await ingest.ingest(
            ReceivedMessage(
                source: "listener:1", bytes: dsn(to: "roundtrip@return.example", envid: nil, returned: nil),
                envelopeRecipients: ["postmaster@return.example"]))
        guard case .matched(_, let updated, let key) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        #expect(key == .recipient && updated.isEmpty)
        let d = try #require(try await ledger.probe(token: t.value))
        #expect(d.recipients[0].verdict == .pending)
        #expect(d.recipients[0].unconfirmedReports == 1)
        let status = StatusQuery.runReport(d, strict: false)
        #expect(status.exitCode != 0)
    }

    @Test("a DSN whose token has a wrong HMAC (another key) is forged: no match, verdict unchanged")
    func wrongHMAC() async throws {
        let ledger = try Ledger.inMemory()
        let t = makeToken(2)
        try await pendingProbe(ledger, token: t)
        let forged = makeToken(2, key: SymmetricKey(data: Array(repeating: UInt8(1), count: 32)))
        let ingest = ReportIngest(ledger: ledger, key: key)
        let bytes = dsn(
            to: "roundtrip+\(forged.value)@return.example", envid: forged.value,
            returned: "X-Roundtrip-Probe: \(forged.value)\r\n")
        let outcome = await ingest.ingest(
            ReceivedMessage(
                source: "listener:2", bytes: bytes,
                envelopeRecipients: ["roundtrip+\(forged.value)@return.example"]))
        #expect(outcome == .forged)
        let d = try #require(try await ledger.probe(token: t.value))
        #expect(d.recipients[0].verdict == .pending)
        #expect(d.reports.isEmpty)
    }

    @Test("a legacy bounce naming the recipient, without the token, leaves the verdict pending")
    func legacyBounce() async throws {
        let ledger = try Ledger.inMemory()
        let t = makeToken(3)
        try await pendingProbe(ledger, token: t)
        let text = """
            From: MAILER-DAEMON@sim.test (Mail Delivery System)\r
            To: roundtrip@return.example\r
            Subject: Undelivered Mail Returned to Sender\r
            \r
            This is the mail system at host mx.sim.test.\r
            \r
            I'm sorry to have to inform you that your message could not\r
            be delivered to one or more recipients.\r
            \r
            <nodsn@sim.test>: host mx.sim.test said: 550 5.1.1 User unknown\r
            \r
            """
        let outcome = await ReportIngest(ledger: ledger, key: key).ingest(
            ReceivedMessage(
                source: "listener:3", bytes: Array(text.utf8), envelopeRecipients: ["postmaster@return.example"]))
        if case .matched(_, let updated, let k) = outcome { #expect(updated.isEmpty && !k.isAuthenticated) }
        let d = try #require(try await ledger.probe(token: t.value))
        #expect(d.recipients[0].verdict == .pending)
    }

    @Test("the same DSN with the real token in Original-Envelope-Id decides the verdict")
    func authenticatedDecides() async throws {
        let ledger = try Ledger.inMemory()
        let t = makeToken(4)
        try await pendingProbe(ledger, token: t)
        let outcome = await ReportIngest(ledger: ledger, key: key).ingest(
            ReceivedMessage(
                source: "listener:4", bytes: dsn(to: "roundtrip@return.example", envid: t.value, returned: nil)))
        guard case .matched(_, let updated, let k) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        #expect(k == .envelopeID && updated == ["nodsn@sim.test"])
        let d = try #require(try await ledger.probe(token: t.value))
        #expect(d.recipients[0].verdict == .delivered)
        #expect(d.recipients[0].unconfirmedReports == 0)
    }
}
