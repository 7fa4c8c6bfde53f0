import GRDB

extension Ledger {
    /// The ledger's schema. Migrations are named strings, frozen once
    /// shipped: a change is a new migration ("v2", ...), never an edit.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE probes (
                        token         TEXT NOT NULL PRIMARY KEY,
                        created_at    DATETIME NOT NULL,
                        deadline      DATETIME NOT NULL,
                        return_path   TEXT NOT NULL,
                        envelope_id   TEXT NOT NULL,
                        message_id    TEXT NOT NULL,
                        subject       TEXT NOT NULL,
                        server        TEXT,
                        mx_tried      TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(mx_tried)),
                        transcript    TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(transcript)),
                        dsn_available BOOLEAN CHECK (dsn_available IN (0, 1)),
                        status        TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'complete', 'expired')),
                        CHECK (length(token) > 0),
                        CHECK (deadline >= created_at)
                    );
                    CREATE INDEX probes_status_deadline ON probes(status, deadline);
                    CREATE INDEX probes_created_at ON probes(created_at);

                    CREATE TABLE reports (
                        id            INTEGER PRIMARY KEY AUTOINCREMENT,
                        received_at   DATETIME NOT NULL,
                        source        TEXT NOT NULL,
                        content_hash  TEXT NOT NULL UNIQUE CHECK (length(content_hash) = 64),
                        size          INTEGER NOT NULL CHECK (size >= 0),
                        raw           BLOB,
                        raw_path      TEXT,
                        parsed        TEXT CHECK (parsed IS NULL OR json_valid(parsed)),
                        kind          TEXT NOT NULL CHECK (kind IN ('report', 'not-a-report')),
                        forged        BOOLEAN NOT NULL DEFAULT 0 CHECK (forged IN (0, 1)),
                        matched_token TEXT REFERENCES probes(token) ON DELETE SET NULL,
                        match_key     TEXT NOT NULL DEFAULT 'none' CHECK (match_key IN
                            ('envelope-rcpt', 'delivered-to', 'envid', 'recipient', 'returned-headers', 'text', 'none')),
                        confidence    TEXT CHECK (confidence IN ('high', 'medium', 'low')),
                        matched_at    DATETIME,
                        CHECK ((raw IS NULL) <> (raw_path IS NULL))
                    );
                    CREATE INDEX reports_matched_token ON reports(matched_token);

                    CREATE TABLE recipients (
                        id              INTEGER PRIMARY KEY AUTOINCREMENT,
                        probe_token     TEXT NOT NULL REFERENCES probes(token) ON DELETE CASCADE,
                        address         TEXT NOT NULL COLLATE NOCASE,
                        position        INTEGER NOT NULL CHECK (position >= 0),
                        reply_stage     TEXT CHECK (reply_stage IN ('rcpt', 'data')),
                        reply_code      INTEGER CHECK (reply_code BETWEEN 200 AND 599),
                        reply_enhanced  TEXT,
                        reply_text      TEXT,
                        accepted        BOOLEAN CHECK (accepted IN (0, 1)),
                        verdict         TEXT NOT NULL DEFAULT 'pending' CHECK (verdict IN
                            ('delivered', 'relayed', 'expanded', 'delayed', 'failed', 'rejected', 'dsn-unavailable', 'timeout', 'pending')),
                        status_code     TEXT,
                        diagnostic      TEXT,
                        remote_mta      TEXT,
                        report_id       INTEGER REFERENCES reports(id) ON DELETE SET NULL,
                        reported_at     DATETIME,
                        latency_ms      INTEGER,
                        UNIQUE (probe_token, address),
                        UNIQUE (probe_token, position)
                    );
                    CREATE INDEX recipients_report_id ON recipients(report_id);

                    -- The audit trail outlives probes and may name tokens that were
                    -- never ours (forged reports), so `token` is not a foreign key.
                    CREATE TABLE events (
                        id     INTEGER PRIMARY KEY AUTOINCREMENT,
                        token  TEXT,
                        at     DATETIME NOT NULL,
                        kind   TEXT NOT NULL CHECK (length(kind) > 0),
                        detail TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(detail))
                    );
                    CREATE INDEX events_token ON events(token, id);
                    """)
        }
        // Only token-authenticated reports decide verdicts; reports that named a
        // recipient by address alone are counted as unconfirmed evidence. The
        // reporting MTA is kept so `status` words the verdict as `verify` does.
        migrator.registerMigration("v2") { db in
            try db.execute(
                sql: """
                    ALTER TABLE recipients ADD COLUMN reporting_mta TEXT;
                    ALTER TABLE recipients ADD COLUMN unconfirmed_reports INTEGER NOT NULL DEFAULT 0 CHECK (unconfirmed_reports >= 0);
                    """)
        }
        registerArrivalMigration(&migrator)
        return migrator
    }
}
