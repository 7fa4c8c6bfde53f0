import Crypto
import DeliveryReports
import Foundation
import RoundtripCore

/// Takes a message that arrived where reports come back (a standing
/// `roundtrip listen`), parses it, correlates it with the probes in the
/// ledger and records the result there, so `status --wait` and `verify`
/// in other processes see the verdicts.
public struct ReportIngest: Sendable {
    public let ledger: Ledger
    public let correlator: Correlator
    public let log: @Sendable (String) -> Void

    public init(ledger: Ledger, key: SymmetricKey, log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.ledger = ledger
        self.correlator = Correlator(key: key)
        self.log = log
    }

    public enum Outcome: Sendable, Hashable {
        case matched(token: String, updated: [String], key: CorrelationKey)
        case forged
        case unmatched
        case notAReport
    }

    @discardableResult
    public func ingest(_ m: ReceivedMessage) async -> Outcome {
        let recorder = LedgerRecorder(ledger: ledger, log: log)
        guard let report = try? DeliveryReportParser.parse(m.bytes) else {
            _ = await recorder.report(m, parsed: nil, forged: false)
            return .notAReport
        }
        var pending: [PendingProbe] = []
        do {
            for p in try await ledger.pendingProbes(now: Date()) {
                if case .valid(let t) = ProbeToken.validate(p.probe.token, key: correlator.key) {
                    pending.append(PendingProbe(token: t, recipients: p.recipients.map(\.address)))
                }
            }
        } catch {
            log("ledger: reading pending probes failed: \(error)")
        }
        let text = String(decoding: m.bytes.prefix(1 << 20), as: UTF8.self)
        let c = correlator.correlate(report, envelopeRecipients: m.envelopeRecipients, pending: pending, text: text)
        let id = await recorder.report(m, parsed: report, forged: c.isForged)
        guard report.kind.isReport else { return .notAReport }
        guard let token = c.token else { return c.isForged ? .forged : .unmatched }
        guard let details = try? await ledger.probe(token: token.value) else {
            log("report via \(m.source) names probe \(token.value), which this ledger does not know")
            return .unmatched
        }
        let recipients = details.recipients.sorted { $0.position < $1.position }
        let evidence = ReportEvidence.from(
            report, correlation: c, source: m.source,
            recipients: recipients.map { ($0.address, $0.verdict) })
        await recorder.match(id, token: token.value, correlation: c)
        await recorder.attach(id, token: token.value, evidence: evidence, at: m.receivedAt)
        let updated = evidence.filter(\.isAuthenticated).map(\.address)
        log(
            "report via \(m.source): probe \(token.value), matched by \(c.key.rawValue)\(c.key.isAuthenticated ? "" : " (unconfirmed: no valid token, verdicts unchanged)"); names \(evidence.map(\.address).joined(separator: ", "))"
        )
        return .matched(token: token.value, updated: updated, key: c.key)
    }
}
