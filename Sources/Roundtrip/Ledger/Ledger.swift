import Crypto
import Foundation
import GRDB
import RoundtripCore
import SMTPCore

/// The SQLite ledger (the embedded default `LedgerStore`): probes, their
/// recipients, received reports and an audit trail, through GRDB
/// (docs/architecture.md §6).
///
/// A file ledger is a `DatabasePool` in WAL mode with a busy timeout, so a
/// `roundtrip send`, a standing `roundtrip listen` and a `roundtrip status`
/// can share it from separate processes. Every write is one IMMEDIATE
/// transaction that keeps the invariants (monotonic verdicts, one stored copy
/// of each report, probe status following its recipients) and appends an
/// event, so the events' highest id moves on every change.
///
/// All access goes through GRDB's async API; never call it from an event loop.
public struct Ledger: LedgerStore {
    let dbWriter: any DatabaseWriter
    /// The database file; nil for an in-memory ledger.
    public let path: String?

    public static let defaultBusyTimeout: TimeInterval = 10
    public static let fileName = "ledger.sqlite"

    /// Runs the migrations. Refuses a file migrated by a newer roundtrip.
    init(dbWriter: any DatabaseWriter, path: String?) throws {
        self.dbWriter = dbWriter
        self.path = path
        let migrator = Self.migrator
        if try dbWriter.read({ db in try migrator.hasBeenSuperseded(db) }) {
            throw LedgerError(
                .ledgerTooNew,
                "\(path ?? "the ledger") was written by a newer version of roundtrip; upgrade roundtrip to use it"
            )
        }
        try migrator.migrate(dbWriter)
    }

    // MARK: - Opening

