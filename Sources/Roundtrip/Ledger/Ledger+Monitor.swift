import Foundation
import GRDB
import RoundtripCore

/// A monitor probe read back for the status page: which route sent it and what its
/// recipients came to.
public struct MonitorProbeRecord: Sendable, Hashable {
    public var route: String
    public var token: String
    public var createdAt: Date
    public var status: ProbeStatus
    /// In RCPT order.
    public var verdicts: [Verdict]
    public var roundTripSeconds: [Double?]
    /// The monitor stopped while the probe was waiting (`monitor.interrupted`).
    public var interrupted: Bool
}

/// What `pruneMonitor(before:)` removed.
public struct LedgerPruneCount: Sendable, Hashable {
    public var probes: Int
    public var reports: Int
    public var events: Int
}

/// The ledger as `roundtrip monitor` uses it beyond `verify`'s records: which route a probe
/// belongs to (an event, so the schema stays as it is), the history the status page draws
/// (`monitorHistory`, a `LedgerStore` requirement), and the pruning that keeps a standing
/// monitor's ledger from growing without end (`pruneMonitor`).
public enum MonitorEvents {
    public static let route = "monitor.route"
    public static let interrupted = "monitor.interrupted"

    /// Folds rows of (route, token, created, status, verdict, latency ms, interrupted), ordered
    /// by creation, token and recipient position, into one record per probe (both backends).
    static func records(
        _ rows: [(
            route: String?, token: String, createdAt: Date, status: String, verdict: String, latencyMs: Int64?,
            interrupted: Bool
        )]
    ) -> [MonitorProbeRecord] {
        var out: [MonitorProbeRecord] = []
        for row in rows {
            let verdict = Verdict(rawValue: row.verdict) ?? .pending
            let latency = row.latencyMs.map { Double($0) / 1000 }
            if let last = out.last, last.token == row.token {
                out[out.count - 1].verdicts.append(verdict)
                out[out.count - 1].roundTripSeconds.append(latency)
                continue
            }
            guard let route = row.route else { continue }
            out.append(
                MonitorProbeRecord(
                    route: route, token: row.token, createdAt: row.createdAt,
                    status: ProbeStatus(rawValue: row.status) ?? .pending, verdicts: [verdict],
                    roundTripSeconds: [latency], interrupted: row.interrupted))
        }
        return out
    }
}

extension LedgerStore {
    /// Names the route a probe belongs to; recorded before the probe itself.
    public func recordMonitorRoute(token: String, route: String, at: Date = Date()) async throws {
        try await appendEvent(kind: MonitorEvents.route, token: token, detail: ["route": route], at: at)
    }

    /// The monitor stopped while this probe was still waiting for its reports.
    public func recordMonitorInterrupted(token: String, at: Date = Date()) async throws {
        try await appendEvent(kind: MonitorEvents.interrupted, token: token, detail: [String: String](), at: at)
    }
}

extension Ledger {
    /// Monitor probes created at or after `since`, oldest first.
    public func monitorHistory(since: Date) async throws -> [MonitorProbeRecord] {
        try await dbWriter.read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT json_extract(e.detail, '$.route') AS route, p.token, p.created_at, p.status,
                           r.verdict, r.latency_ms,
                           EXISTS (SELECT 1 FROM events i WHERE i.token = p.token AND i.kind = ?) AS interrupted
                    FROM events e
                    JOIN probes p ON p.token = e.token
                    JOIN recipients r ON r.probe_token = p.token
                    WHERE e.kind = ? AND p.created_at >= ?
                    ORDER BY p.created_at, p.token, r.position
                    """,
                arguments: [MonitorEvents.interrupted, MonitorEvents.route, since])
            return MonitorEvents.records(
                rows.map {
                    (
                        $0["route"], $0["token"], $0["created_at"], $0["status"], $0["verdict"], $0["latency_ms"],
                        $0["interrupted"]
                    )
                })
        }
    }

    /// Deletes probes created before `cutoff` (their recipients with them), reports received
    /// before it, and events older than it, in one transaction.
    @discardableResult
    public func pruneMonitor(before cutoff: Date) async throws -> LedgerPruneCount {
        try await dbWriter.write { db in
            try db.execute(
                sql: "DELETE FROM recipients WHERE probe_token IN (SELECT token FROM probes WHERE created_at < ?)",
                arguments: [cutoff])
            try db.execute(sql: "DELETE FROM probes WHERE created_at < ?", arguments: [cutoff])
            let probes = db.changesCount
            try db.execute(sql: "DELETE FROM reports WHERE received_at < ?", arguments: [cutoff])
            let reports = db.changesCount
            try db.execute(sql: "DELETE FROM events WHERE at < ?", arguments: [cutoff])
            let events = db.changesCount
            return LedgerPruneCount(probes: probes, reports: reports, events: events)
        }
    }
}
