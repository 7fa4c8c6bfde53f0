import ArgumentParser
import Crypto
import Foundation
import Roundtrip

/// Where probes and reports are recorded, shared by verify, send, status and listen.
struct LedgerOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "The ledger: a SQLite file (default: $XDG_DATA_HOME/roundtrip/ledger.sqlite or ~/.local/share/roundtrip/ledger.sqlite), or a shared PostgreSQL database, postgres://USER@HOST[:PORT]/DB?sslmode=MODE with MODE disable, require or verify-full (the default; add &sslrootcert=CA.pem for a private CA), never with a password in it. The probe-token key lives beside a SQLite file, and in the data directory (or --key-dir) for PostgreSQL.",
            valueName: "path-or-url")
    )
    var ledger: String?

    @OptionGroup var access: LedgerAccessOptions

    var ledgerPasswordFile: String? { access.ledgerPasswordFile }
    var keyDirectory: String? { access.keyDirectory }

    init() {}

    init(ledger: String?, access: LedgerAccessOptions = LedgerAccessOptions()) {
        self.ledger = ledger
        self.access = access
    }

    func location() throws -> LedgerLocation {
        if let ledger { return try LedgerLocation.parse(ledger) }
        return .sqlite(path: try Ledger.defaultPath(environment: ProcessInfo.processInfo.environment))
    }

    /// What messages call the ledger: its path or its URL (never a secret).
    func displayName() throws -> String {
        switch try location() {
        case .sqlite(let path): return path
        case .postgres(let url): return url.description
        }
    }

    /// Where local files that go with the ledger live (the listener's store by default).
    func localDirectory() throws -> String {
        try location().localDirectory()
    }

    func keyDirectoryPath() throws -> String {
        if let keyDirectory { return (keyDirectory as NSString).expandingTildeInPath }
        return try localDirectory()
    }

    /// The installation's probe-token key (created on first use).
    func loadKey() throws -> SymmetricKey {
        try Ledger.loadOrCreateKey(directory: try keyDirectoryPath())
    }

    func password(for location: LedgerLocation) throws -> String? {
        guard case .postgres = location else {
            if ledgerPasswordFile != nil {
                throw ValidationError("--ledger-password-file goes with a postgres:// ledger only")
            }
            return nil
        }
        if ledgerPasswordFile != nil { return try Secrets.password(file: ledgerPasswordFile) }
        if let env = ProcessInfo.processInfo.environment["PGPASSWORD"], !env.isEmpty { return env }
        return nil
    }

    /// Opens the ledger and loads (or creates) the probe-token key.
    func open() async throws -> (any LedgerStore, SymmetricKey) {
        let location = try location()
        let password = try password(for: location)
        let key = try loadKey()
        let ledger = try await LedgerStores.open(location, password: password)
        return (ledger, key)
    }
}

/// How to reach a ledger beyond its location: the PostgreSQL password and the probe-token key
/// (`LedgerOptions`, and `listen`, whose `--ledger` has no default).
struct LedgerAccessOptions: ParsableArguments {
    @Option(
        name: .customLong("ledger-password-file"),
        help: "The PostgreSQL ledger's password, from this file (else $PGPASSWORD).")
    var ledgerPasswordFile: String?

    @Option(
        name: .customLong("key-dir"),
        help:
            "The directory of the probe-token key (probe-token.key, mode 0600); every host of one installation needs the same key (default: beside a SQLite ledger, else the data directory)."
    )
    var keyDirectory: String?
}
