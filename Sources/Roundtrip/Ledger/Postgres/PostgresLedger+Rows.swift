import Foundation
import Logging
import PostgresNIO
import RoundtripCore

// Reading rows and the helpers that run inside a transaction.
extension PostgresLedger {
    static let probeSelect = """
        SELECT token, created_at, deadline, return_path, envelope_id, message_id, subject, server, mx_tried,
               transcript, dsn_available, status FROM probes
        """
    static let recipientSelect = """
        SELECT id, probe_token, address, position, reply_stage, reply_code, reply_enhanced, reply_text, accepted,
               verdict, status_code, diagnostic, remote_mta, reporting_mta, unconfirmed_reports, report_id,
               reported_at, latency_ms FROM recipients
        """
    static let reportSelect = """
        SELECT id, received_at, source, content_hash, size, raw_path, parsed, kind, forged, matched_token,
               match_key, confidence, matched_at FROM reports
        """
    static let eventSelect = "SELECT id, token, at, kind, detail FROM events"

    struct RecipientRow: Sendable {
        var id: Int64
        var verdict: Verdict
        var plain: LedgerRecipient
    }

    static func binds<T: PostgresDynamicTypeEncodable>(_ value: T) throws -> PostgresBindings {
        var b = PostgresBindings()
        b.append(value)
        return b
    }

    static func decodeEnum<E: RawRepresentable>(_ raw: String, _ what: String) throws -> E where E.RawValue == String {
        guard let v = E(rawValue: raw) else { throw LedgerError(.corrupt, "unknown \(what) \(raw.debugDescription)") }
        return v
    }

    func probes(_ conn: PostgresConnection, _ query: PostgresQuery) async throws -> [LedgerProbe] {
        var out: [LedgerProbe] = []
        for try await row in try await conn.rows(query, logger: logger) {
            let r = row.makeRandomAccess()
            out.append(
                LedgerProbe(
                    token: try r["token"].decode(String.self),
                    createdAt: try r["created_at"].decode(Date.self),
                    deadline: try r["deadline"].decode(Date.self),
                    returnPath: try r["return_path"].decode(String.self),
                    envelopeID: try r["envelope_id"].decode(String.self),
                    messageID: try r["message_id"].decode(String.self),
                    subject: try r["subject"].decode(String.self),
                    server: try r["server"].decode(String?.self),
                    mxTried: try LedgerRules.decodeStrings(try r["mx_tried"].decode(String.self), what: "mx_tried"),
                    transcript: try r["transcript"].decode(String.self),
                    dsnAvailable: try r["dsn_available"].decode(Bool?.self),
                    status: try Self.decodeEnum(try r["status"].decode(String.self), "probe status")))
        }
        return out
    }

    func recipients<T: PostgresDynamicTypeEncodable>(_ conn: PostgresConnection, where condition: String, _ bind: T)
        async throws -> [RecipientRow]
    {
        try await recipients(
            conn,
            PostgresQuery(
                unsafeSQL: Self.recipientSelect + " WHERE \(condition) ORDER BY probe_token, position",
                binds: try Self.binds(bind)))
    }

    func recipients(_ conn: PostgresConnection, _ query: PostgresQuery) async throws -> [RecipientRow] {
        var out: [RecipientRow] = []
        for try await row in try await conn.rows(query, logger: logger) {
            let r = row.makeRandomAccess()
            let verdict: Verdict = try Self.decodeEnum(try r["verdict"].decode(String.self), "verdict")
            let stage: SubmissionStage? = try r["reply_stage"].decode(String?.self).map {
                try Self.decodeEnum($0, "reply stage")
            }
            let plain = LedgerRecipient(
                probeToken: try r["probe_token"].decode(String.self),
                address: try r["address"].decode(String.self),
                position: try r["position"].decode(Int.self),
                replyStage: stage,
                replyCode: try r["reply_code"].decode(Int?.self),
                replyEnhancedCode: try r["reply_enhanced"].decode(String?.self),
                replyText: try r["reply_text"].decode(String?.self),
                accepted: try r["accepted"].decode(Bool?.self),
                verdict: verdict,
                statusCode: try r["status_code"].decode(String?.self),
                diagnostic: try r["diagnostic"].decode(String?.self),
                remoteMTA: try r["remote_mta"].decode(String?.self),
                reportingMTA: try r["reporting_mta"].decode(String?.self),
                unconfirmedReports: try r["unconfirmed_reports"].decode(Int.self),
                reportID: try r["report_id"].decode(Int64?.self).map(ReportID.init(rawValue:)),
                reportedAt: try r["reported_at"].decode(Date?.self),
                latencyMilliseconds: try r["latency_ms"].decode(Int64?.self))
            out.append(RecipientRow(id: try r["id"].decode(Int64.self), verdict: verdict, plain: plain))
        }
        return out
    }

