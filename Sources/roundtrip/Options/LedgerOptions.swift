import ArgumentParser
import Crypto
import Foundation
import Roundtrip

/// Where probes and reports are recorded, shared by verify, send, status and listen.
struct LedgerOptions: ParsableArguments {
    @Option(
        help:
            "The ledger file (default: $XDG_DATA_HOME/roundtrip/ledger.sqlite or ~/.local/share/roundtrip/ledger.sqlite). The probe-token key lives beside it."
    )
    var ledger: String?

    init() {}

    init(ledger: String?) {
        self.ledger = ledger
    }

    func path() throws -> String {
        if let ledger { return (ledger as NSString).expandingTildeInPath }
        return try Ledger.defaultPath(environment: ProcessInfo.processInfo.environment)
    }

    /// Opens the ledger and loads (or creates) the probe-token key beside it.
    func open() async throws -> (Ledger, SymmetricKey) {
        let p = try path()
        let ledger = try await Ledger.open(path: p)
        let key = try Ledger.loadOrCreateKey(directory: (p as NSString).deletingLastPathComponent)
        return (ledger, key)
    }
}
