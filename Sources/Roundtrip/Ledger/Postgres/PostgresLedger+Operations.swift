import Foundation
import Logging
import PostgresNIO
import RoundtripCore
import SMTPCore

// The PostgreSQL side of every `LedgerStore` operation. The decisions are
// `LedgerRules`' (and through them `VerdictRules`'); this file only stores them.
extension PostgresLedger {
    // MARK: - Probes and submission

    public func recordProbe(_ probe: NewProbe, at: Date) async throws {
        try LedgerRules.validate(probe)
        try await transaction { conn in
            let inserted = try await conn.rows(
                """
                INSERT INTO probes (token, created_at, deadline, return_path, envelope_id, message_id, subject)
                VALUES (\(probe.token), \(probe.createdAt), \(probe.deadline), \(probe.returnPath),
                        \(probe.envelopeID), \(probe.messageID), \(probe.subject))
                ON CONFLICT (token) DO NOTHING RETURNING token
                """, logger: self.logger
            ).all()
            guard !inserted.isEmpty else {
                throw LedgerError(.duplicateProbe, "a probe with token \(probe.token) is already recorded")
            }
            for (i, address) in probe.recipients.enumerated() {
                try await conn.rows(
                    "INSERT INTO recipients (probe_token, address, position) VALUES (\(probe.token), \(address), \(i))",
                    logger: self.logger)
            }
            try await self.insertEvent(conn, token: probe.token, LedgerRules.probeRecorded(probe), at: at)
            try await self.notify(conn, token: probe.token)
        }
    }

    public func recordSession(
        token: String, server: String, mxTried: [String], transcript: String, dsnAvailable: Bool, at: Date
    ) async throws {
        try LedgerRules.requireJSON(transcript, what: "the transcript")
        let mx = try LedgerRules.jsonText(mxTried)
        try await transaction { conn in
            guard try await self.lockProbe(conn, token: token) != nil else {
                throw LedgerError(.unknownProbe, "no probe with token \(token)")
            }
            try await conn.rows(
                """
                UPDATE probes SET server = \(server), mx_tried = \(mx), transcript = \(transcript),
                    dsn_available = \(dsnAvailable) WHERE token = \(token)
                """, logger: self.logger)
            try await self.insertEvent(
                conn, token: token, LedgerRules.probeSession(server: server, dsnAvailable: dsnAvailable), at: at)
            if !dsnAvailable {
                let accepted = try await self.recipients(conn, where: "probe_token = $1 AND accepted", token)
                for r in accepted where VerdictRules.submission(.dsnUnavailable, replaces: r.verdict) {
                    try await self.setVerdict(conn, id: r.id, .dsnUnavailable)
                    try await self.insertEvent(
                        conn, token: token,
                        LedgerRules.verdictChanged(recipient: r.plain.address, from: r.verdict, to: .dsnUnavailable),
                        at: at)
                }
            }
            _ = try await self.refreshStatus(conn, token: token, at: at)
            try await self.notify(conn, token: token)
        }
    }

    public func recordSubmissions(token: String, _ submissions: [LedgerSubmission], at: Date) async throws
        -> [Verdict]
    {
        for s in submissions {
            try LedgerRules.validateSubmission(recipient: s.recipient, reply: s.reply, accepted: s.accepted)
        }
        return try await transaction { conn in
            guard let probe = try await self.lockProbe(conn, token: token) else {
                throw LedgerError(.unknownProbe, "no probe with token \(token)")
            }
            var verdicts: [Verdict] = []
            verdicts.reserveCapacity(submissions.count)
            for s in submissions {
                let r = try await self.fetchRecipient(conn, token: token, address: s.recipient)
                let old = r.verdict
                let new = LedgerRules.submissionVerdict(
                    old: old, accepted: s.accepted, dsnAvailable: probe.dsnAvailable)
                try await conn.rows(
                    """
                    UPDATE recipients SET reply_stage = \(s.stage.rawValue), reply_code = \(s.reply.code),
                        reply_enhanced = \(s.reply.enhancedCode?.description), reply_text = \(s.reply.text),
                        accepted = \(s.accepted), verdict = \(new.rawValue)
                    WHERE id = \(r.id)
                    """, logger: self.logger)
                try await self.insertEvent(
                    conn, token: token,
                    LedgerRules.submission(
                        recipient: r.plain.address, stage: s.stage, code: s.reply.code, accepted: s.accepted),
                    at: at)
                if new != old {
                    try await self.insertEvent(
                        conn, token: token,
                        LedgerRules.verdictChanged(recipient: r.plain.address, from: old, to: new), at: at)
                }
                verdicts.append(new)
            }
            _ = try await self.refreshStatus(conn, token: token, at: at)
            try await self.notify(conn, token: token)
            return verdicts
        }
    }