    /// Opens (creating if needed) the ledger at `path`: the parent directory
    /// is made with mode 0700 and the file with mode 0600. Setup (WAL mode,
    /// migrations) runs under an exclusive lock on `path.lock`, so processes
    /// that open a fresh ledger at the same moment do not race each other.
    /// The blocking work runs off the cooperative thread pool.
    public static func open(path: String, busyTimeout: TimeInterval = defaultBusyTimeout) async throws -> Ledger {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Ledger, any Error>) in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try openSynchronously(path: path, busyTimeout: busyTimeout) })
            }
        }
    }

    private static func openSynchronously(path: String, busyTimeout: TimeInterval) throws -> Ledger {
        try LedgerFiles.createPrivateDirectory(LedgerFiles.parentDirectory(of: path))
        let lock = try SetupLock(path: path + ".lock", timeout: busyTimeout)
        defer { lock.release() }
        try LedgerFiles.createPrivateFileIfMissing(path)
        var configuration = Configuration()
        configuration.busyMode = .timeout(busyTimeout)
        configuration.label = "roundtrip.ledger"
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw LedgerError(.io, "cannot open the ledger \(path): \(error)")
        }
        return try Ledger(dbWriter: pool, path: path)
    }

    /// A private in-memory ledger (tests, `roundtrip demo`).
    public static func inMemory() throws -> Ledger {
        var configuration = Configuration()
        configuration.label = "roundtrip.ledger.memory"
        return try Ledger(dbWriter: DatabaseQueue(configuration: configuration), path: nil)
    }

    /// `$XDG_DATA_HOME/roundtrip`, or `$HOME/.local/share/roundtrip`. A
    /// relative `XDG_DATA_HOME` is ignored, as the XDG spec requires.
    public static func defaultDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) throws
        -> String
    {
        if let xdg = environment["XDG_DATA_HOME"], xdg.hasPrefix("/") {
            return URL(fileURLWithPath: xdg).appendingPathComponent("roundtrip").path
        }
        if let home = environment["HOME"], home.hasPrefix("/") {
            return URL(fileURLWithPath: home).appendingPathComponent(".local/share/roundtrip").path
        }
        throw LedgerError(.configuration, "neither XDG_DATA_HOME nor HOME is an absolute path; pass --ledger PATH")
    }

    /// `defaultDirectory()/ledger.sqlite`.
    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String
    {
        URL(fileURLWithPath: try defaultDirectory(environment: environment)).appendingPathComponent(fileName).path
    }

    public var location: String { path ?? ":memory:" }

    /// Nothing to release: GRDB closes the pool with the last reference.
    public func close() async {}

    // MARK: - Probes and submission

    /// Records a probe and its recipients (pending) in one transaction,
    /// before submission.
    public func recordProbe(_ probe: NewProbe, at: Date = Date()) async throws {
        try LedgerRules.validate(probe)
        try await dbWriter.write { db in
            guard try !ProbeRecord.exists(db, key: probe.token) else {
                throw LedgerError(.duplicateProbe, "a probe with token \(probe.token) is already recorded")
            }
            var record = ProbeRecord(probe)
            try record.insert(db)
            for (i, address) in probe.recipients.enumerated() {
                var r = RecipientRecord(probeToken: probe.token, address: address, position: i)
                try r.insert(db)
            }
            try Self.insertEvent(db, token: probe.token, LedgerRules.probeRecorded(probe), at: at)
        }
    }

    /// Records the submission session of a probe: the server actually used
    /// (`host:port`), the MX hosts tried, the transcript (JSON text, already
    /// redacted) and whether the server offered DSN. Without DSN, recipients
    /// already accepted become `dsn-unavailable`.
    public func recordSession(
        token: String, server: String, mxTried: [String], transcript: String,
        dsnAvailable: Bool, at: Date = Date()
    ) async throws {
        try LedgerRules.requireJSON(transcript, what: "the transcript")
        let mx = try LedgerRules.jsonText(mxTried)
        try await dbWriter.write { db in
            guard var probe = try ProbeRecord.fetchOne(db, key: token) else {
                throw LedgerError(.unknownProbe, "no probe with token \(token)")
            }
            probe.server = server
            probe.mxTried = mx
            probe.transcript = transcript
            probe.dsnAvailable = dsnAvailable
            try probe.update(db)
            try Self.insertEvent(
                db, token: token, LedgerRules.probeSession(server: server, dsnAvailable: dsnAvailable), at: at)
            if !dsnAvailable {
                let accepted =
                    try RecipientRecord
                    .filter(RecipientRecord.Columns.probeToken == token && Column("accepted") == true)
                    .fetchAll(db)
                for var r in accepted where VerdictRules.submission(.dsnUnavailable, replaces: r.verdict) {
                    let old = r.verdict
                    r.verdict = .dsnUnavailable
                    try r.update(db)
                    try Self.verdictEvent(db, token: token, address: r.address, from: old, to: r.verdict, at: at)
                }
            }
            _ = try Self.refreshStatus(db, token: token, at: at)
        }
    }

    /// Records the server's replies to recipients at RCPT or DATA, in one
    /// transaction. Refused → `rejected`; accepted by a server without DSN →
    /// `dsn-unavailable`; otherwise the recipient stays pending. Each
    /// `accepted` must agree with its reply (2xx).
    @discardableResult
    public func recordSubmissions(token: String, _ submissions: [LedgerSubmission], at: Date = Date()) async throws
        -> [Verdict]
    {
        for s in submissions {
            try LedgerRules.validateSubmission(recipient: s.recipient, reply: s.reply, accepted: s.accepted)
        }
        return try await dbWriter.write { db in
            guard let probe = try ProbeRecord.fetchOne(db, key: token) else {
                throw LedgerError(.unknownProbe, "no probe with token \(token)")
            }
            var verdicts: [Verdict] = []
            verdicts.reserveCapacity(submissions.count)
            for s in submissions {
                var r = try Self.fetchRecipient(db, token: token, address: s.recipient)
                let old = r.verdict
                r.replyStage = s.stage
                r.replyCode = s.reply.code
                r.replyEnhanced = s.reply.enhancedCode?.description
                r.replyText = s.reply.text
                r.accepted = s.accepted
                r.verdict = LedgerRules.submissionVerdict(
                    old: old, accepted: s.accepted, dsnAvailable: probe.dsnAvailable)
                try r.update(db)
                try Self.insertEvent(
                    db, token: token,
                    LedgerRules.submission(
                        recipient: r.address, stage: s.stage, code: s.reply.code, accepted: s.accepted), at: at)
                if r.verdict != old {
                    try Self.verdictEvent(db, token: token, address: r.address, from: old, to: r.verdict, at: at)
                }
                verdicts.append(r.verdict)
            }
            _ = try Self.refreshStatus(db, token: token, at: at)
            return verdicts
        }
    }

    // MARK: - Reports

    /// Stores a received message once: the SHA-256 of its bytes is unique, so
    /// the same report fetched twice (IMAP, then Maildir) returns the first id.
    public func recordReport(_ report: NewReport) async throws -> ReportID {
        try LedgerRules.validateReport(report)
        let hash = LedgerRules.contentHash(report.raw)
        return try await dbWriter.write { db in
            if let existing = try Int64.fetchOne(
                db, ReportRecord.select(ReportRecord.Columns.id).filter(ReportRecord.Columns.contentHash == hash)
            ) {
                return ReportID(rawValue: existing)
            }
            var record = ReportRecord(report, contentHash: hash)
            try record.insert(db)
            guard let id = record.id else { throw LedgerError(.corrupt, "the inserted report got no id") }
            try Self.insertEvent(db, token: nil, LedgerRules.reportRecorded(report, id: id), at: report.receivedAt)
            return ReportID(rawValue: id)
        }
    }

    /// Ties a report to a probe's recipient and updates the recipient's
    /// verdict by `VerdictRules` (the rules `verify` applies in memory): only
    /// a token-authenticated `key` can change it, and only forward. Evidence
    /// matched by recipient alone is counted as unconfirmed. The recipient's
    /// report, status, diagnostic, report time and latency follow the verdict.
    /// One report may be attached to several recipients of the same probe.
    @discardableResult
    public func attach(report: ReportID, to token: String, _ attachments: [LedgerAttachment], at: Date) async throws
        -> [AttachOutcome]
    {
        for a in attachments { try LedgerRules.validateAttach(verdict: a.verdict) }
        return try await dbWriter.write { db in
            guard let probe = try ProbeRecord.fetchOne(db, key: token) else {
                throw LedgerError(.unknownProbe, "no probe with token \(token)")
            }
            var changes: [(Verdict, Verdict)] = []
            for a in attachments {
                let reportRecord = try Self.link(
                    db, report: report, to: token, key: a.key, confidence: a.confidence, at: at)
                var r = try Self.fetchRecipient(db, token: token, address: a.recipient)
                let old = r.verdict
                switch LedgerRules.attachDecision(offered: a.verdict, current: old, key: a.key) {
                case .unconfirmed:
                    r.unconfirmedReports += 1
                    try r.update(db)
                    try Self.insertEvent(
                        db, token: token,
                        LedgerRules.unconfirmed(recipient: r.address, offered: a.verdict, key: a.key, report: report),
                        at: at)
                case .replace:
                    r.verdict = a.verdict
                    r.statusCode = a.status
                    r.diagnostic = a.diagnostic
                    r.remoteMTA = a.remoteMTA
                    r.reportingMTA = a.reportingMTA
                    r.reportID = report.rawValue
                    r.reportedAt = reportRecord.receivedAt
                    r.latencyMs = LedgerRules.latencyMilliseconds(
                        created: probe.createdAt, reported: reportRecord.receivedAt)
                    try r.update(db)
                    try Self.verdictEvent(
                        db, token: token, address: r.address, from: old, to: a.verdict, at: at, report: report)
                case .keep:
                    try Self.insertEvent(
                        db, token: token,
                        LedgerRules.verdictKept(recipient: r.address, kept: old, offered: a.verdict, report: report),
                        at: at)
                }
                changes.append((old, r.verdict))
            }
            // Once per report, not per recipient: it counts the probe's recipients.
            let probeStatus = try Self.refreshStatus(db, token: token, at: at)
            return changes.map { AttachOutcome(previous: $0.0, current: $0.1, probeStatus: probeStatus) }
        }
    }

    /// Ties a report to a probe without a recipient (for example a legacy
    /// NDR that names none). A stronger confidence replaces a weaker one.
    public func match(
        report: ReportID, to token: String, key: ReportMatchKey, confidence: MatchConfidence,
        at: Date = Date()
    ) async throws {
        try await dbWriter.write { db in
            guard try ProbeRecord.exists(db, key: token) else {
                throw LedgerError(.unknownProbe, "no probe with token \(token)")
            }
            _ = try Self.link(db, report: report, to: token, key: key, confidence: confidence, at: at)
        }
    }

    public func report(id: ReportID) async throws -> LedgerReport? {
        try await dbWriter.read { db in
            try Self.reportSummaries.filter(ReportRecord.Columns.id == id.rawValue).fetchOne(db)?.plain()
        }
    }

    /// The stored bytes, or where they are.
    public func rawReport(id: ReportID) async throws -> ReportRaw? {
        try await dbWriter.read { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    ReportRecord.select(ReportRecord.Columns.raw, ReportRecord.Columns.rawPath)
                        .filter(ReportRecord.Columns.id == id.rawValue)
                )
            else { return nil }
            if let data: Data = row[ReportRecord.Columns.raw] { return .bytes(Array(data)) }
            if let path: String = row[ReportRecord.Columns.rawPath] { return .file(path: path) }
            throw LedgerError(.corrupt, "report \(id) has neither bytes nor a path")
        }
    }

    /// Reports that match no probe, oldest first: late reports of expired
    /// probes, foreign backscatter, forgeries. Messages that were not reports
    /// at all are left out unless asked for.
    public func unmatchedReports(includingNonReports: Bool = false) async throws -> [LedgerReport] {
        try await dbWriter.read { db in
            var request = Self.reportSummaries.filter(ReportRecord.Columns.matchedToken == nil)
            if !includingNonReports {
                request = request.filter(ReportRecord.Columns.kind == ReportKind.report.rawValue)
            }
            return try request.order(ReportRecord.Columns.receivedAt, ReportRecord.Columns.id).fetchAll(db).map {
                try $0.plain()
            }
        }
    }

    // MARK: - Reading probes

    /// Probes still waiting at `now` (pending, deadline not reached), oldest
    /// first, with their recipients: what a poller searches for and what the
    /// correlator matches `Original-Recipient` against.
    public func pendingProbes(now: Date) async throws -> [ProbeSummary] {
        try await dbWriter.read { db in
            let probes =
                try ProbeRecord
                .filter(
                    ProbeRecord.Columns.status == ProbeStatus.pending.rawValue && ProbeRecord.Columns.deadline > now
                )
                .order(ProbeRecord.Columns.createdAt, ProbeRecord.Columns.token)
                .fetchAll(db)
            return try Self.summaries(db, probes)
        }
    }

    /// The newest probes first.
    public func listProbes(limit: Int = 50) async throws -> [ProbeSummary] {
        try LedgerRules.validateLimit(limit)
        return try await dbWriter.read { db in
            let probes =
                try ProbeRecord
                .order(ProbeRecord.Columns.createdAt.desc, ProbeRecord.Columns.token.desc)
                .limit(limit)
                .fetchAll(db)
            return try Self.summaries(db, probes)
        }
    }

    /// A probe with its recipients, matched reports and audit trail.
    public func probe(token: String) async throws -> ProbeDetails? {
        try await dbWriter.read { db in
            guard let probe = try ProbeRecord.fetchOne(db, key: token) else { return nil }
            let recipients =
                try RecipientRecord
                .filter(RecipientRecord.Columns.probeToken == token)
                .order(RecipientRecord.Columns.position)
                .fetchAll(db)
            let reports = try Self.reportSummaries
                .filter(ReportRecord.Columns.matchedToken == token)
                .order(ReportRecord.Columns.receivedAt, ReportRecord.Columns.id)
                .fetchAll(db)
            let events =
                try EventRecord
                .filter(EventRecord.Columns.token == token)
                .order(EventRecord.Columns.id)
                .fetchAll(db)
            return ProbeDetails(
                probe: try probe.plain(), recipients: recipients.map(\.plain),
                reports: try reports.map { try $0.plain() }, events: try events.map { try $0.plain() },
                arrivals: try Self.arrivals(db, token: token)
            )
        }
    }

    // MARK: - Deadlines

    /// Ends pending probes whose deadline is at or before `now`: pending
    /// recipients become `timeout`, delayed ones stay delayed (a report proved
    /// the inbound path), the probe becomes `expired`. Returns what changed.
    public func expire(now: Date) async throws -> [ExpiredProbe] {
        try await dbWriter.write { db in
            let due =
                try ProbeRecord
                .filter(
                    ProbeRecord.Columns.status == ProbeStatus.pending.rawValue && ProbeRecord.Columns.deadline <= now
                )
                .order(ProbeRecord.Columns.createdAt, ProbeRecord.Columns.token)
                .fetchAll(db)
            var changes: [ExpiredProbe] = []
            for var probe in due {
                var change = ExpiredProbe(token: probe.token, timedOut: [], stillDelayed: [])
                let recipients =
                    try RecipientRecord
                    .filter(RecipientRecord.Columns.probeToken == probe.token)
                    .order(RecipientRecord.Columns.position)
                    .fetchAll(db)
                for var r in recipients {
                    if VerdictRules.expiry(replaces: r.verdict) {
                        let old = r.verdict
                        r.verdict = .timeout
                        try r.update(db)
                        change.timedOut.append(r.address)
                        try Self.verdictEvent(
                            db, token: probe.token, address: r.address, from: old, to: .timeout, at: now)
                    } else if r.verdict == .delayed {
                        change.stillDelayed.append(r.address)
                    }
                }
                probe.status = .expired
                try probe.update(db)
                try Self.insertEvent(db, token: probe.token, LedgerRules.probeExpired(change), at: now)
                changes.append(change)
            }
            return changes
        }
    }

    // MARK: - Audit trail

    /// Appends an event; `detailJSON` must be JSON text.
    @discardableResult
    public func appendEvent(kind: String, token: String? = nil, detailJSON: String = "{}", at: Date = Date())
        async throws -> EventID
    {
        try LedgerRules.validateEvent(kind: kind, detailJSON: detailJSON)
        return try await dbWriter.write { db in
            var event = EventRecord(id: nil, token: token, at: at, kind: kind, detail: detailJSON)
            try event.insert(db)
            guard let id = event.id else { throw LedgerError(.corrupt, "the inserted event got no id") }
            return EventID(rawValue: id)
        }
    }

    /// Events after `id` (all when nil), oldest first, optionally for one token.
    public func events(token: String? = nil, after id: EventID? = nil, limit: Int = 1000) async throws -> [LedgerEvent]
    {
        try await dbWriter.read { db in
            var request = EventRecord.all()
            if let token { request = request.filter(EventRecord.Columns.token == token) }
            if let id { request = request.filter(EventRecord.Columns.id > id.rawValue) }
            return try request.order(EventRecord.Columns.id).limit(limit).fetchAll(db).map { try $0.plain() }
        }
    }

    // MARK: - Waiting for changes

    /// A fingerprint of one probe (its status, recipients, matched reports
    /// and events) or, with a nil token, of the whole ledger. Read it
    /// *before* reading the state you act on, then pass it to
    /// `waitForUpdate(token:since:until:)`, so no change slips between.
    public func revision(token: String?) async throws -> LedgerRevision {
        try await dbWriter.read { db in try Self.revision(db, token: token) }
    }

    /// Waits until the probe (or, with a nil token, anything in the ledger)
    /// changes, by polling a cheap query every `pollInterval`: this sees
    /// writes from other processes, which GRDB's observation cannot.
    /// Returns the new revision, or nil when `deadline` passes first.
    /// Cancellation ends the wait with `CancellationError`.
    public func waitForUpdate(token: String?, since revision: LedgerRevision?, until deadline: Date) async throws
        -> LedgerRevision?
    {
        try await waitForUpdate(token: token, since: revision, until: deadline, pollInterval: .milliseconds(100))
    }

    /// `waitForUpdate(token:since:until:)` with a chosen polling interval.
    public func waitForUpdate(
        token: String?, since revision: LedgerRevision?, until deadline: Date, pollInterval: Duration
    ) async throws -> LedgerRevision? {
        let start: LedgerRevision
        if let revision { start = revision } else { start = try await self.revision(token: token) }
        let interval = Double(pollInterval.components.seconds) + Double(pollInterval.components.attoseconds) / 1e18
        while true {
            let current = try await self.revision(token: token)
            if current != start { return current }
            let remaining = deadline.timeIntervalSinceNow
            if remaining <= 0 { return nil }
            let nap = max(0.001, min(interval, remaining))
            try await Task.sleep(for: .milliseconds(Int64((nap * 1000).rounded(.up))))
        }
    }
}

