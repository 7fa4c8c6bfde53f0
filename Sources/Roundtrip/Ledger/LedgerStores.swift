import Foundation

/// Opens the ledger `--ledger` names: the one place that knows both backends.
public enum LedgerStores {
    /// `password` (from `--ledger-password-file` or `PGPASSWORD`) goes with a
    /// PostgreSQL ledger only.
    public static func open(
        _ location: LedgerLocation, password: String?, operationTimeout: Duration = .seconds(10)
    ) async throws -> any LedgerStore {
        switch location {
        case .sqlite(let path):
            return try await Ledger.open(path: path)
        case .postgres(let url):
            var configuration = PostgresLedger.Configuration(url: url, password: password)
            configuration.operationTimeout = operationTimeout
            return try await PostgresLedger.open(configuration)
        }
    }
}