    // MARK: - Reports

    public func recordReport(_ report: NewReport) async throws -> ReportID {
        try LedgerRules.validateReport(report)
        let hash = LedgerRules.contentHash(report.raw)
        let raw: Data?
        let rawPath: String?
        switch report.storage {
        case .inline: (raw, rawPath) = (Data(report.raw), nil)
        case .file(let path): (raw, rawPath) = (nil, path)
        }
        return try await transaction { conn in
            let rows = try await conn.rows(
                """
                INSERT INTO reports (received_at, source, content_hash, size, raw, raw_path, parsed, kind, forged)
                VALUES (\(report.receivedAt), \(report.source), \(hash), \(Int64(report.raw.count)), \(raw),
                        \(rawPath), \(report.parsed), \(report.kind.rawValue), \(report.forged))
                ON CONFLICT (content_hash) DO NOTHING RETURNING id
                """, logger: self.logger
            ).decode(Int64.self).all()
            if let id = rows.first {
                try await self.insertEvent(
                    conn, token: nil, LedgerRules.reportRecorded(report, id: id), at: report.receivedAt)
                try await self.notify(conn, token: nil)
                return ReportID(rawValue: id)
            }
            let existing = try await conn.rows(
                "SELECT id FROM reports WHERE content_hash = \(hash)", logger: self.logger
            ).decode(Int64.self).all()
            guard let id = existing.first else { throw LedgerError(.corrupt, "report \(hash) vanished") }
            return ReportID(rawValue: id)
        }
    }

    public func attach(report: ReportID, to token: String, _ attachments: [LedgerAttachment], at: Date) async throws
        -> [AttachOutcome]
    {
        for a in attachments { try LedgerRules.validateAttach(verdict: a.verdict) }
        return try await transaction { conn in
            // The probe's row lock orders every writer of this probe (two listeners, a sender, an expirer).
            guard let probe = try await self.lockProbe(conn, token: token) else {
                throw LedgerError(.unknownProbe, "no probe with token \(token)")
            }
            var changes: [(Verdict, Verdict)] = []
            for a in attachments {
                let reportRecord = try await self.link(
                    conn, report: report, to: token, key: a.key, confidence: a.confidence, at: at)
                let r = try await self.fetchRecipient(conn, token: token, address: a.recipient)
                let old = r.verdict
                var current = old
                switch LedgerRules.attachDecision(offered: a.verdict, current: old, key: a.key) {
                case .unconfirmed:
                    try await conn.rows(
                        "UPDATE recipients SET unconfirmed_reports = unconfirmed_reports + 1 WHERE id = \(r.id)",
                        logger: self.logger)
                    try await self.insertEvent(
                        conn, token: token,
                        LedgerRules.unconfirmed(
                            recipient: r.plain.address, offered: a.verdict, key: a.key, report: report),
                        at: at)
                case .replace:
                    current = a.verdict
                    let latency = LedgerRules.latencyMilliseconds(
                        created: probe.createdAt, reported: reportRecord.receivedAt)
                    try await conn.rows(
                        """
                        UPDATE recipients SET verdict = \(a.verdict.rawValue), status_code = \(a.status),
                            diagnostic = \(a.diagnostic), remote_mta = \(a.remoteMTA), reporting_mta = \(a.reportingMTA),
                            report_id = \(report.rawValue), reported_at = \(reportRecord.receivedAt),
                            latency_ms = \(latency)
                        WHERE id = \(r.id)
                        """, logger: self.logger)
                    try await self.insertEvent(
                        conn, token: token,
                        LedgerRules.verdictChanged(
                            recipient: r.plain.address, from: old, to: a.verdict, report: report),
                        at: at)
                case .keep:
                    try await self.insertEvent(
                        conn, token: token,
                        LedgerRules.verdictKept(
                            recipient: r.plain.address, kept: old, offered: a.verdict, report: report),
                        at: at)
                }
                changes.append((old, current))
            }
            // Once per report, not per recipient: it counts the probe's recipients.
            let probeStatus = try await self.refreshStatus(conn, token: token, at: at)
            try await self.notify(conn, token: token)
            return changes.map { AttachOutcome(previous: $0.0, current: $0.1, probeStatus: probeStatus) }
        }
    }