// MARK: - Helpers inside transactions

extension Ledger {
    static let reportSummaries = ReportRecord.select(ReportRecord.summaryColumns + [SQL("NULL AS raw")])

    static func fetchRecipient(_ db: Database, token: String, address: String) throws -> RecipientRecord {
        // `address` is COLLATE NOCASE: reports often change the case.
        guard
            let r =
                try RecipientRecord
                .filter(RecipientRecord.Columns.probeToken == token && RecipientRecord.Columns.address == address)
                .fetchOne(db)
        else {
            throw LedgerError(.unknownRecipient, "probe \(token) has no recipient \(address)")
        }
        return r
    }

    /// Marks a report as matched to `token`; keeps the stronger of two matches.
    static func link(
        _ db: Database, report: ReportID, to token: String, key: ReportMatchKey,
        confidence: MatchConfidence, at: Date
    ) throws -> ReportRecord {
        try LedgerRules.validateMatchKey(key)
        guard var record = try reportSummaries.filter(ReportRecord.Columns.id == report.rawValue).fetchOne(db) else {
            throw LedgerError(.unknownReport, "no report \(report)")
        }
        if let matched = record.matchedToken, matched != token {
            throw LedgerError(.conflictingMatch, "report \(report) is already matched to probe \(matched)")
        }
        let stronger = LedgerRules.matchIsStronger(
            existing: record.confidence, alreadyMatched: record.matchedToken != nil, offered: confidence)
        if stronger {
            try db.execute(
                sql: "UPDATE reports SET matched_token = ?, match_key = ?, confidence = ?, matched_at = ? WHERE id = ?",
                arguments: [token, key.rawValue, confidence.rawValue, at, report.rawValue]
            )
            record.matchedToken = token
            record.matchKey = key
            record.confidence = confidence
            record.matchedAt = at
            try insertEvent(
                db, token: token, LedgerRules.reportMatched(report: report, key: key, confidence: confidence), at: at)
        }
        return record
    }

