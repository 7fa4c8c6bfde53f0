import Crypto
import Foundation
import RoundtripCore
import SMTPCore

/// What both ledger backends decide the same way, written once: the checks
/// on inputs, the recipient transitions (through `VerdictRules`, never
/// restated here), the content hash, and the JSON text of events. The
/// backends only store what these functions return.
public enum LedgerRules {
    // MARK: - Inputs

    static func validate(_ probe: NewProbe) throws {
        guard !probe.token.isEmpty else { throw LedgerError(.invalidArgument, "a probe needs a token") }
        guard !probe.recipients.isEmpty else {
            throw LedgerError(.invalidArgument, "probe \(probe.token) has no recipient")
        }
        guard probe.deadline >= probe.createdAt else {
            throw LedgerError(.invalidArgument, "probe \(probe.token): the deadline is before the creation time")
        }
        var seen: Set<String> = []
        for r in probe.recipients where !seen.insert(r.lowercased()).inserted {
            throw LedgerError(.invalidArgument, "probe \(probe.token) lists the recipient \(r) twice")
        }
    }

    static func validateSubmission(recipient: String, reply: SMTPReply, accepted: Bool) throws {
        guard accepted == reply.isPositive else {
            throw LedgerError(
                .invalidArgument, "recipient \(recipient): accepted=\(accepted) contradicts the reply \(reply.code)")
        }
    }

    static func validateReport(_ report: NewReport) throws {
        if let parsed = report.parsed { try requireJSON(parsed, what: "the parsed report") }
        guard !report.source.isEmpty else { throw LedgerError(.invalidArgument, "a report needs a source") }
    }

    static func validateAttach(verdict: Verdict) throws {
        guard VerdictRules.reportVerdicts.contains(verdict) else {
            throw LedgerError(.invalidArgument, "a report cannot give the verdict \(verdict.rawValue)")
        }
    }

    static func validateEvent(kind: String, detailJSON: String) throws {
        guard !kind.isEmpty else { throw LedgerError(.invalidArgument, "an event needs a kind") }
        try requireJSON(detailJSON, what: "the event detail")
    }

    static func validateLimit(_ limit: Int) throws {
        guard limit > 0 else { throw LedgerError(.invalidArgument, "the limit must be positive") }
    }

    static func validateMatchKey(_ key: ReportMatchKey) throws {
        guard key != .none else { throw LedgerError(.invalidArgument, "a match needs a key") }
    }

    // MARK: - Transitions

    /// The verdict after the server's reply at submission.
    static func submissionVerdict(old: Verdict, accepted: Bool, dsnAvailable: Bool?) -> Verdict {
        if !accepted {
            return VerdictRules.submission(.rejected, replaces: old) ? .rejected : old
        }
        if dsnAvailable == false, VerdictRules.submission(.dsnUnavailable, replaces: old) { return .dsnUnavailable }
        return old
    }

    /// What one piece of report evidence does to a recipient.
    enum AttachDecision: Equatable {
        /// Matched by recipient alone: counted, never a verdict.
        case unconfirmed
        /// The verdict (and the report's facts) replace the recipient's.
        case replace
        /// The existing verdict is stronger.
        case keep
    }

    static func attachDecision(offered: Verdict, current: Verdict, key: ReportMatchKey) -> AttachDecision {
        guard key.isAuthenticated else { return .unconfirmed }
        return VerdictRules.report(offered, replaces: current, key: key) ? .replace : .keep
    }

    /// A stronger match (or the first) replaces the stored one.
    static func matchIsStronger(existing: MatchConfidence?, alreadyMatched: Bool, offered: MatchConfidence) -> Bool {
        !alreadyMatched || offered.rank > (existing?.rank ?? -1)
    }

    /// From the probe's creation to the report's receipt, in milliseconds.
    static func latencyMilliseconds(created: Date, reported: Date) -> Int64 {
        Int64((reported.timeIntervalSince(created) * 1000).rounded())
    }

    /// Verdicts that still wait for a report (the probe is complete when no recipient has one).
    static let openVerdicts: [String] = Verdict.allCases.filter { !$0.isFinal }.map(\.rawValue)

    // MARK: - Values

    /// SHA-256 of the raw bytes, lower-case hex.
    static func contentHash(_ raw: [UInt8]) -> String {
        SHA256.hash(data: raw).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    static func jsonText(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            return String(decoding: try encoder.encode(value), as: UTF8.self)
        } catch {
            throw LedgerError(.invalidArgument, "cannot encode JSON: \(error)")
        }
    }