    public func match(report: ReportID, to token: String, key: ReportMatchKey, confidence: MatchConfidence, at: Date)
        async throws
    {
        try await transaction { conn in
            guard try await self.lockProbe(conn, token: token) != nil else {
                throw LedgerError(.unknownProbe, "no probe with token \(token)")
            }
            _ = try await self.link(conn, report: report, to: token, key: key, confidence: confidence, at: at)
            try await self.notify(conn, token: token)
        }
    }

    public func report(id: ReportID) async throws -> LedgerReport? {
        try await read { conn in
            try await self.reports(conn, where: "id = $1", id.rawValue).first
        }
    }

    public func rawReport(id: ReportID) async throws -> ReportRaw? {
        try await read { conn in
            let rows = try await conn.rows(
                "SELECT raw, raw_path FROM reports WHERE id = \(id.rawValue)", logger: self.logger
            ).decode((Data?, String?).self).all()
            guard let (raw, path) = rows.first else { return nil }
            if let raw { return .bytes(Array(raw)) }
            if let path { return .file(path: path) }
            throw LedgerError(.corrupt, "report \(id) has neither bytes nor a path")
        }
    }

    public func unmatchedReports(includingNonReports: Bool) async throws -> [LedgerReport] {
        try await read { conn in
            let condition =
                includingNonReports
                ? "matched_token IS NULL AND $1 = $1" : "matched_token IS NULL AND kind = $1"
            return try await self.reports(conn, where: condition, ReportKind.report.rawValue)
        }
    }

    // MARK: - Reading probes

    public func pendingProbes(now: Date) async throws -> [ProbeSummary] {
        try await read { conn in
            let probes = try await self.probes(
                conn,
                PostgresQuery(
                    unsafeSQL: Self.probeSelect
                        + " WHERE status = 'pending' AND deadline > $1 ORDER BY created_at, token",
                    binds: try Self.binds(now)))
            return try await self.summaries(conn, probes)
        }
    }

    public func listProbes(limit: Int) async throws -> [ProbeSummary] {
        try LedgerRules.validateLimit(limit)
        return try await read { conn in
            let probes = try await self.probes(
                conn,
                PostgresQuery(
                    unsafeSQL: Self.probeSelect + " ORDER BY created_at DESC, token DESC LIMIT $1",
                    binds: try Self.binds(Int64(limit))))
            return try await self.summaries(conn, probes)
        }
    }

    public func probe(token: String) async throws -> ProbeDetails? {
        try await read { conn in
            guard
                let probe = try await self.probes(
                    conn, PostgresQuery(unsafeSQL: Self.probeSelect + " WHERE token = $1", binds: try Self.binds(token))
                ).first
            else { return nil }
            let recipients = try await self.recipients(conn, where: "probe_token = $1", token).map(\.plain)
            let reports = try await self.reports(conn, where: "matched_token = $1", token)
            let events = try await self.events(
                conn,
                PostgresQuery(
                    unsafeSQL: Self.eventSelect + " WHERE token = $1 ORDER BY id", binds: try Self.binds(token)))
            return ProbeDetails(
                probe: probe, recipients: recipients, reports: reports, events: events,
                arrivals: try await self.arrivals(conn, token: token))
        }
    }

    // MARK: - Deadlines