    /// A pending probe whose recipients all have final verdicts is complete.
    static func refreshStatus(_ db: Database, token: String, at: Date) throws -> ProbeStatus {
        guard var probe = try ProbeRecord.fetchOne(db, key: token) else {
            throw LedgerError(.unknownProbe, "no probe with token \(token)")
        }
        guard probe.status == .pending else { return probe.status }
        // One aggregate query, not every recipient record: this runs after each
        // write, and a probe may have thousands of recipients.
        let open = LedgerRules.openVerdicts
        let counts = try Row.fetchOne(
            db,
            sql:
                "SELECT COUNT(*), SUM(verdict IN (\(open.map { _ in "?" }.joined(separator: ",")))) FROM recipients WHERE probe_token = ?",
            arguments: StatementArguments(open + [token])
        )
        let total: Int = counts?[0] ?? 0
        let waiting: Int = counts?[1] ?? 0
        if total > 0, waiting == 0 {
            probe.status = .complete
            try probe.update(db)
            try insertEvent(db, token: token, LedgerRules.probeCompleted, at: at)
        }
        return probe.status
    }

    static func summaries(_ db: Database, _ probes: [ProbeRecord]) throws -> [ProbeSummary] {
        guard !probes.isEmpty else { return [] }
        let tokens = probes.map(\.token)
        let recipients =
            try RecipientRecord
            .filter(tokens.contains(RecipientRecord.Columns.probeToken))
            .order(RecipientRecord.Columns.probeToken, RecipientRecord.Columns.position)
            .fetchAll(db)
        let byToken = Dictionary(grouping: recipients, by: \.probeToken)
        return try probes.map { p in
            ProbeSummary(probe: try p.plain(), recipients: (byToken[p.token] ?? []).map(\.plain))
        }
    }

