import Foundation

/// Where `--ledger` points: a SQLite file (a path) or a PostgreSQL database
/// (`postgres://USER@HOST[:PORT]/DB?sslmode=disable|require|verify-full`).
public enum LedgerLocation: Sendable, Hashable {
    case sqlite(path: String)
    case postgres(PostgresLedgerURL)

    /// A `postgres://` or `postgresql://` value is a URL; anything else a path
    /// (`~` expanded).
    public static func parse(_ text: String) throws -> LedgerLocation {
        let lower = text.lowercased()
        if lower.hasPrefix("postgres://") || lower.hasPrefix("postgresql://") {
            return .postgres(try PostgresLedgerURL(text))
        }
        if lower.contains("://") {
            throw LedgerError(
                .configuration, "--ledger takes a file path or a postgres:// URL, not \(text.debugDescription)")
        }
        guard !text.isEmpty else { throw LedgerError(.configuration, "--ledger is empty") }
        return .sqlite(path: (text as NSString).expandingTildeInPath)
    }

    /// The directory that holds what lives beside the ledger by default (the
    /// probe-token key, the listener's store): the SQLite file's directory, or
    /// the data directory for PostgreSQL (the key never goes into the database).
    public func localDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        switch self {
        case .sqlite(let path): return (path as NSString).deletingLastPathComponent
        case .postgres: return try Ledger.defaultDirectory(environment: environment)
        }
    }
}

/// A PostgreSQL ledger URL. The password never comes from it (a URL with one
/// is refused: URLs end up in shell history, process lists and logs).
public struct PostgresLedgerURL: Sendable, Hashable, CustomStringConvertible {
    public enum SSLMode: String, Sendable, Hashable, CaseIterable {
        /// Plain TCP (loopback or a trusted network only).
        case disable
        /// TLS, without checking the server's certificate.
        case require
        /// TLS; the certificate must chain to a trusted CA (`sslrootcert`, else
        /// the system's) and name the host.
        case verifyFull = "verify-full"
    }

    public var user: String
    public var host: String
    public var port: Int
    public var database: String
    public var sslMode: SSLMode
    /// A PEM file of CA certificates for `verify-full` (`sslrootcert=`).
    public var rootCertificate: String?

    public init(_ text: String) throws {
        func bad(_ why: String) -> LedgerError {
            LedgerError(.configuration, "invalid PostgreSQL ledger URL: \(why)")
        }
        guard let c = URLComponents(string: text), let scheme = c.scheme?.lowercased(),
            scheme == "postgres" || scheme == "postgresql"
        else { throw bad("expected postgres://USER@HOST[:PORT]/DB?sslmode=...") }
        if c.password != nil {
            throw bad(
                "it contains a password; give it with --ledger-password-file FILE or PGPASSWORD instead")
        }
        guard let user = c.user, !user.isEmpty else { throw bad("it names no user (postgres://USER@HOST/DB)") }
        guard var host = c.host, !host.isEmpty else { throw bad("it names no host") }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let database = c.path.hasPrefix("/") ? String(c.path.dropFirst()) : c.path
        guard !database.isEmpty, !database.contains("/") else { throw bad("it names no database (…/DB)") }
        if let port = c.port, !(1...65535).contains(port) { throw bad("the port \(port) is out of range") }
        var mode: SSLMode = .verifyFull
        var root: String?
        var seen: Set<String> = []
        for item in c.queryItems ?? [] {
            guard seen.insert(item.name).inserted else { throw bad("\(item.name) is given twice") }
            switch item.name {
            case "sslmode":
                guard let v = item.value, let m = SSLMode(rawValue: v) else {
                    throw bad("sslmode must be disable, require or verify-full")
                }
                mode = m
            case "sslrootcert":
                guard let v = item.value, !v.isEmpty else { throw bad("sslrootcert needs a file") }
                root = (v as NSString).expandingTildeInPath
            case "password":
                throw bad("it contains a password; give it with --ledger-password-file FILE or PGPASSWORD instead")
            default:
                throw bad("unknown parameter \(item.name) (known: sslmode, sslrootcert)")
            }
        }
        if root != nil && mode != .verifyFull { throw bad("sslrootcert goes with sslmode=verify-full") }
        let isAddress = host.contains(":") || host.allSatisfy { $0.isNumber || $0 == "." }
        if mode == .verifyFull && isAddress {
            throw bad(
                "sslmode=verify-full checks the host name in the server's certificate: name the host, not the address \(host) (or choose sslmode=require or disable explicitly)"
            )
        }
        self.user = user
        self.host = host
        self.port = c.port ?? 5432
        self.database = database
        self.sslMode = mode
        self.rootCertificate = root
    }

    /// The URL as given, normalised; it never holds a secret.
    public var description: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return "postgres://\(user)@\(h):\(port)/\(database)?sslmode=\(sslMode.rawValue)"
    }
}
