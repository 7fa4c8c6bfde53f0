import Foundation
import Testing

/// The PostgreSQL server of `scripts/test-env-pg.sh` (ROUNDTRIP_PG_URL,
/// ROUNDTRIP_PG_PASSWORD_FILE, ROUNDTRIP_PG_BIN, also read from
/// $ROUNDTRIP_TEST_DIR/env-pg.sh), and throw-away servers of a test's own.
enum PGEnv {
    static let values: [String: String] = {
        var env = ProcessInfo.processInfo.environment
        let dir = env["ROUNDTRIP_TEST_DIR"] ?? "/tmp/roundtrip-test-env"
        if let text = try? String(contentsOfFile: dir + "/env-pg.sh", encoding: .utf8) {
            for line in text.split(separator: "\n") where line.hasPrefix("export ") {
                let pair = line.dropFirst("export ".count).split(separator: "=", maxSplits: 1)
                guard pair.count == 2, env[String(pair[0])] == nil else { continue }
                env[String(pair[0])] = String(pair[1]).trimmingCharacters(in: CharacterSet(charactersIn: "'"))
            }
        }
        return env
    }()

    static var url: String { values["ROUNDTRIP_PG_URL"] ?? "" }
    static var passwordFile: String { values["ROUNDTRIP_PG_PASSWORD_FILE"] ?? "" }
    static var bin: String { values["ROUNDTRIP_PG_BIN"] ?? "/usr/lib/postgresql/15/bin" }
    static var password: String {
        ((try? String(contentsOfFile: passwordFile, encoding: .utf8)) ?? "").trimmingCharacters(
            in: .whitespacesAndNewlines)
    }

    /// `url` with another database.
    static func url(database: String, host: String? = nil, port: Int? = nil) -> String {
        var c = URLComponents(string: url)!
        c.path = "/" + database
        if let host { c.host = host }
        if let port { c.port = port }
        return c.string!
    }

    /// psql against the shared server's own database; returns the unaligned output.
    static func psql(_ sql: String, database: String? = nil, url: String? = nil) async throws -> String {
        let target = url ?? (database.map { Self.url(database: $0) } ?? Self.url)
        let (status, out) = try await runTool(
            "/usr/bin/env", ["PGPASSWORD=\(password)", "psql", target, "-qAt", "-v", "ON_ERROR_STOP=1", "-c", sql])
        guard status == 0 else { throw ListenerProcessError(message: "psql failed: \(out)") }
        return out
    }

    static func createDatabase() async throws -> String {
        let name = "rt_it_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        _ = try await psql("CREATE DATABASE \(name)")
        return name
    }