    func reports<T: PostgresDynamicTypeEncodable>(
        _ conn: PostgresConnection, where condition: String, _ bind: T, forUpdate: Bool = false
    ) async throws -> [LedgerReport] {
        var out: [LedgerReport] = []
        let query = PostgresQuery(
            unsafeSQL: Self.reportSelect + " WHERE \(condition) ORDER BY received_at, id"
                + (forUpdate ? " FOR UPDATE" : ""),
            binds: try Self.binds(bind))
        for try await row in try await conn.rows(query, logger: logger) {
            let r = row.makeRandomAccess()
            let key: ReportMatchKey = try Self.decodeEnum(try r["match_key"].decode(String.self), "match key")
            let confidence: MatchConfidence? = try r["confidence"].decode(String?.self).map {
                try Self.decodeEnum($0, "confidence")
            }
            out.append(
                LedgerReport(
                    id: ReportID(rawValue: try r["id"].decode(Int64.self)),
                    receivedAt: try r["received_at"].decode(Date.self),
                    source: try r["source"].decode(String.self),
                    contentHash: try r["content_hash"].decode(String.self),
                    size: Int(try r["size"].decode(Int64.self)),
                    rawPath: try r["raw_path"].decode(String?.self),
                    parsed: try r["parsed"].decode(String?.self),
                    kind: try Self.decodeEnum(try r["kind"].decode(String.self), "report kind"),
                    forged: try r["forged"].decode(Bool.self),
                    matchedToken: try r["matched_token"].decode(String?.self),
                    matchKey: key, confidence: confidence,
                    matchedAt: try r["matched_at"].decode(Date?.self)))
        }
        return out
    }

    func events(_ conn: PostgresConnection, _ query: PostgresQuery) async throws -> [LedgerEvent] {
        var out: [LedgerEvent] = []
        for try await (id, token, at, kind, detail) in try await conn.rows(query, logger: logger).decode(
            (Int64, String?, Date, String, String).self)
        {
            out.append(LedgerEvent(id: EventID(rawValue: id), token: token, at: at, kind: kind, detail: detail))
        }
        return out
    }

    func summaries(_ conn: PostgresConnection, _ probes: [LedgerProbe]) async throws -> [ProbeSummary] {
        guard !probes.isEmpty else { return [] }
        let tokens = probes.map(\.token)
        let rows = try await recipients(conn, where: "probe_token = ANY($1)", tokens)
        let byToken = Dictionary(grouping: rows.map(\.plain), by: \.probeToken)
        return probes.map { ProbeSummary(probe: $0, recipients: byToken[$0.token] ?? []) }
    }

    // MARK: - Inside a transaction

    /// Locks the probe's row until the transaction ends.
    func lockProbe(_ conn: PostgresConnection, token: String) async throws -> LedgerProbe? {
        try await probes(
            conn,
            PostgresQuery(unsafeSQL: Self.probeSelect + " WHERE token = $1 FOR UPDATE", binds: try Self.binds(token))
        ).first
    }

    func fetchRecipient(_ conn: PostgresConnection, token: String, address: String) async throws -> RecipientRow {
        var b = PostgresBindings()
        b.append(token)
        b.append(address)
        let rows = try await recipients(
            conn,
            PostgresQuery(
                unsafeSQL: Self.recipientSelect + " WHERE probe_token = $1 AND lower(address) = lower($2) FOR UPDATE",
                binds: b))
        guard let r = rows.first else {
            throw LedgerError(.unknownRecipient, "probe \(token) has no recipient \(address)")
        }
        return r
    }

    func setVerdict(_ conn: PostgresConnection, id: Int64, _ verdict: Verdict) async throws {
        try await conn.rows("UPDATE recipients SET verdict = \(verdict.rawValue) WHERE id = \(id)", logger: logger)
    }

