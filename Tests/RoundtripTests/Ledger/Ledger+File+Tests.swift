import Foundation
import GRDB
import RoundtripCore
import SMTPCore
import Testing

@testable import Roundtrip

@Suite("Ledger files, sharing and other processes")
struct LedgerFileTests {
    @Test func freshFileIsMigratedPrivateAndInWALMode() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/data/roundtrip/ledger.sqlite"
            let ledger = try await Ledger.open(path: path)
            #expect(ledger.path == path)
            #expect(try posixMode(dir + "/data/roundtrip") == 0o700)
            #expect(try posixMode(path) == 0o600)
            let (tables, migrations, journal, foreignKeys) = try await ledger.dbWriter.read { db in
                (
                    try String.fetchAll(
                        db,
                        sql:
                            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
                    ),
                    try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY identifier"),
                    try String.fetchOne(db, sql: "PRAGMA journal_mode"),
                    try Bool.fetchOne(db, sql: "PRAGMA foreign_keys")
                )
            }
            #expect(tables == ["arrivals", "events", "grdb_migrations", "probes", "recipients", "reports"])
            #expect(migrations == ["v1", "v2", "v3"])
            #expect(journal == "wal")
            #expect(foreignKeys == true)
            try await ledger.recordProbe(newProbe(1))
            #expect(FileManager.default.fileExists(atPath: path + "-wal"))
            #expect(try posixMode(path + "-wal") == 0o600)

