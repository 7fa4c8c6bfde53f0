import Foundation
import RoundtripCore
import SMTPCore

/// The ledger as its users see it (docs/architecture.md §6): `verify`, `send`,
/// `status`, `listen --ledger` and the runs depend on this protocol only.
/// Two backends implement it with the same behaviour (one contract test suite
/// runs against both): `Ledger` (SQLite through GRDB, the embedded default)
/// and `PostgresLedger` (PostgreSQL through postgres-nio, shared by hosts).
/// `LedgerLocation` and `LedgerStores.open` pick one from `--ledger`.
///
/// Every write is one transaction that keeps the invariants (monotonic
/// verdicts decided by `VerdictRules`, one stored copy of each report, probe
/// status following its recipients) and appends an event. Inputs are checked
/// by `LedgerRules`, so both backends refuse the same things.
public protocol LedgerStore: Sendable {
    /// Where the ledger is, for messages: a path or a URL without secrets.
    var location: String { get }

    /// Records a probe and its recipients (pending) before submission.
    func recordProbe(_ probe: NewProbe, at: Date) async throws
    /// Records the submission session; without DSN, accepted recipients become `dsn-unavailable`.
    func recordSession(
        token: String, server: String, mxTried: [String], transcript: String, dsnAvailable: Bool, at: Date
    ) async throws
    /// Records the server's replies to recipients at RCPT or DATA, all in one transaction (a
    /// probe to 10,000 recipients is one write, not 10,000); the new verdicts, in order.
    @discardableResult
    func recordSubmissions(token: String, _ submissions: [LedgerSubmission], at: Date) async throws -> [Verdict]
    /// Stores a received message once (unique by the SHA-256 of its bytes); returns its id.
    func recordReport(_ report: NewReport) async throws -> ReportID
    /// Ties a report to recipients of a probe and applies `VerdictRules` to each, all in one
    /// transaction (a report on 1,000 recipients is one write, not 1,000); one outcome each.
    @discardableResult
    func attach(report: ReportID, to token: String, _ attachments: [LedgerAttachment], at: Date) async throws
        -> [AttachOutcome]
    /// Ties a report to a probe without a recipient; a stronger confidence replaces a weaker one.
    func match(report: ReportID, to token: String, key: ReportMatchKey, confidence: MatchConfidence, at: Date)
        async throws
    func report(id: ReportID) async throws -> LedgerReport?
    func rawReport(id: ReportID) async throws -> ReportRaw?
    /// Reports that match no probe, oldest first.
    func unmatchedReports(includingNonReports: Bool) async throws -> [LedgerReport]
    /// Probes still waiting at `now`, oldest first, with their recipients.
    func pendingProbes(now: Date) async throws -> [ProbeSummary]
    /// The newest probes first.
    func listProbes(limit: Int) async throws -> [ProbeSummary]
    /// A probe with its recipients, matched reports and audit trail.
    func probe(token: String) async throws -> ProbeDetails?
    /// Ends pending probes whose deadline is at or before `now` (`VerdictRules.expiry`).
    func expire(now: Date) async throws -> [ExpiredProbe]
    /// Appends an event; `detailJSON` must be JSON text.
    @discardableResult
    func appendEvent(kind: String, token: String?, detailJSON: String, at: Date) async throws -> EventID
    /// Events after `id` (all when nil), oldest first, optionally for one token.
    func events(token: String?, after id: EventID?, limit: Int) async throws -> [LedgerEvent]
    /// A fingerprint of one probe or, with a nil token, of the whole ledger.
    func revision(token: String?) async throws -> LedgerRevision
    /// Waits until the probe (or anything) changes after `revision`; nil when `deadline` passes first.
    func waitForUpdate(token: String?, since revision: LedgerRevision?, until deadline: Date) async throws
        -> LedgerRevision?
    /// Records the first arrival (`verify --arrival`) for a recipient of `token`, with an event;
    /// false when one was recorded already.
    @discardableResult
    func recordArrival(token: String, evidence: ArrivalEvidence, reportExpected: Bool) async throws -> Bool
    /// The arrivals recorded for `token`, oldest first.
    func arrivals(token: String) async throws -> [LedgerArrival]
    /// Monitor probes (`MonitorEvents.route`) created at or after `since`, oldest first.
    func monitorHistory(since: Date) async throws -> [MonitorProbeRecord]
    /// Deletes probes created before `cutoff` (with their recipients and arrivals), reports
    /// received before it and events older than it, in one transaction.
    @discardableResult
    func pruneMonitor(before cutoff: Date) async throws -> LedgerPruneCount
    /// Releases connections (PostgreSQL); the store is unusable afterwards.
    func close() async
}

