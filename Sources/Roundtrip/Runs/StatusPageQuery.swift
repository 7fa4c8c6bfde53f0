import Foundation
import RoundtripCore

/// The status page from the ledger: `roundtrip monitor` serves it, `roundtrip status --html`
/// writes it (docs/monitor.md).
public enum StatusPageQuery {
    /// The page for the probes of the last `window` seconds. Routes named in `routes` come
    /// first in that order (with a row even before their first probe finishes); routes only the
    /// ledger knows follow by name. Probes still waiting, and probes the monitor stopped
    /// waiting for, are not drawn.
    public static func page(
        ledger: any LedgerStore, now: Date = Date(), window: TimeInterval = 86400, routes: [String] = [],
        strict: Bool = false,
        title: String = "roundtrip monitor"
    ) async throws -> StatusPage {
        let start = now.addingTimeInterval(-window)
        let history = try await ledger.monitorHistory(since: start)
        var points: [String: [StatusPoint]] = [:]
        for p in history where p.status != .pending && !p.interrupted {
            let outcome = MonitorOutcome(verdicts: p.verdicts, roundTripSeconds: p.roundTripSeconds, strict: strict)
            points[p.route, default: []].append(StatusPoint(at: p.createdAt, outcome: outcome))
        }
        var names = routes
        names += Set(history.map(\.route)).subtracting(routes).sorted()
        return StatusPage(
            title: title, generatedAt: now, windowStart: start,
            routes: names.map { StatusRoute(name: $0, points: points[$0] ?? []) })
    }
}
