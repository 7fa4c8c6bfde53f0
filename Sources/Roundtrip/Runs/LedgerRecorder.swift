import DeliveryReports
import Foundation
import MailTransport
import RoundtripCore
import SMTPCore

/// Mirrors a run into the ledger so `status` and other processes can see it.
/// A failing write is logged and the run goes on: the verdicts of this run
/// do not depend on the ledger.
struct LedgerRecorder: Sendable {
    let ledger: (any LedgerStore)?
    let log: @Sendable (String) -> Void

    func attempt(_ what: String, _ body: () async throws -> Void) async {
        guard ledger != nil else { return }
        do { try await body() } catch { log("ledger: \(what) failed: \(error)") }
    }

    func probe(_ probe: Probe, createdAt: Date, deadline: Date) async {
        await attempt("recording the probe") {
            try await ledger?.recordProbe(NewProbe(probe, createdAt: createdAt, deadline: deadline))
        }
    }

    func session(token: String, group: SubmissionGroup) async {
        guard let final = group.final ?? group.attempts.last else { return }
        let transcript = final.report.transcript
        let json = (try? JSONEncoder().encode(transcript)).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
        await attempt("recording the session") {
            try await ledger?.recordSession(
                token: token, server: final.route.target.display,
                mxTried: group.attempts.map(\.route.target.display), transcript: json,
                dsnAvailable: final.report.dsn)
        }
    }

    /// What the ledger records for one recipient of a finished transaction: a recipient accepted at
    /// RCPT whose message was refused at DATA carries the DATA reply.
    static func submission(outcome: RecipientOutcome, messageTaken: Bool, dataReply: (Int, String?)?)
        -> LedgerSubmission
    {
        let stage: SubmissionStage
        let reply: SMTPReply
        if outcome.accepted && !messageTaken, let (code, text) = dataReply {
            stage = .data
            reply = SMTPReply(code: code, lines: [text ?? ""])
        } else {
            stage = outcome.refusedAt == "data" ? .data : .rcpt
            let enhanced = outcome.enhancedCode.map { "\($0) " } ?? ""
            reply = SMTPReply(code: outcome.replyCode ?? 250, lines: [enhanced + (outcome.text ?? "")])
        }
        return LedgerSubmission(recipient: outcome.address, reply: reply, stage: stage, accepted: reply.isPositive)
    }

    /// Records a transaction's replies in one ledger write.
    func submissions(token: String, _ submissions: [LedgerSubmission]) async {
        guard !submissions.isEmpty else { return }
        await attempt("recording the submission of \(submissions.count) recipient(s)") {
            try await ledger?.recordSubmissions(token: token, submissions, at: Date())
        }
    }

    /// Stores a received message; returns its id.
    func report(_ m: ReceivedMessage, parsed: DeliveryReport?, forged: Bool) async -> ReportID? {
        guard let ledger else { return nil }
        do {
            return try await ledger.recordReport(ReportIngest.newReport(m, parsed: parsed, forged: forged))
        } catch {
            log("ledger: storing the report from \(m.source) failed: \(error)")
            return nil
        }
    }

    /// Records each piece of evidence; the ledger applies `VerdictRules` itself.
    func attach(_ id: ReportID?, token: String, evidence: [ReportEvidence], at: Date) async {
        guard let id, !evidence.isEmpty else { return }
        await attempt("attaching the report to \(evidence.count) recipient(s)") {
            _ = try await ledger?.attach(report: id, to: token, evidence: evidence, at: at)
        }
    }

    func match(_ id: ReportID?, token: String, correlation: Correlation) async {
        guard let id, let confidence = correlation.confidence else { return }
        await attempt("matching the report") {
            try await ledger?.match(report: id, to: token, key: correlation.key, confidence: confidence)
        }
    }

    func arrival(token: String, evidence: ArrivalEvidence, reportExpected: Bool) async {
        await attempt("recording the arrival for \(evidence.address)") {
            try await ledger?.recordArrival(token: token, evidence: evidence, reportExpected: reportExpected)
        }
    }

    func expire() async {
        await attempt("expiring probes") { _ = try await ledger?.expire(now: Date()) }
    }

    /// A small JSON summary of a parsed report for the ledger.
    static func summary(_ r: DeliveryReport) -> String {
        struct Summary: Encodable {
            struct Recipient: Encodable {
                var recipient: String
                var action: String
                var status: String?
                var diagnostic: String?
            }
            var kind: String
            var envelopeId: String?
            var reportingMTA: String?
            var recipients: [Recipient]
        }
        let s = Summary(
            kind: r.kind.name, envelopeId: r.originalEnvelopeID, reportingMTA: r.reportingMTA?.value,
            recipients: r.recipients.map {
                .init(
                    recipient: $0.address, action: $0.action.rawValue,
                    status: $0.status?.description, diagnostic: $0.diagnostic)
            })
        return (try? JSONEncoder().encode(s)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