// The defaults callers rely on (a protocol requirement cannot have them).
extension LedgerStore {
    public func recordProbe(_ probe: NewProbe) async throws { try await recordProbe(probe, at: Date()) }

    public func recordSession(token: String, server: String, mxTried: [String], transcript: String, dsnAvailable: Bool)
        async throws
    {
        try await recordSession(
            token: token, server: server, mxTried: mxTried, transcript: transcript, dsnAvailable: dsnAvailable,
            at: Date())
    }

    /// Records the server's reply to one recipient (`recordSubmissions` with one submission).
    @discardableResult
    public func recordSubmission(
        token: String, recipient: String, reply: SMTPReply, stage: SubmissionStage = .rcpt, accepted: Bool,
        at: Date = Date()
    ) async throws -> Verdict {
        let s = LedgerSubmission(recipient: recipient, reply: reply, stage: stage, accepted: accepted)
        guard let verdict = try await recordSubmissions(token: token, [s], at: at).first else {
            throw LedgerError(.corrupt, "a submission gave no verdict")
        }
        return verdict
    }

    /// Ties a report to one recipient (`attach(report:to:_:at:)` with one attachment).
    @discardableResult
    public func attach(
        report: ReportID, to token: String, recipient: String, verdict: Verdict, status: String?,
        diagnostic: String?, remoteMTA: String? = nil, reportingMTA: String? = nil, key: ReportMatchKey,
        confidence: MatchConfidence, at: Date = Date()
    ) async throws -> AttachOutcome {
        let a = LedgerAttachment(
            recipient: recipient, verdict: verdict, status: status, diagnostic: diagnostic, remoteMTA: remoteMTA,
            reportingMTA: reportingMTA, key: key, confidence: confidence)
        guard let outcome = try await attach(report: report, to: token, [a], at: at).first else {
            throw LedgerError(.corrupt, "an attachment gave no outcome")
        }
        return outcome
    }

    /// Applies one piece of `ReportEvidence` (as `RunTracker.apply` does in memory).
    @discardableResult
    public func attach(report: ReportID, to token: String, evidence e: ReportEvidence, at: Date = Date()) async throws
        -> AttachOutcome
    {
        guard let outcome = try await attach(report: report, to: token, evidence: [e], at: at).first else {
            throw LedgerError(.corrupt, "an attachment gave no outcome")
        }
        return outcome
    }

    /// Applies every piece of evidence one report gives, in one transaction.
    @discardableResult
    public func attach(report: ReportID, to token: String, evidence: [ReportEvidence], at: Date = Date())
        async throws -> [AttachOutcome]
    {
        guard !evidence.isEmpty else { return [] }
        return try await attach(report: report, to: token, evidence.map(LedgerAttachment.init), at: at)
    }

    public func match(report: ReportID, to token: String, key: ReportMatchKey, confidence: MatchConfidence)
        async throws
    {
        try await match(report: report, to: token, key: key, confidence: confidence, at: Date())
    }

    public func unmatchedReports() async throws -> [LedgerReport] {
        try await unmatchedReports(includingNonReports: false)
    }

    public func listProbes() async throws -> [ProbeSummary] { try await listProbes(limit: 50) }

    @discardableResult
    public func appendEvent(kind: String, token: String? = nil, detailJSON: String = "{}") async throws -> EventID {
        try await appendEvent(kind: kind, token: token, detailJSON: detailJSON, at: Date())
    }

    /// Appends an event whose detail is `detail` encoded as JSON.
    @discardableResult
    public func appendEvent(kind: String, token: String? = nil, detail: some Encodable, at: Date = Date()) async throws
        -> EventID
    {
        try await appendEvent(kind: kind, token: token, detailJSON: try LedgerRules.eventDetail(detail), at: at)
    }

    public func events(token: String? = nil, after id: EventID? = nil) async throws -> [LedgerEvent] {
        try await events(token: token, after: id, limit: 1000)
    }

    public func waitForUpdate(token: String?, until deadline: Date) async throws -> LedgerRevision? {
        try await waitForUpdate(token: token, since: nil, until: deadline)
    }
}