    /// Marks a report as matched to `token`; keeps the stronger of two matches.
    func link(
        _ conn: PostgresConnection, report: ReportID, to token: String, key: ReportMatchKey,
        confidence: MatchConfidence, at: Date
    ) async throws -> LedgerReport {
        try LedgerRules.validateMatchKey(key)
        guard
            var record = try await reports(conn, where: "id = $1", report.rawValue, forUpdate: true).first
        else {
            throw LedgerError(.unknownReport, "no report \(report)")
        }
        if let matched = record.matchedToken, matched != token {
            throw LedgerError(.conflictingMatch, "report \(report) is already matched to probe \(matched)")
        }
        if LedgerRules.matchIsStronger(
            existing: record.confidence, alreadyMatched: record.matchedToken != nil, offered: confidence)
        {
            try await conn.rows(
                """
                UPDATE reports SET matched_token = \(token), match_key = \(key.rawValue),
                    confidence = \(confidence.rawValue), matched_at = \(at) WHERE id = \(report.rawValue)
                """, logger: logger)
            record.matchedToken = token
            record.matchKey = key
            record.confidence = confidence
            record.matchedAt = at
            try await insertEvent(
                conn, token: token, LedgerRules.reportMatched(report: report, key: key, confidence: confidence), at: at)
        }
        return record
    }

    /// A pending probe whose recipients all have final verdicts is complete.
    func refreshStatus(_ conn: PostgresConnection, token: String, at: Date) async throws -> ProbeStatus {
        let rows = try await conn.rows("SELECT status FROM probes WHERE token = \(token)", logger: logger)
            .decode(String.self).all()
        guard let raw = rows.first else { throw LedgerError(.unknownProbe, "no probe with token \(token)") }
        let status: ProbeStatus = try Self.decodeEnum(raw, "probe status")
        guard status == .pending else { return status }
        let counts = try await conn.rows(
            """
            SELECT count(*), count(*) FILTER (WHERE verdict = ANY(\(LedgerRules.openVerdicts)))
            FROM recipients WHERE probe_token = \(token)
            """, logger: logger
        ).decode((Int64, Int64).self).all()
        let (total, waiting) = counts.first ?? (0, 0)
        if total > 0, waiting == 0 {
            try await conn.rows("UPDATE probes SET status = 'complete' WHERE token = \(token)", logger: logger)
            try await insertEvent(conn, token: token, LedgerRules.probeCompleted, at: at)
            return .complete
        }
        return status
    }

    func insertEvent(_ conn: PostgresConnection, token: String?, _ e: LedgerRules.Event, at: Date) async throws {
        let detail = try LedgerRules.jsonText(e.detail)
        try await conn.rows(
            "INSERT INTO events (token, at, kind, detail) VALUES (\(token), \(at), \(e.kind), \(detail))",
            logger: logger)
    }

    /// Delivered to `LISTEN roundtrip_ledger` sessions when the transaction commits.
    func notify(_ conn: PostgresConnection, token: String?) async throws {
        try await conn.rows("SELECT pg_notify(\(Self.channel), \(token ?? ""))", logger: logger)
    }

    func revision(_ conn: PostgresConnection, token: String?) async throws -> LedgerRevision {
        let rows: [String]
        if let token {
            rows = try await conn.rows(
                """
                SELECT coalesce((SELECT status || '/' || coalesce(server, '') FROM probes WHERE token = \(token)), '-')
                    || '|' || coalesce((SELECT string_agg(id || ':' || verdict || ':' || coalesce(report_id::text, '')
                        || ':' || coalesce(accepted::text, '') || ':' || coalesce(reply_code::text, ''), ',' ORDER BY id)
                        FROM recipients WHERE probe_token = \(token)), '')
                    || '|' || (SELECT coalesce(max(id), 0) FROM events WHERE token = \(token))
                    || '|' || (SELECT count(*) FROM reports WHERE matched_token = \(token))
                """, logger: logger
            ).decode(String.self).all()
        } else {
            rows = try await conn.rows(PostgresQuery(unsafeSQL: LedgerRules.ledgerRevisionSQL), logger: logger)
                .decode(String.self).all()
        }
        return LedgerRevision(value: rows.first ?? "")
    }
}

extension PostgresConnection {
    /// `query` under a name of its own: the async overload, never the EventLoopFuture one.
    @discardableResult
    func rows(_ query: PostgresQuery, logger: Logger) async throws -> PostgresRowSequence {
        try await self.query(query, logger: logger)
    }
}

extension AsyncSequence where Self: Sendable {
    /// Every element (the ledger's result sets are small: one probe, one page).
    func all() async throws -> [Element] {
        var out: [Element] = []
        for try await e in self { out.append(e) }
        return out
    }
}
