import Foundation
import PostgresNIO
import RoundtripCore

/// `v3` (`arrivals`) on PostgreSQL: the same table and rules as `Ledger+Arrival.swift`.
extension PostgresLedger {
    static let arrivalMigration = (
        name: "v3",
        sql: """
        CREATE TABLE arrivals (
            id              BIGSERIAL PRIMARY KEY,
            probe_token     TEXT NOT NULL REFERENCES probes(token) ON DELETE CASCADE,
            address         TEXT NOT NULL,
            report_expected BOOLEAN NOT NULL,
            folder          TEXT NOT NULL,
            junk            BOOLEAN NOT NULL,
            arrived_at      TIMESTAMPTZ NOT NULL,
            evidence        TEXT NOT NULL CHECK ((evidence::jsonb) IS NOT NULL)
        );
        CREATE UNIQUE INDEX arrivals_recipient ON arrivals(probe_token, lower(address))
        """
    )

    @discardableResult
    public func recordArrival(token: String, evidence e: ArrivalEvidence, reportExpected: Bool) async throws -> Bool {
        let json = String(decoding: try JSONEncoder().encode(e), as: UTF8.self)
        return try await transaction { conn in
            let exists = try await conn.rows(
                "SELECT token FROM probes WHERE token = \(token) FOR UPDATE", logger: self.logger
            ).decode(String.self).all()
            guard !exists.isEmpty else { throw LedgerError(.unknownProbe, "no probe with token \(token)") }
            let inserted = try await conn.rows(
                """
                INSERT INTO arrivals (probe_token, address, report_expected, folder, junk, arrived_at, evidence)
                VALUES (\(token), \(e.address), \(reportExpected), \(e.folder), \(e.junk), \(e.arrivedAt), \(json))
                ON CONFLICT DO NOTHING RETURNING id
                """, logger: self.logger
            ).decode(Int64.self).all()
            guard !inserted.isEmpty else { return false }
            try await self.insertEvent(conn, token: token, LedgerRules.arrival(e), at: e.observedAt)
            try await self.notify(conn, token: token)
            return true
        }
    }

    public func arrivals(token: String) async throws -> [LedgerArrival] {
        try await read { conn in try await self.arrivals(conn, token: token) }
    }

    func arrivals(_ conn: PostgresConnection, token: String) async throws -> [LedgerArrival] {
        var out: [LedgerArrival] = []
        for try await (text, expected) in try await conn.rows(
            "SELECT evidence, report_expected FROM arrivals WHERE probe_token = \(token) ORDER BY id",
            logger: logger
        ).decode((String, Bool).self) {
            out.append(
                LedgerArrival(
                    evidence: try JSONDecoder().decode(ArrivalEvidence.self, from: Data(text.utf8)),
                    reportExpected: expected))
        }
        return out
    }
}
