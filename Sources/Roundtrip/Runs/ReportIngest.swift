import Crypto
import DeliveryReports
import Foundation
import RoundtripCore

/// Takes a message that arrived where reports come back (a standing
/// `roundtrip listen`), parses it, correlates it with the probes in the
/// ledger and records the result there, so `status --wait` and `verify`
/// in other processes see the verdicts.
public struct ReportIngest: Sendable {
    public let ledger: any LedgerStore
    public let correlator: Correlator
    public let log: @Sendable (String) -> Void

    public init(ledger: any LedgerStore, key: SymmetricKey, log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.ledger = ledger
        self.correlator = Correlator(key: key)
        self.log = log
    }

    public enum Outcome: Sendable, Hashable {
        case matched(token: String, updated: [String], key: CorrelationKey)
        case forged
        case unmatched
        case notAReport
        /// The ledger could not be used (a PostgreSQL server down, say): the
        /// message stays in the listener's store; ingest it again later (the
        /// ledger keeps one copy of each report, so a second try is harmless).
        case deferred(reason: String)
    }

    @discardableResult
    public func ingest(_ m: ReceivedMessage) async -> Outcome {
        do {
            return try await ingestOrThrow(m)
        } catch {
            log("ledger: report via \(m.source) not ingested yet: \(error)")
            return .deferred(reason: "\(error)")
        }
    }

    /// Every ledger write either happens or throws, so a failed ingest can be repeated whole.
    func ingestOrThrow(_ m: ReceivedMessage) async throws -> Outcome {
        guard let report = try? DeliveryReportParser.parse(m.bytes) else {
            _ = try await ledger.recordReport(Self.newReport(m, parsed: nil, forged: false))
            return .notAReport
        }
        var pending: [PendingProbe] = []
        for p in try await ledger.pendingProbes(now: Date()) {
            if case .valid(let t) = ProbeToken.validate(p.probe.token, key: correlator.key) {
                pending.append(PendingProbe(token: t, recipients: p.recipients.map(\.address)))
            }
        }
        let text = String(decoding: m.bytes.prefix(1 << 20), as: UTF8.self)
        let c = correlator.correlate(report, envelopeRecipients: m.envelopeRecipients, pending: pending, text: text)
        let id = try await ledger.recordReport(Self.newReport(m, parsed: report, forged: c.isForged))
        guard report.kind.isReport else { return .notAReport }
        guard let token = c.token else { return c.isForged ? .forged : .unmatched }
        guard let details = try await ledger.probe(token: token.value) else {
            log("report via \(m.source) names probe \(token.value), which this ledger does not know")
            return .unmatched
        }
        let recipients = details.recipients.sorted { $0.position < $1.position }
        let evidence = ReportEvidence.from(
            report, correlation: c, source: m.source,
            recipients: recipients.map { ($0.address, $0.verdict) })
        if let confidence = c.confidence {
            try await ledger.match(report: id, to: token.value, key: c.key, confidence: confidence, at: Date())
        }
        try await ledger.attach(report: id, to: token.value, evidence: evidence, at: m.receivedAt)
        let updated = evidence.filter(\.isAuthenticated).map(\.address)
        log(
            "report via \(m.source): probe \(token.value), matched by \(c.key.rawValue)\(c.key.isAuthenticated ? "" : " (unconfirmed: no valid token, verdicts unchanged)"); names \(evidence.map(\.address).joined(separator: ", "))"
        )
        return .matched(token: token.value, updated: updated, key: c.key)
    }

    static func newReport(_ m: ReceivedMessage, parsed: DeliveryReport?, forged: Bool) -> NewReport {
        NewReport(
            receivedAt: m.receivedAt, source: m.source, raw: m.bytes, parsed: parsed.map { LedgerRecorder.summary($0) },
            kind: (parsed?.kind.isReport ?? false) ? .report : .notAReport, forged: forged)
    }
}