    static func dropDatabase(_ name: String) async {
        _ = try? await psql("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }
}

/// A PostgreSQL server of the test's own (initdb into a temporary directory,
/// run as the `postgres` user), so a test can stop and start it.
final class OwnPostgres {
    let directory: String
    let port: Int
    var data: String { directory + "/data" }
    let netns: String?

    init(listen: String = "127.0.0.1", netns: String? = nil) async throws {
        self.netns = netns
        directory = "/tmp/roundtrip-pg-\(UUID().uuidString.prefix(8).lowercased())"
        port = Int.random(in: 20000...29000)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try await Self.sh("chown postgres: \(directory) && chmod 700 \(directory)")
        try await Self.sh(
            "runuser -u postgres -- \(PGEnv.bin)/initdb -D \(data) -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null"
        )
        let conf = """
            listen_addresses = '\(listen)'
            port = \(port)
            unix_socket_directories = '\(directory)'
            fsync = off
            """
        try conf.write(toFile: data + "/postgresql.auto.conf", atomically: true, encoding: .utf8)
        try "local all all trust\nhost all all 0.0.0.0/0 trust\n".write(
            toFile: data + "/pg_hba.conf", atomically: true, encoding: .utf8)
        try await Self.sh("chown postgres: \(data)/postgresql.auto.conf \(data)/pg_hba.conf")
        try await start()
        try await Self.sh(
            "runuser -u postgres -- psql -h \(directory) -p \(port) -U postgres -qAt -c 'CREATE DATABASE roundtrip'")
    }

    var prefix: String { netns.map { "ip netns exec \($0) " } ?? "" }

    func start() async throws {
        try await Self.sh(
            "\(prefix)runuser -u postgres -- \(PGEnv.bin)/pg_ctl -D \(data) -l \(directory)/log -w -t 60 start >/dev/null"
        )
    }

    func stop() async throws {
        try await Self.sh("runuser -u postgres -- \(PGEnv.bin)/pg_ctl -D \(data) -m fast -w -t 60 stop >/dev/null")
    }

    func remove() async {
        _ = try? await Self.sh(
            "runuser -u postgres -- \(PGEnv.bin)/pg_ctl -D \(data) -m immediate -w stop >/dev/null 2>&1; rm -rf \(directory)"
        )
    }

    func url(host: String = "127.0.0.1") -> String { "postgres://postgres@\(host):\(port)/roundtrip?sslmode=disable" }

    func psql(_ sql: String) async throws -> String {
        let (status, out) = try await runTool(
            "/usr/bin/env",
            [
                "runuser", "-u", "postgres", "--", "psql", "-h", directory, "-p", String(port), "-U", "postgres", "-d",
                "roundtrip",
                "-qAt", "-c", sql,
            ])
        guard status == 0 else { throw ListenerProcessError(message: "psql failed: \(out)") }
        return out
    }

    /// Runs `command` in bash with every inherited descriptor above 2 closed
    /// first: a server it starts must not keep one of Foundation's open, or
    /// `Process` never sees the shell exit.
    @discardableResult
    static func sh(_ command: String) async throws -> String {
        let closeInherited =
            #"for f in /proc/$$/fd/*; do n=${f##*/}; [ "$n" -gt 2 ] && eval "exec $n>&-"; done 2>/dev/null; "#
        let (status, out) = try await runTool("/bin/bash", ["-c", closeInherited + command], timeout: 120)
        guard status == 0 else { throw ListenerProcessError(message: "`\(command)` failed (\(status)): \(out)") }
        return out
    }
}

/// Waits (polling every 0.5 s, up to `limit` seconds) until `check` is true.
func eventually(_ limit: TimeInterval, _ check: () async throws -> Bool) async throws -> Bool {
    let end = Date().addingTimeInterval(limit)
    while Date() < end {
        if try await check() { return true }
        try await Task.sleep(for: .milliseconds(500))
    }
    return try await check()
}

/// The verdict the simulator's local part must give (see `roundtrip simulate --help`).
let simulatedVerdicts: [(local: String, verdict: String)] = [
    ("success", "delivered"), ("unknown", "failed"), ("relay", "relayed"), ("reject", "rejected"),
]

@Suite(
    .enabled(if: TestEnv.enabled, "needs PostgreSQL of scripts/test-env-pg.sh (ROUNDTRIP_INTEGRATION=1)"), .serialized)
struct PostgresLedgerTests {
    /// Issue 14: 4 `send` processes and 2 `listen --ledger` processes on one
    /// PostgreSQL ledger, 200 probes through the simulator: every probe gets
    /// exactly the verdict its recipient asked the simulator for.
    @Test func fourSendersTwoListenersTwoHundredProbes() async throws {
        let db = try await PGEnv.createDatabase()
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("roundtrip-pgmp-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let ledger = PGEnv.url(database: db)
        let common = ["--ledger", ledger, "--ledger-password-file", PGEnv.passwordFile, "--key-dir", work + "/key"]
        var listeners: [ListenerProcess] = []
        defer {
            for l in listeners {
                l.terminate()
                l.removeFiles()
            }
        }
        for domain in ["r1.rt.test", "r2.rt.test"] {
            // Every report comes from the one simulator on 127.0.0.1: room for all its connections.
            listeners.append(
                try await ListenerProcess.start(
                    domain: domain, extra: common + ["--max-per-client", "400", "--max-connections", "400"]))
        }
        let sim = try await SimulatorProcess.start([
            "--bind", "127.0.0.1:0", "--domain", "sim.test", "--route", "r1.rt.test=127.0.0.1:\(listeners[0].port)",
            "--route", "r2.rt.test=127.0.0.1:\(listeners[1].port)", "--no-tls",
        ])
        defer {
            sim.terminate()
            sim.removeFiles()
        }
        let probes = 200
        let senders = 4
        let server = "127.0.0.1:\(sim.port)"
        let failures = try await withThrowingTaskGroup(of: [String].self) { group in
            for s in 0..<senders {
                group.addTask {
                    var failed: [String] = []
                    for i in stride(from: s, to: probes, by: senders) {
                        let local = simulatedVerdicts[i % simulatedVerdicts.count].local
                        let r = try await roundtrip(
                            [
                                "send", "--to", "\(local)+p\(i)@sim.test", "--from", "rt@r\(i % 2 + 1).rt.test",
                                "--server", server, "--deadline", "10m", "--format", "json",
                            ] + common, timeout: 120)
                        if ![0, 1].contains(r.status) { failed.append("probe \(i): \(r.status) \(r.stderr)") }
                    }
                    return failed
                }
            }
            var all: [String] = []
            for try await f in group { all += f }
            return all
        }
        #expect(failures.isEmpty, "\(failures.prefix(5))")
        let complete = try await eventually(240) {
            try await PGEnv.psql("SELECT count(*) FROM recipients WHERE verdict = 'pending'", database: db)
                .trimmingCharacters(in: .whitespacesAndNewlines) == "0"
        }
        let rows = try await PGEnv.psql("SELECT address, verdict FROM recipients ORDER BY address", database: db)
            .split(separator: "\n")
        #expect(complete, "still pending after 240 s; listener logs:\n\(listeners.map(\.log).joined())")
        #expect(rows.count == probes)
        var wrong: [String] = []
        for row in rows {
            let parts = row.split(separator: "|")
            guard parts.count == 2, let local = parts[0].split(separator: "+").first else { continue }
            let expected = simulatedVerdicts.first { $0.local == local }?.verdict
            if String(parts[1]) != expected { wrong.append(String(row)) }
        }
        #expect(wrong.isEmpty, "\(wrong.count) wrong verdicts: \(wrong.prefix(10))")
        // Each probe once, each report recorded once.
        let distinct = try await PGEnv.psql("SELECT count(DISTINCT probe_token) FROM recipients", database: db)
        #expect(distinct.trimmingCharacters(in: .whitespacesAndNewlines) == String(probes))
        for l in listeners { #expect(await l.stop() == 0) }
        #expect(await sim.stop() == 0)
        await PGEnv.dropDatabase(db)
    }

    /// Issue 14: PostgreSQL stops while the listener receives reports; the
    /// listener keeps them in its store and ingests them once it is back.
    @Test func reportsReceivedWhileTheDatabaseIsDownAreIngestedLater() async throws {
        let pg = try await OwnPostgres()
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("roundtrip-pgout-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let common = ["--ledger", pg.url(), "--key-dir", work + "/key"]
        let listener = try await ListenerProcess.start(domain: "r1.rt.test", extra: common)
        // The simulator waits 4 s before each report: the database goes down meanwhile.
        let sim = try await SimulatorProcess.start([
            "--bind", "127.0.0.1:0", "--domain", "sim.test", "--route", "r1.rt.test=127.0.0.1:\(listener.port)",
            "--no-tls", "--latency", "4",
        ])
        defer {
            listener.terminate()
            listener.removeFiles()
            sim.terminate()
            sim.removeFiles()
        }
        let probes = 6
        for i in 0..<probes {
            let r = try await roundtrip(
                [
                    "send", "--to", "success+o\(i)@sim.test", "--from", "rt@r1.rt.test", "--server",
                    "127.0.0.1:\(sim.port)", "--deadline", "10m",
                ] + common, timeout: 60)
            #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        }
        try await pg.stop()
        // Every report reaches the listener's store while the database is down.
        let stored = try await eventually(60) { listener.newMessages.count >= probes }
        #expect(stored, "\(listener.newMessages.count) stored; log:\n\(listener.log)")
        // The pool waits up to the operation timeout (10 s) for the database; past it the
        // listener defers the reports.
        let deferred = try await eventually(60) { listener.log.contains("not ingested yet") }
        #expect(deferred, "\(listener.log)")
        // A send now fails with 78 and says why.
        let down = try await roundtrip(
            [
                "send", "--to", "success+down@sim.test", "--from", "rt@r1.rt.test", "--server",
                "127.0.0.1:\(sim.port)",
            ] + common, timeout: 60)
        #expect(down.status == 78, "\(down.stdout)\(down.stderr)")
        #expect(down.stderr.contains("PostgreSQL"), "\(down.stderr)")
        try await pg.start()
        var last = ""
        let ingested = try await eventually(120) {
            do {
                last = try await pg.psql("SELECT count(*) FROM recipients WHERE verdict = 'delivered'")
            } catch {
                last = "\(error)"
            }
            return last.trimmingCharacters(in: .whitespacesAndNewlines) == String(probes)
        }
        #expect(ingested, "delivered: \(last); listener log:\n\(listener.log)")
        #expect(await listener.stop() == 0)
        await pg.remove()
    }
}
