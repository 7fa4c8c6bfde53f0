import Foundation
import Logging
import PostgresNIO
import Testing

@testable import Roundtrip

/// The ledger backends the contract suite runs against. PostgreSQL comes from
/// `scripts/test-env-pg.sh` (ROUNDTRIP_PG_URL and ROUNDTRIP_PG_PASSWORD_FILE, or
/// $ROUNDTRIP_TEST_DIR/env-pg.sh); without it the PostgreSQL cases are left out,
/// except under ROUNDTRIP_INTEGRATION=1, where they run and fail.
enum LedgerBackend: String, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    var testDescription: String { rawValue }

    static var all: [LedgerBackend] {
        if PostgresTestServer.configured != nil || ProcessInfo.processInfo.environment["ROUNDTRIP_INTEGRATION"] == "1" {
            return [.sqlite, .postgres]
        }
        print("ledger contract tests: PostgreSQL left out (no ROUNDTRIP_PG_URL; run scripts/test-env.sh start)")
        return [.sqlite]
    }
}

/// The test PostgreSQL server and a fresh database per test.
struct PostgresTestServer: Sendable {
    var url: PostgresLedgerURL
    var password: String

    /// The server `scripts/test-env-pg.sh start` described, if any.
    static let configured: PostgresTestServer? = {
        var env = ProcessInfo.processInfo.environment
        let dir = env["ROUNDTRIP_TEST_DIR"] ?? "/tmp/roundtrip-test-env"
        if env["ROUNDTRIP_PG_URL"] == nil, let text = try? String(contentsOfFile: dir + "/env-pg.sh", encoding: .utf8) {
            for line in text.split(separator: "\n") where line.hasPrefix("export ") {
                let pair = line.dropFirst("export ".count).split(separator: "=", maxSplits: 1)
                guard pair.count == 2 else { continue }
                env[String(pair[0])] = String(pair[1]).trimmingCharacters(in: CharacterSet(charactersIn: "'"))
            }
        }
        guard let u = env["ROUNDTRIP_PG_URL"], let url = try? PostgresLedgerURL(u),
            let file = env["ROUNDTRIP_PG_PASSWORD_FILE"],
            let password = try? String(contentsOfFile: file, encoding: .utf8)
        else { return nil }
        return PostgresTestServer(url: url, password: password.trimmingCharacters(in: .whitespacesAndNewlines))
    }()

    static func require() throws -> PostgresTestServer {
        try #require(configured, "PostgreSQL is not configured: run scripts/test-env.sh start (ROUNDTRIP_PG_URL)")
    }

    var passwordFile: String {
        ProcessInfo.processInfo.environment["ROUNDTRIP_PG_PASSWORD_FILE"]
            ?? ((ProcessInfo.processInfo.environment["ROUNDTRIP_TEST_DIR"] ?? "/tmp/roundtrip-test-env")
                + "/pg-password")
    }

    /// Runs one statement on the server's own database (CREATE/DROP DATABASE).
    func admin(_ sql: String) async throws {
        let config = PostgresConnection.Configuration(
            host: url.host, port: url.port, username: url.user, password: password, database: url.database,
            tls: .disable)
        let conn = try await PostgresConnection.connect(
            configuration: config, id: 1, logger: Logger(label: "roundtrip.tests.pg"))
        do {
            try await conn.query(PostgresQuery(unsafeSQL: sql), logger: Logger(label: "roundtrip.tests.pg"))
        } catch {
            try? await conn.close()
            throw error
        }
        try await conn.close()
    }

    /// A new, empty database; its URL.
    func createDatabase() async throws -> PostgresLedgerURL {
        let name = "rt_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        try await admin("CREATE DATABASE \(name)")
        var u = url
        u.database = name
        return u
    }

    func dropDatabase(_ u: PostgresLedgerURL) async {
        try? await admin("DROP DATABASE IF EXISTS \(u.database) WITH (FORCE)")
    }

    func open(_ u: PostgresLedgerURL, timeout: Duration = .seconds(30)) async throws -> PostgresLedger {
        var c = PostgresLedger.Configuration(url: u, password: password)
        c.operationTimeout = timeout
        return try await PostgresLedger.open(c)
    }
}

/// A fresh ledger of `backend` for `body`, removed afterwards.
func withLedger(_ backend: LedgerBackend, _ body: (any LedgerStore) async throws -> Void) async throws {
    switch backend {
    case .sqlite:
        try await body(try Ledger.inMemory())
    case .postgres:
        let server = try PostgresTestServer.require()
        let u = try await server.createDatabase()
        do {
            let ledger = try await server.open(u)
            do {
                try await body(ledger)
            } catch {
                await ledger.close()
                throw error
            }
            await ledger.close()
        } catch {
            await server.dropDatabase(u)
            throw error
        }
        await server.dropDatabase(u)
    }
}
