import Foundation
import GRDB
import RoundtripCore

/// The probe seen in a recipient's mailbox (`verify --arrival`), as the
/// ledger keeps it.
public struct LedgerArrival: Sendable, Hashable {
    public var evidence: ArrivalEvidence
    /// false for `verify --no-report` (a pure mailbox loop).
    public var reportExpected: Bool
}

extension Ledger {
    /// v3: `arrivals`, one row per probe recipient, beside the recipient's
    /// report verdict (which stays what the reports made it). `StatusQuery`
    /// applies `VerdictRules.arrival` to both when reading, as `RunTracker`
    /// does in memory, so `status` and `verify` say the same.
    static func registerArrivalMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v3") { db in
            try db.execute(
                sql: """
                    CREATE TABLE arrivals (
                        id              INTEGER PRIMARY KEY AUTOINCREMENT,
                        probe_token     TEXT NOT NULL REFERENCES probes(token) ON DELETE CASCADE,
                        address         TEXT NOT NULL COLLATE NOCASE,
                        report_expected BOOLEAN NOT NULL CHECK (report_expected IN (0, 1)),
                        folder          TEXT NOT NULL,
                        junk            BOOLEAN NOT NULL CHECK (junk IN (0, 1)),
                        arrived_at      DATETIME NOT NULL,
                        evidence        TEXT NOT NULL CHECK (json_valid(evidence)),
                        UNIQUE (probe_token, address)
                    );
                    """)
        }
    }

    /// Records the first arrival for a recipient of `token` (and an event);
    /// false when one was recorded already.
    @discardableResult
    public func recordArrival(token: String, evidence e: ArrivalEvidence, reportExpected: Bool) async throws -> Bool {
        let json = String(decoding: try JSONEncoder().encode(e), as: UTF8.self)
        return try await dbWriter.write { db in
            guard try ProbeRecord.exists(db, key: token) else {
                throw LedgerError(.unknownProbe, "no probe with token \(token)")
            }
            try db.execute(
                sql: """
                    INSERT OR IGNORE INTO arrivals (probe_token, address, report_expected, folder, junk, arrived_at, evidence)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [token, e.address, reportExpected, e.folder, e.junk, e.arrivedAt, json])
            guard db.changesCount > 0 else { return false }
            try Self.insertEvent(db, token: token, LedgerRules.arrival(e), at: e.observedAt)
            return true
        }
    }

    /// The arrivals recorded for `token`, by recipient.
    public func arrivals(token: String) async throws -> [LedgerArrival] {
        try await dbWriter.read { db in try Self.arrivals(db, token: token) }
    }

    static func arrivals(_ db: Database, token: String) throws -> [LedgerArrival] {
        let rows = try Row.fetchAll(
            db, sql: "SELECT evidence, report_expected FROM arrivals WHERE probe_token = ? ORDER BY id",
            arguments: [token])
        return try rows.map { row in
            let text: String = row["evidence"]
            return LedgerArrival(
                evidence: try JSONDecoder().decode(ArrivalEvidence.self, from: Data(text.utf8)),
                reportExpected: row["report_expected"])
        }
    }
}
