import Foundation
import Testing

@testable import Roundtrip

@Suite("--ledger: a path or a PostgreSQL URL")
struct LedgerLocationTests {
    @Test func pathsAreSQLite() throws {
        #expect(
            try LedgerLocation.parse("/var/lib/roundtrip/ledger.sqlite")
                == .sqlite(path: "/var/lib/roundtrip/ledger.sqlite"))
        #expect(try LedgerLocation.parse("ledger.sqlite") == .sqlite(path: "ledger.sqlite"))
        guard case .sqlite(let home) = try LedgerLocation.parse("~/x.sqlite") else {
            Issue.record("not sqlite")
            return
        }
        #expect(!home.hasPrefix("~"))
    }

    @Test func aFullURL() throws {
        let u = try PostgresLedgerURL("postgres://rt@db.example.net:6543/ledger?sslmode=require")
        #expect(u.user == "rt" && u.host == "db.example.net" && u.port == 6543 && u.database == "ledger")
        #expect(u.sslMode == .require && u.rootCertificate == nil)
        #expect(u.description == "postgres://rt@db.example.net:6543/ledger?sslmode=require")
        #expect(
            try LedgerLocation.parse("postgresql://rt@h/d") == .postgres(try PostgresLedgerURL("postgres://rt@h/d")))
    }

    @Test func defaultsAreVerifyFullAndPort5432() throws {
        let u = try PostgresLedgerURL("postgres://rt@db.example.net/ledger")
        #expect(u.port == 5432 && u.sslMode == .verifyFull)
        let v = try PostgresLedgerURL("postgres://rt@db:5433/l?sslmode=verify-full&sslrootcert=/etc/ca.pem")
        #expect(v.host == "db" && v.port == 5433 && v.rootCertificate == "/etc/ca.pem")
        let w = try PostgresLedgerURL("postgres://rt@[::1]:5433/l?sslmode=require")
        #expect(w.host == "::1" && w.description == "postgres://rt@[::1]:5433/l?sslmode=require")
    }

    @Test(arguments: [
        "postgres://rt:secret@db/ledger",  // a password in the URL
        "postgres://rt@db/ledger?password=secret",
        "postgres://db/ledger",  // no user
        "postgres://rt@/ledger",  // no host
        "postgres://rt@db/",  // no database
        "postgres://rt@db/a/b",
        "postgres://rt@db/ledger?sslmode=prefer",
        "postgres://rt@db/ledger?sslmode=disable&sslmode=require",
        "postgres://rt@db/ledger?sslmode=require&sslrootcert=/ca.pem",
        "postgres://rt@db/ledger?application_name=x",
        "postgres://rt@db:0/ledger",
        "postgres://rt@127.0.0.1/ledger",  // verify-full (the default) needs a host name
        "postgres://rt@[::1]/ledger?sslmode=verify-full",
        "mysql://rt@db/ledger",
        "",
    ])
    func refused(_ text: String) {
        #expect(throws: LedgerError.self) { try LedgerLocation.parse(text) }
    }

    @Test func theRefusalNeverRepeatsThePassword() {
        do {
            _ = try LedgerLocation.parse("postgres://rt:hunter2-secret@db/ledger")
            Issue.record("accepted")
        } catch {
            #expect(!"\(error)".contains("hunter2"))
            #expect("\(error)".contains("--ledger-password-file"))
        }
    }

    @Test func whereLocalFilesGo() throws {
        #expect(try LedgerLocation.sqlite(path: "/srv/rt/ledger.sqlite").localDirectory() == "/srv/rt")
        #expect(
            try LedgerLocation.postgres(try PostgresLedgerURL("postgres://rt@h/d")).localDirectory(
                environment: ["XDG_DATA_HOME": "/data"]) == "/data/roundtrip")
    }
}

/// TLS to the test server (scripts/test-env-pg.sh offers it with the test CA's certificate).
@Suite("PostgreSQL ledger: TLS and failures")
struct PostgresLedgerConnectionTests {
    static var enabled: Bool { LedgerBackend.all.contains(.postgres) }

    @Test(.enabled(if: enabled)) func verifyFullWithTheRightCAConnects() async throws {
        let server = try PostgresTestServer.require()
        let ca = try #require(Self.testCA, "no ROUNDTRIP_TEST_CA")
        var u = try PostgresLedgerURL(
            "postgres://\(server.url.user)@localhost:\(server.url.port)/\(server.url.database)?sslmode=verify-full&sslrootcert=\(ca)"
        )
        u.database = server.url.database
        let ledger = try await server.open(u)
        _ = try await ledger.revision(token: nil)
        await ledger.close()
    }

    @Test(.enabled(if: enabled)) func verifyFullWithAnotherCAFails() async throws {
        let server = try PostgresTestServer.require()
        let other = try #require(Self.otherCA, "no ROUNDTRIP_TEST_OTHER_CA")
        let u = try PostgresLedgerURL(
            "postgres://\(server.url.user)@localhost:\(server.url.port)/\(server.url.database)?sslmode=verify-full&sslrootcert=\(other)"
        )
        let error = await ledgerError { _ = try await server.open(u, timeout: .seconds(5)) }
        #expect(error?.code == .unavailable)
    }

    @Test(.enabled(if: enabled)) func aWrongPasswordIsAConfigurationErrorWithoutThePassword() async throws {
        let server = try PostgresTestServer.require()
        var c = PostgresLedger.Configuration(url: server.url, password: "wrong-Canary-77")
        c.operationTimeout = .seconds(10)
        let error = await ledgerError { _ = try await PostgresLedger.open(c) }
        #expect(error?.code == .configuration, "\(String(describing: error))")
        #expect(error.map { !"\($0)".contains("wrong-Canary-77") } ?? false)
    }

    @Test func aServerThatIsNotThereIsUnavailable() async throws {
        // A loopback port nothing listens on (the connection is refused at once).
        let u = try PostgresLedgerURL("postgres://rt@127.0.0.1:1/none?sslmode=disable")
        var c = PostgresLedger.Configuration(url: u, password: nil)
        c.operationTimeout = .seconds(2)
        let error = await ledgerError { _ = try await PostgresLedger.open(c) }
        #expect(error?.code == .unavailable)
        #expect(error.map { "\($0)".contains("127.0.0.1:1") } ?? false)
    }

    static func envValue(_ name: String) -> String? {
        if let v = ProcessInfo.processInfo.environment[name] { return v }
        let dir = ProcessInfo.processInfo.environment["ROUNDTRIP_TEST_DIR"] ?? "/tmp/roundtrip-test-env"
        let file = dir + (name == "ROUNDTRIP_TEST_CA" ? "/ca.pem" : "/other-ca.pem")
        return FileManager.default.fileExists(atPath: file) ? file : nil
    }
    static var testCA: String? { envValue("ROUNDTRIP_TEST_CA") }
    static var otherCA: String? { envValue("ROUNDTRIP_TEST_OTHER_CA") }
}