    static func eventDetail(_ detail: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        do {
            return String(decoding: try encoder.encode(detail), as: UTF8.self)
        } catch {
            throw LedgerError(.invalidArgument, "the event detail does not encode as JSON: \(error)")
        }
    }

    static func requireJSON(_ text: String, what: String) throws {
        do {
            _ = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
        } catch {
            throw LedgerError(.invalidArgument, "\(what) is not JSON text")
        }
    }

    static func timestamp(_ date: Date) -> String {
        ISO8601DateFormatter().string(from: date)
    }

    static func decodeStrings(_ json: String, what: String) throws -> [String] {
        do {
            return try JSONDecoder().decode([String].self, from: Data(json.utf8))
        } catch {
            throw LedgerError(.corrupt, "\(what) is not a JSON list of strings")
        }
    }

    // MARK: - Events (kind and detail), the same audit trail in both backends

    struct Event {
        var kind: String
        var detail: [String: String]
    }

    static func probeRecorded(_ probe: NewProbe) -> Event {
        Event(
            kind: "probe.recorded",
            detail: ["recipients": String(probe.recipients.count), "deadline": timestamp(probe.deadline)])
    }

    static func arrival(_ e: ArrivalEvidence) -> Event {
        Event(
            kind: "recipient.arrival",
            detail: ["recipient": e.address, "folder": e.folder, "junk": e.junk ? "yes" : "no", "source": e.source])
    }

    static func probeSession(server: String, dsnAvailable: Bool) -> Event {
        Event(kind: "probe.session", detail: ["server": server, "dsn": dsnAvailable ? "yes" : "no"])
    }

    static func submission(recipient: String, stage: SubmissionStage, code: Int, accepted: Bool) -> Event {
        Event(
            kind: "recipient.submission",
            detail: [
                "recipient": recipient, "stage": stage.rawValue, "code": String(code),
                "accepted": accepted ? "yes" : "no",
            ])
    }

    static func verdictChanged(recipient: String, from old: Verdict, to new: Verdict, report: ReportID? = nil) -> Event
    {
        var detail = ["recipient": recipient, "from": old.rawValue, "to": new.rawValue]
        if let report { detail["report"] = report.description }
        return Event(kind: "recipient.verdict", detail: detail)
    }

    static func reportRecorded(_ report: NewReport, id: Int64) -> Event {
        Event(
            kind: "report.recorded",
            detail: [
                "report": String(id), "source": report.source, "size": String(report.raw.count),
                "kind": report.kind.rawValue, "forged": report.forged ? "yes" : "no",
            ])
    }

    static func reportMatched(report: ReportID, key: ReportMatchKey, confidence: MatchConfidence) -> Event {
        Event(
            kind: "report.matched",
            detail: ["report": report.description, "key": key.rawValue, "confidence": confidence.rawValue])
    }

    static func unconfirmed(recipient: String, offered: Verdict, key: ReportMatchKey, report: ReportID) -> Event {
        Event(
            kind: "recipient.unconfirmed-evidence",
            detail: [
                "recipient": recipient, "offered": offered.rawValue, "key": key.rawValue,
                "report": report.description,
            ])
    }

    static func verdictKept(recipient: String, kept: Verdict, offered: Verdict, report: ReportID) -> Event {
        Event(
            kind: "recipient.verdict-kept",
            detail: [
                "recipient": recipient, "kept": kept.rawValue, "offered": offered.rawValue,
                "report": report.description,
            ])
    }

    static let probeCompleted = Event(kind: "probe.completed", detail: [:])

    /// The fingerprint of the whole ledger (`revision(token: nil)`), the same SQL for both
    /// backends: it changes with every event, report, probe completion and verdict.
    static let ledgerRevisionSQL = """
        SELECT (SELECT coalesce(max(id), 0) FROM events)
            || '|' || (SELECT coalesce(max(id), 0) FROM reports)
            || '|' || (SELECT count(*) FROM probes)
            || '|' || (SELECT count(*) FROM probes WHERE status <> 'pending')
            || '|' || (SELECT count(*) FROM recipients WHERE verdict <> 'pending')
            || '|' || (SELECT count(*) FROM reports WHERE matched_token IS NOT NULL)
        """

    static func probeExpired(_ change: ExpiredProbe) -> Event {
        Event(
            kind: "probe.expired",
            detail: [
                "timed_out": String(change.timedOut.count), "still_delayed": String(change.stillDelayed.count),
            ])
    }
}