    public func expire(now: Date) async throws -> [ExpiredProbe] {
        try await transaction { conn in
            let due = try await self.probes(
                conn,
                PostgresQuery(
                    unsafeSQL: Self.probeSelect
                        + " WHERE status = 'pending' AND deadline <= $1 ORDER BY created_at, token FOR UPDATE",
                    binds: try Self.binds(now)))
            var changes: [ExpiredProbe] = []
            for probe in due {
                var change = ExpiredProbe(token: probe.token, timedOut: [], stillDelayed: [])
                for r in try await self.recipients(conn, where: "probe_token = $1", probe.token) {
                    if VerdictRules.expiry(replaces: r.verdict) {
                        try await self.setVerdict(conn, id: r.id, .timeout)
                        change.timedOut.append(r.plain.address)
                        try await self.insertEvent(
                            conn, token: probe.token,
                            LedgerRules.verdictChanged(recipient: r.plain.address, from: r.verdict, to: .timeout),
                            at: now)
                    } else if r.verdict == .delayed {
                        change.stillDelayed.append(r.plain.address)
                    }
                }
                try await conn.rows(
                    "UPDATE probes SET status = 'expired' WHERE token = \(probe.token)", logger: self.logger)
                try await self.insertEvent(conn, token: probe.token, LedgerRules.probeExpired(change), at: now)
                try await self.notify(conn, token: probe.token)
                changes.append(change)
            }
            return changes
        }
    }

    // MARK: - Audit trail

    public func appendEvent(kind: String, token: String?, detailJSON: String, at: Date) async throws -> EventID {
        try LedgerRules.validateEvent(kind: kind, detailJSON: detailJSON)
        return try await transaction { conn in
            let id = try await conn.rows(
                "INSERT INTO events (token, at, kind, detail) VALUES (\(token), \(at), \(kind), \(detailJSON)) RETURNING id",
                logger: self.logger
            ).decode(Int64.self).all()
            guard let id = id.first else { throw LedgerError(.corrupt, "the inserted event got no id") }
            try await self.notify(conn, token: token)
            return EventID(rawValue: id)
        }
    }

    public func events(token: String?, after id: EventID?, limit: Int) async throws -> [LedgerEvent] {
        try await read { conn in
            var sql = Self.eventSelect + " WHERE id > $1"
            var binds = PostgresBindings()
            binds.append(id?.rawValue ?? 0)
            if let token {
                sql += " AND token = $2"
                binds.append(token)
            }
            sql += " ORDER BY id LIMIT \(max(0, limit))"
            return try await self.events(conn, PostgresQuery(unsafeSQL: sql, binds: binds))
        }
    }

    // MARK: - Waiting for changes

    public func revision(token: String?) async throws -> LedgerRevision {
        try await read { conn in try await self.revision(conn, token: token) }
    }

    /// Waits on `LISTEN roundtrip_ledger` (every write transaction notifies
    /// at commit), re-reading the revision on each notification; a slow
    /// re-check every few seconds covers a notification lost with a
    /// connection. Returns nil when `deadline` passes first.
    public func waitForUpdate(token: String?, since revision: LedgerRevision?, until deadline: Date) async throws
        -> LedgerRevision?
    {
        let start: LedgerRevision
        if let revision { start = revision } else { start = try await self.revision(token: token) }
        do {
            return try await client.withConnection { conn in
                try await conn.listen(on: Self.channel) { notifications in
                    let signal = ChangeSignal()
                    return try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            for try await _ in notifications { await signal.bump() }
                        }
                        defer { group.cancelAll() }
                        while true {
                            let generation = await signal.generation
                            let current = try await self.revision(conn, token: token)
                            if current != start { return current }
                            let remaining = deadline.timeIntervalSinceNow
                            if remaining <= 0 { return nil }
                            let nap = min(remaining, 5)
                            let timer = Task {
                                try? await Task.sleep(for: .milliseconds(Int64((nap * 1000).rounded(.up))))
                                await signal.bump()
                            }
                            await signal.wait(past: generation)
                            timer.cancel()
                        }
                    }
                }
            }
        } catch {
            throw translate(error)
        }
    }
}

/// Wakes waiters when a notification (or a timer) arrives.
actor ChangeSignal {
    private(set) var generation = 0
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func bump() {
        generation += 1
        let w = waiters
        waiters = []
        for c in w { c.resume() }
    }

    func wait(past seen: Int) async {
        guard generation == seen else { return }
        await withCheckedContinuation { waiters.append($0) }
    }
}