            // Reopening migrates nothing and keeps the data.
            let again = try await Ledger.open(path: path)
            #expect(try await again.probe(token: token(1))?.recipients.count == 1)
            let count = try await again.dbWriter.read { db in
                try Int.fetchOne(db, sql: "SELECT count(*) FROM grdb_migrations")
            }
            #expect(count == 3)
        }
    }

    @Test func aLedgerFromANewerVersionIsRefused() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/ledger.sqlite"
            let ledger = try await Ledger.open(path: path)
            try await ledger.dbWriter.write { db in
                try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99')")
            }
            let error = await ledgerError { _ = try await Ledger.open(path: path) }
            #expect(error?.code == .ledgerTooNew)
            #expect(error?.description.contains("newer version of roundtrip") == true)
        }
    }

    @Test func schemaEnforcesItsRules() async throws {
        let ledger = try Ledger.inMemory()
        try await ledger.recordProbe(newProbe(1, recipients: ["a@example.net", "b@example.net"]))
        let id = try await ledger.recordReport(report("r"))
        try await ledger.match(report: id, to: token(1), key: .envelopeID, confidence: .high)
        try await ledger.dbWriter.write { db in
            #expect(throws: DatabaseError.self) {
                try db.execute(sql: "UPDATE recipients SET verdict = 'maybe'")
            }
            #expect(throws: DatabaseError.self) {
                try db.execute(sql: "UPDATE probes SET status = 'lost'")
            }
            #expect(throws: DatabaseError.self) {
                try db.execute(sql: "INSERT INTO recipients (probe_token, address, position) VALUES ('nope', 'x@y', 0)")
            }
            #expect(throws: DatabaseError.self) {
                try db.execute(sql: "UPDATE reports SET raw_path = '/tmp/x'")  // both bytes and a path
            }
            #expect(throws: DatabaseError.self) {
                try db.execute(
                    sql: "INSERT INTO events (at, kind, detail) VALUES ('2027-01-01 00:00:00.000', 'k', '{bad')")
            }
            // Deleting a probe removes its recipients and unmatches its reports.
            try db.execute(sql: "DELETE FROM probes")
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM recipients") == 0)
            #expect(try String?.fetchOne(db, sql: "SELECT matched_token FROM reports") == .some(nil))
        }
    }

    @Test func defaultPathFollowsXDG() throws {
        #expect(
            try Ledger.defaultPath(environment: ["XDG_DATA_HOME": "/x/data", "HOME": "/home/u"])
                == "/x/data/roundtrip/ledger.sqlite")
        #expect(
            try Ledger.defaultPath(environment: ["HOME": "/home/u"]) == "/home/u/.local/share/roundtrip/ledger.sqlite")
        // A relative XDG_DATA_HOME is ignored (XDG Base Directory spec).
        #expect(
            try Ledger.defaultPath(environment: ["XDG_DATA_HOME": "data", "HOME": "/home/u"])
                == "/home/u/.local/share/roundtrip/ledger.sqlite")
        #expect(try Ledger.defaultDirectory(environment: ["HOME": "/home/u"]) == "/home/u/.local/share/roundtrip")
        #expect(throws: LedgerError.self) { try Ledger.defaultPath(environment: [:]) }
    }

    @Test func severalOpenersOfAFreshFileDoNotRace() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/new/ledger.sqlite"
            let ledgers = try await withThrowingTaskGroup(of: Ledger.self) { group in
                for _ in 0..<6 { group.addTask { try await Ledger.open(path: path) } }
                var all: [Ledger] = []
                for try await l in group { all.append(l) }
                return all
            }
            #expect(ledgers.count == 6)
            for (i, l) in ledgers.enumerated() { try await l.recordProbe(newProbe(i)) }
            #expect(try await ledgers[0].listProbes(limit: 10).count == 6)
        }
    }

    @Test func twoPoolsOnOneFileWriteConcurrently() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/ledger.sqlite"
            let a = try await Ledger.open(path: path)
            let b = try await Ledger.open(path: path)
            let recipients = (0..<10).map { "r\($0)@example.net" }
            try await a.recordProbe(newProbe(0, recipients: recipients))
            let perPool = 40
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (n, ledger) in [a, b].enumerated() {
                    for i in 0..<perPool {
                        group.addTask {
                            let k = 1 + n * perPool + i
                            try await ledger.recordProbe(newProbe(k, recipients: ["x@example.net", "y@example.net"]))
                            try await ledger.recordSubmission(
                                token: token(k), recipient: "x@example.net", reply: ok250, accepted: true)
                            try await ledger.appendEvent(kind: "pool.\(n)", token: token(k))
                        }
                    }
                    // Both pools attach reports to recipients of one shared probe.
                    for i in 0..<5 {
                        group.addTask {
                            let id = try await ledger.recordReport(report("report \(n)-\(i)"))
                            _ = try await ledger.attach(
                                report: id, to: token(0), recipient: "r\(n * 5 + i)@example.net",
                                verdict: .delivered, status: "2.0.0", diagnostic: nil,
                                key: .envelopeID, confidence: .high)
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await b.listProbes(limit: 1000).count == 1 + 2 * perPool)
            let shared = try #require(try await a.probe(token: token(0)))
            #expect(shared.recipients.allSatisfy { $0.verdict == .delivered })
            #expect(shared.probe.status == .complete)
            #expect(shared.reports.count == 10)
            let poolEvents = try await a.events(limit: 10_000).filter { $0.kind.hasPrefix("pool.") }
            #expect(poolEvents.count == 2 * perPool)
        }
    }

    // MARK: Other processes

    /// Another process (Python's sqlite3 module, nothing of ours) inserts an
    /// event for the probe while this process waits: the wait must see it.
    @Test func waitForUpdateSeesAWriteFromAnotherProcess() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/ledger.sqlite"
            let ledger = try await Ledger.open(path: path)
            try await ledger.recordProbe(newProbe(1))
            let before = try await ledger.revision(token: token(1))
            let script = """
                import sqlite3, sys, time, datetime
                path, token = sys.argv[1], sys.argv[2]
                time.sleep(0.4)
                con = sqlite3.connect(path, timeout=10)
                now = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]
                con.execute("INSERT INTO events (token, at, kind, detail) VALUES (?, ?, 'external.write', '{\\"by\\":\\"python\\"}')", (token, now))
                con.commit()
                con.close()
                """
            let start = Date()
            async let child = runPython(script, arguments: [path, token(1)])
            let after = try await ledger.waitForUpdate(
                token: token(1), since: before, until: Date().addingTimeInterval(20))
            let waited = Date().timeIntervalSince(start)
            let (status, errors) = try await child
            #expect(status == 0, "python: \(errors)")
            #expect(after != nil)
            #expect(waited >= 0.3)
            let events = try await ledger.events(token: token(1))
            #expect(events.map(\.kind) == ["probe.recorded", "external.write"])
            #expect(events.last?.detail == #"{"by":"python"}"#)
        }
    }

    /// Another process holds the write lock for a second; our write waits
    /// (busy timeout) instead of failing with SQLITE_BUSY, and lands after it.
    @Test func aWriterInAnotherProcessMakesUsWaitNotFail() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/ledger.sqlite"
            let marker = dir + "/locked"
            let ledger = try await Ledger.open(path: path)
            try await ledger.recordProbe(newProbe(1))
            let script = """
                import sqlite3, sys, time
                path, marker = sys.argv[1], sys.argv[2]
                con = sqlite3.connect(path, timeout=10, isolation_level=None)
                con.execute("BEGIN IMMEDIATE")
                con.execute("INSERT INTO events (token, at, kind) VALUES (NULL, '2027-01-01 00:00:00.000', 'external.locked')")
                open(marker, 'w').close()
                time.sleep(1.0)
                con.execute("COMMIT")
                con.close()
                """
            async let child = runPython(script, arguments: [path, marker])
            let deadline = Date().addingTimeInterval(20)
            while !FileManager.default.fileExists(atPath: marker), Date() < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(FileManager.default.fileExists(atPath: marker))
            let start = Date()
            try await ledger.recordSubmission(
                token: token(1), recipient: "alice@example.net", reply: ok250, accepted: true)
            let waited = Date().timeIntervalSince(start)
            let (status, errors) = try await child
            #expect(status == 0, "python: \(errors)")
            #expect(waited >= 0.5)
            let kinds = try await ledger.events().map(\.kind)
            #expect(kinds == ["probe.recorded", "external.locked", "recipient.submission"])
        }
    }
}

/// Runs `python3 -c script arguments...` (Debian's /usr/bin/python3 when
/// present, which scripts/test-env.sh installs) and returns its exit status
/// and stderr.
func runPython(_ script: String, arguments: [String]) async throws -> (Int32, String) {
    let process = Process()
    if FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", script] + arguments
    } else {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script] + arguments
    }
    let errors = Pipe()
    process.standardError = errors
    process.standardOutput = FileHandle.nullDevice
    return try await withCheckedThrowingContinuation { continuation in
        process.terminationHandler = { finished in
            let data = errors.fileHandleForReading.readDataToEndOfFile()
            continuation.resume(returning: (finished.terminationStatus, String(decoding: data, as: UTF8.self)))
        }
        do {
            try process.run()
        } catch {
            continuation.resume(throwing: error)
        }
    }
}
