import Foundation
import RoundtripCore

/// Reads probes back from the ledger as the same `RunReport` verify prints.
public enum StatusQuery {
    public static func runReport(_ d: ProbeDetails, strict: Bool, now: Date = Date()) -> RunReport {
        let reports = Dictionary(d.reports.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let recipients = d.recipients.sorted { $0.position < $1.position }.map { r -> RecipientResult in
            var out = RecipientResult(address: r.address)
            out.verdict = r.verdict
            out.server = d.probe.server
            out.smtpReplyCode = r.replyCode
            out.smtpEnhancedCode = r.replyEnhancedCode
            out.smtpText = r.replyText
            out.status = r.statusCode
            out.diagnostic = r.diagnostic
            out.remoteMTA = r.remoteMTA
            out.roundTripSeconds = r.latencyMilliseconds.map { Double($0) / 1000 }
            if let id = r.reportID, let report = reports[id] {
                out.matchedKey = report.matchKey
                out.confidence = report.confidence
                out.reportSource = report.source
                out.reportsReceived = d.reports.count
            }
            out.reportingMTA = r.reportingMTA
            out.unconfirmedReports = r.unconfirmedReports
            let reply = VerdictWording.reply(code: r.replyCode, enhanced: r.replyEnhancedCode, text: r.replyText)
            let server = d.probe.server
            switch r.verdict {
            case .rejected: (out.outbound, out.inbound) = VerdictWording.rejected(server: server, reply: reply)
            case .dsnUnavailable:
                (out.outbound, out.inbound) = VerdictWording.acceptedWithoutDSN(server: server, reply: reply)
            case .pending:
                out.outbound =
                    r.accepted == true ? VerdictWording.waiting(server: server, reply: reply) : "not submitted yet"
                out.inbound = VerdictWording.noReportYet
            case .timeout, .arrived:
                out.outbound =
                    r.accepted == true ? VerdictWording.waiting(server: server, reply: reply) : "not submitted"
                out.inbound =
                    r.verdict == .arrived
                    ? VerdictWording.arrivalInbound(reportExpected: true) : VerdictWording.timeoutInbound
            case .delivered, .relayed, .expanded, .delayed, .failed:
                out.outbound = VerdictWording.outbound(
                    r.verdict, reporter: r.reportingMTA, status: r.statusCode, diagnostic: r.diagnostic)
                out.inbound = VerdictWording.inbound(
                    source: out.reportSource, key: out.matchedKey, confidence: out.confidence)
            }
            if VerdictRules.reportVerdicts.contains(r.verdict) {
                out.proof = "report"
                // A report's verdict is its RFC 3464 Action (failed, delayed, delivered, relayed,
                // expanded), one to one, as verify shows it.
                out.action = r.verdict.rawValue
            }
            // The arrival applies on top of what the reports made of the verdict,
            // by the rule RunTracker applies in memory.
            if let a = d.arrivals.first(where: { $0.evidence.address.lowercased() == r.address.lowercased() }) {
                out.arrival = a.evidence
                if let v = VerdictRules.arrival(replaces: out.verdict, reportExpected: a.reportExpected) {
                    if out.proof != "report" {
                        out.inbound = VerdictWording.arrivalInbound(reportExpected: a.reportExpected)
                    }
                    out.verdict = v
                    out.proof = "arrival"
                    out.outbound = VerdictWording.arrival(a.evidence)
                }
            }
            return out
        }
        let status = RunExitStatus.from(recipients: recipients, strict: strict)
        return RunReport(
            token: d.probe.token, returnPath: d.probe.returnPath, messageID: d.probe.messageID,
            startedAt: d.probe.createdAt,
            finishedAt: now, deadlineSeconds: d.probe.deadline.timeIntervalSince(d.probe.createdAt), strict: strict,
            submissions: d.probe.server.map {
                [
                    SubmissionSummary(
                        target: $0, dsnAdvertised: d.probe.dsnAvailable ?? false,
                        dsnRequested: d.probe.dsnAvailable ?? false,
                        recipients: d.recipients.map(\.address))
                ]
            } ?? [],
            recipients: recipients, forgedReports: d.reports.filter(\.forged).count, exitCode: status.rawValue
        )
    }

    /// Waits until every recipient of `token` has a final verdict, or until
    /// `until`, watching the ledger (other processes fill it).
    public static func wait(ledger: any LedgerStore, token: String, until: Date) async throws -> ProbeDetails? {
        while true {
            let revision = try await ledger.revision(token: token)
            guard let d = try await ledger.probe(token: token) else { return nil }
            let done = d.recipients.allSatisfy { $0.verdict.isFinal }
            if done || Date() >= until { return d }
            if d.probe.deadline <= Date() {
                _ = try await ledger.expire(now: Date())
                return try await ledger.probe(token: token)
            }
            let limit = min(until, d.probe.deadline.addingTimeInterval(0.05))
            _ = try await ledger.waitForUpdate(token: token, since: revision, until: limit)
        }
    }
}