    static func revision(_ db: Database, token: String?) throws -> LedgerRevision {
        let value: String?
        if let token {
            value = try String.fetchOne(
                db,
                sql: """
                    SELECT ifnull((SELECT status || '/' || ifnull(server, '') FROM probes WHERE token = :t), '-')
                        || '|' || ifnull((SELECT group_concat(x, ',') FROM (
                            SELECT id || ':' || verdict || ':' || ifnull(report_id, '') || ':' || ifnull(accepted, '')
                                || ':' || ifnull(reply_code, '') AS x
                            FROM recipients WHERE probe_token = :t ORDER BY id)), '')
                        || '|' || (SELECT ifnull(max(id), 0) FROM events WHERE token = :t)
                        || '|' || (SELECT count(*) FROM reports WHERE matched_token = :t)
                    """, arguments: ["t": token])
        } else {
            value = try String.fetchOne(db, sql: LedgerRules.ledgerRevisionSQL)
        }
        return LedgerRevision(value: value ?? "")
    }

    static func insertEvent(_ db: Database, token: String?, _ e: LedgerRules.Event, at: Date) throws {
        var event = EventRecord(id: nil, token: token, at: at, kind: e.kind, detail: try LedgerRules.jsonText(e.detail))
        try event.insert(db)
    }

    static func verdictEvent(
        _ db: Database, token: String, address: String, from old: Verdict, to new: Verdict,
        at: Date, report: ReportID? = nil
    ) throws {
        try insertEvent(
            db, token: token, LedgerRules.verdictChanged(recipient: address, from: old, to: new, report: report), at: at
        )
    }
}
