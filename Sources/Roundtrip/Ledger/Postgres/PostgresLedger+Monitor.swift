import Foundation
import PostgresNIO
import RoundtripCore

/// `roundtrip monitor`'s history and pruning on PostgreSQL (`Ledger+Monitor.swift` for SQLite).
extension PostgresLedger {
    public func monitorHistory(since: Date) async throws -> [MonitorProbeRecord] {
        try await read { conn in
            var rows:
                [(
                    route: String?, token: String, createdAt: Date, status: String, verdict: String, latencyMs: Int64?,
                    interrupted: Bool
                )] = []
            let query: PostgresQuery = """
                SELECT (e.detail::jsonb)->>'route', p.token, p.created_at, p.status, r.verdict, r.latency_ms,
                       EXISTS (SELECT 1 FROM events i WHERE i.token = p.token AND i.kind = \(MonitorEvents.interrupted))
                FROM events e
                JOIN probes p ON p.token = e.token
                JOIN recipients r ON r.probe_token = p.token
                WHERE e.kind = \(MonitorEvents.route) AND p.created_at >= \(since)
                ORDER BY p.created_at, p.token, r.position
                """
            for try await row in try await conn.rows(query, logger: self.logger)
                .decode((String?, String, Date, String, String, Int64?, Bool).self)
            {
                rows.append(row)
            }
            return MonitorEvents.records(rows)
        }
    }

    @discardableResult
    public func pruneMonitor(before cutoff: Date) async throws -> LedgerPruneCount {
        try await transaction { conn in
            func count(_ query: PostgresQuery) async throws -> Int {
                try await conn.rows(query, logger: self.logger).decode(Int64.self).all().count
            }
            try await conn.rows(
                "DELETE FROM arrivals WHERE probe_token IN (SELECT token FROM probes WHERE created_at < \(cutoff))",
                logger: self.logger)
            try await conn.rows(
                "DELETE FROM recipients WHERE probe_token IN (SELECT token FROM probes WHERE created_at < \(cutoff))",
                logger: self.logger)
            let probes = try await count("DELETE FROM probes WHERE created_at < \(cutoff) RETURNING 1::BIGINT")
            let reports = try await count("DELETE FROM reports WHERE received_at < \(cutoff) RETURNING 1::BIGINT")
            let events = try await count("DELETE FROM events WHERE at < \(cutoff) RETURNING 1::BIGINT")
            return LedgerPruneCount(probes: probes, reports: reports, events: events)
        }
    }
}
