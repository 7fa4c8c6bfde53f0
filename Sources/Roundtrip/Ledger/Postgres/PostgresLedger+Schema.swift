import Foundation
import Logging
import PostgresNIO

/// The PostgreSQL schema: the SQLite migrations (`Ledger.migrator`) mirrored
/// under the same frozen names, applied in one transaction under an advisory
/// lock so hosts that start at the same moment do not race. A change is a new
/// named migration here and in `Ledger+Migrations.swift`, never an edit.
extension PostgresLedger {
    /// `pg_advisory_xact_lock` key of the migrations (any constant; "rtledger" in ASCII).
    static let migrationLockKey: Int64 = 0x7274_6c65_6467_6572

    static let migrations: [(name: String, sql: String)] = [
        (
            "v1",
            """
            CREATE TABLE probes (
                token         TEXT NOT NULL PRIMARY KEY CHECK (length(token) > 0),
                created_at    TIMESTAMPTZ NOT NULL,
                deadline      TIMESTAMPTZ NOT NULL,
                return_path   TEXT NOT NULL,
                envelope_id   TEXT NOT NULL,
                message_id    TEXT NOT NULL,
                subject       TEXT NOT NULL,
                server        TEXT,
                mx_tried      TEXT NOT NULL DEFAULT '[]' CHECK ((mx_tried::jsonb) IS NOT NULL),
                transcript    TEXT NOT NULL DEFAULT '[]' CHECK ((transcript::jsonb) IS NOT NULL),
                dsn_available BOOLEAN,
                status        TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'complete', 'expired')),
                CHECK (deadline >= created_at)
            );
            CREATE INDEX probes_status_deadline ON probes(status, deadline);
            CREATE INDEX probes_created_at ON probes(created_at);

            CREATE TABLE reports (
                id            BIGSERIAL PRIMARY KEY,
                received_at   TIMESTAMPTZ NOT NULL,
                source        TEXT NOT NULL,
                content_hash  TEXT NOT NULL UNIQUE CHECK (length(content_hash) = 64),
                size          BIGINT NOT NULL CHECK (size >= 0),
                raw           BYTEA,
                raw_path      TEXT,
                parsed        TEXT CHECK (parsed IS NULL OR (parsed::jsonb) IS NOT NULL),
                kind          TEXT NOT NULL CHECK (kind IN ('report', 'not-a-report')),
                forged        BOOLEAN NOT NULL DEFAULT false,
                matched_token TEXT REFERENCES probes(token) ON DELETE SET NULL,
                match_key     TEXT NOT NULL DEFAULT 'none' CHECK (match_key IN
                    ('envelope-rcpt', 'delivered-to', 'envid', 'recipient', 'returned-headers', 'text', 'none')),
                confidence    TEXT CHECK (confidence IN ('high', 'medium', 'low')),
                matched_at    TIMESTAMPTZ,
                CHECK ((raw IS NULL) <> (raw_path IS NULL))
            );
            CREATE INDEX reports_matched_token ON reports(matched_token);

            CREATE TABLE recipients (
                id              BIGSERIAL PRIMARY KEY,
                probe_token     TEXT NOT NULL REFERENCES probes(token) ON DELETE CASCADE,
                address         TEXT NOT NULL,
                position        INTEGER NOT NULL CHECK (position >= 0),
                reply_stage     TEXT CHECK (reply_stage IN ('rcpt', 'data')),
                reply_code      INTEGER CHECK (reply_code BETWEEN 200 AND 599),
                reply_enhanced  TEXT,
                reply_text      TEXT,
                accepted        BOOLEAN,
                verdict         TEXT NOT NULL DEFAULT 'pending' CHECK (verdict IN
                    ('delivered', 'relayed', 'expanded', 'delayed', 'failed', 'rejected', 'dsn-unavailable', 'timeout', 'pending')),
                status_code     TEXT,
                diagnostic      TEXT,
                remote_mta      TEXT,
                report_id       BIGINT REFERENCES reports(id) ON DELETE SET NULL,
                reported_at     TIMESTAMPTZ,
                latency_ms      BIGINT,
                UNIQUE (probe_token, position)
            );
            -- SQLite's COLLATE NOCASE: reports often change the case.
            CREATE UNIQUE INDEX recipients_probe_address ON recipients(probe_token, lower(address));
            CREATE INDEX recipients_report_id ON recipients(report_id);

            -- The audit trail outlives probes and may name tokens that were
            -- never ours (forged reports), so `token` is not a foreign key.
            CREATE TABLE events (
                id     BIGSERIAL PRIMARY KEY,
                token  TEXT,
                at     TIMESTAMPTZ NOT NULL,
                kind   TEXT NOT NULL CHECK (length(kind) > 0),
                detail TEXT NOT NULL DEFAULT '{}' CHECK ((detail::jsonb) IS NOT NULL)
            );
            CREATE INDEX events_token ON events(token, id);
            """
        ),
        (
            "v2",
            """
            ALTER TABLE recipients ADD COLUMN reporting_mta TEXT;
            ALTER TABLE recipients ADD COLUMN unconfirmed_reports INTEGER NOT NULL DEFAULT 0 CHECK (unconfirmed_reports >= 0);
            """
        ),
        arrivalMigration,
    ]

    /// Applies the missing migrations; refuses a database migrated by a newer roundtrip.
    static func migrate(_ conn: PostgresConnection, logger: Logger, location: String) async throws {
        try await conn.rows("SELECT pg_advisory_xact_lock(\(migrationLockKey))", logger: logger)
        try await conn.rows(
            """
            CREATE TABLE IF NOT EXISTS roundtrip_migrations (
                name       TEXT PRIMARY KEY,
                applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
            )
            """, logger: logger)
        var applied: Set<String> = []
        for try await name in try await conn.rows("SELECT name FROM roundtrip_migrations", logger: logger)
            .decode(String.self)
        {
            applied.insert(name)
        }
        let known = Set(migrations.map(\.name))
        guard applied.isSubset(of: known) else {
            throw LedgerError(
                .ledgerTooNew,
                "\(location) was written by a newer version of roundtrip; upgrade roundtrip to use it")
        }
        for m in migrations where !applied.contains(m.name) {
            // One statement at a time (the extended protocol takes one); no statement holds a ";".
            for statement in m.sql.split(separator: ";") {
                let text = statement.trimmingCharacters(in: .whitespacesAndNewlines)
                let code = text.split(separator: "\n").filter {
                    !$0.trimmingCharacters(in: .whitespaces).hasPrefix("--")
                }
                guard !code.isEmpty else { continue }
                try await conn.rows(PostgresQuery(unsafeSQL: text), logger: logger)
            }
            try await conn.rows("INSERT INTO roundtrip_migrations (name) VALUES (\(m.name))", logger: logger)
        }
    }
}
