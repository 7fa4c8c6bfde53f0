import Foundation
import Logging
import NIOSSL
import PostgresNIO
import RoundtripCore
import SMTPCore

/// The PostgreSQL ledger: the same `LedgerStore` as the SQLite `Ledger`, for
/// an installation whose probes are sent on one host and whose reports come
/// back to another (docs/ledger-postgres.md).
///
/// Connections come from postgres-nio's `PostgresClient` pool, which
/// reconnects with backoff on its own; every operation has a time limit and a
/// database that cannot be reached is `LedgerError(.unavailable)`. Each write
/// is one transaction that first locks the probe's row (`SELECT ... FOR
/// UPDATE`), so two listeners that ingest reports for the same probe apply
/// `VerdictRules` one after the other and no update is lost; each write
/// transaction ends with a `NOTIFY`, on which `waitForUpdate` wakes.
public final class PostgresLedger: LedgerStore {
    public struct Configuration: Sendable {
        public var url: PostgresLedgerURL
        /// From `--ledger-password-file` or `PGPASSWORD`; never from the URL.
        public var password: String?
        /// The longest one ledger operation (including waiting for a connection) may take.
        public var operationTimeout: Duration = .seconds(10)
        public var maximumConnections: Int = 8

        public init(url: PostgresLedgerURL, password: String?) {
            self.url = url
            self.password = password
        }
    }

    static let channel = "roundtrip_ledger"

    let client: PostgresClient
    let runner: Task<Void, Never>
    let logger: Logger
    let timeout: Duration
    public let location: String

    private init(client: PostgresClient, logger: Logger, timeout: Duration, location: String) {
        self.client = client
        self.logger = logger
        self.timeout = timeout
        self.location = location
        self.runner = Task { await client.run() }
    }

    /// Connects, runs the migrations (under an advisory lock) and returns the
    /// ledger. A database that cannot be reached within the operation timeout
    /// is `LedgerError(.unavailable)`.
    public static func open(_ configuration: Configuration, logger: Logger = Logger(label: "roundtrip.ledger.postgres"))
        async throws -> PostgresLedger
    {
        let url = configuration.url
        var tlsConfiguration: TLSConfiguration?
        switch url.sslMode {
        case .disable: break
        case .require:
            var t = TLSConfiguration.makeClientConfiguration()
            t.minimumTLSVersion = .tlsv12
            t.certificateVerification = .none
            tlsConfiguration = t
        case .verifyFull:
            var t = TLSConfiguration.makeClientConfiguration()
            t.minimumTLSVersion = .tlsv12
            t.certificateVerification = .fullVerification
            if let ca = url.rootCertificate {
                do {
                    t.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
                } catch {
                    throw LedgerError(.configuration, "cannot read the CA file \(ca) (sslrootcert): \(error)")
                }
            }
            tlsConfiguration = t
        }
        let tls: PostgresClient.Configuration.TLS = tlsConfiguration.map { .require($0) } ?? .disable
        var config = PostgresClient.Configuration(
            host: url.host, port: url.port, username: url.user, password: configuration.password,
            database: url.database, tls: tls)
        config.options.maximumConnections = configuration.maximumConnections
        config.options.connectTimeout = configuration.operationTimeout
        // verify-full names a host (LedgerLocation refuses an address): postgres-nio checks the
        // certificate against it and sends it as SNI.
        let client = PostgresClient(configuration: config, backgroundLogger: logger)
        let ledger = PostgresLedger(
            client: client, logger: logger, timeout: configuration.operationTimeout, location: url.description)
        do {
            // One direct connection first: the pool retries a refused login or a failed
            // TLS handshake silently until the timeout; this says at once what is wrong.
            try await ledger.checkConnection(configuration, tls: tlsConfiguration)
            try await ledger.transaction { conn in
                try await Self.migrate(conn, logger: ledger.logger, location: ledger.location)
            }
        } catch {
            await ledger.close()
            throw error
        }
        return ledger
    }

    func checkConnection(_ configuration: Configuration, tls: TLSConfiguration?) async throws {
        let url = configuration.url
        var connectionTLS: PostgresConnection.Configuration.TLS = .disable
        if let tls {
            do {
                connectionTLS = .require(try NIOSSLContext(configuration: tls))
            } catch {
                throw LedgerError(.configuration, "cannot set up TLS for \(location): \(error)")
            }
        }
        var c = PostgresConnection.Configuration(
            host: url.host, port: url.port, username: url.user, password: configuration.password,
            database: url.database, tls: connectionTLS)
        c.options.connectTimeout = .init(configuration.operationTimeout)
        let logger = self.logger
        let connectionConfiguration = c
        do {
            try await limited {
                let connection = try await PostgresConnection.connect(
                    configuration: connectionConfiguration, id: 0, logger: logger)
                try await connection.close()
            }
        } catch {
            throw translate(error)
        }
    }

    public func close() async {
        runner.cancel()
        _ = await runner.value
    }

    deinit { runner.cancel() }

    // MARK: - Running statements

    /// Runs `body` in one transaction on a pooled connection, within the
    /// operation timeout; retries a deadlock or serialization failure.
    func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T
    {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await limited {
                    try await self.client.withConnection { conn in
                        try await conn.rows("BEGIN", logger: self.logger)
                        do {
                            let value = try await body(conn)
                            try await conn.rows("COMMIT", logger: self.logger)
                            return value
                        } catch {
                            _ = try? await conn.rows("ROLLBACK", logger: self.logger)
                            throw error
                        }
                    }
                }
            } catch let error as PSQLError where attempt < 5 && Self.isRetryable(error) {
                try await Task.sleep(for: .milliseconds(10 * attempt))
            } catch {
                throw translate(error)
            }
        }
    }

    /// A read outside a transaction.
    func read<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await limited { try await self.client.withConnection { conn in try await body(conn) } }
        } catch {
            throw translate(error)
        }
    }

    struct TimedOut: Error {}

    func limited<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let timeout = self.timeout
        return try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw TimedOut()
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { throw TimedOut() }
            return first
        }
    }

    static func isRetryable(_ error: PSQLError) -> Bool {
        guard let state = error.serverInfo?[.sqlState] else { return false }
        return state == "40P01" || state == "40001"
    }

    /// The ledger's own errors pass; the rest become `unavailable` (cannot
    /// reach or use the database) with what the server said, never secrets.
    func translate(_ error: any Error) -> any Error {
        switch error {
        case let e as LedgerError: return e
        case is CancellationError: return error
        case is TimedOut:
            return LedgerError(
                .unavailable, "PostgreSQL at \(location) did not answer within \(timeout) (is it running?)")
        case let e as PSQLError:
            if let message = e.serverInfo?[.message] {
                let state = e.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
                if e.serverInfo?[.sqlState] == "28P01" || e.serverInfo?[.sqlState] == "28000" {
                    return LedgerError(
                        .configuration, "PostgreSQL at \(location) refused the login: \(message)\(state)")
                }
                return LedgerError(.unavailable, "PostgreSQL at \(location): \(message)\(state)")
            }
            return LedgerError(.unavailable, "cannot use PostgreSQL at \(location): \(e.code)")
        default:
            return LedgerError(.unavailable, "cannot use PostgreSQL at \(location): \(error)")
        }
    }
}
