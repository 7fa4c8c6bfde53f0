import Foundation
import RoundtripCore
import Testing

@testable import Roundtrip

@Suite("Ledger: monitor history and pruning")
struct LedgerMonitorTests {
    /// Probe n of `route`, created at `created`, with a delivered report at `created + latency`
    /// (or left pending, or expired).
    func probe(
        _ ledger: Ledger, _ n: Int, route: String?, created: TimeInterval, latency: TimeInterval? = nil,
        expire: Bool = false
    ) async throws {
        if let route { try await ledger.recordMonitorRoute(token: token(n), route: route, at: at(created)) }
        try await ledger.recordProbe(newProbe(n, created: created, deadline: created + 60), at: at(created))
        _ = try await ledger.recordSubmission(
            token: token(n), recipient: "alice@example.net", reply: ok250, accepted: true, at: at(created))
        if let latency {
            let id = try await ledger.recordReport(report("report \(n)", received: created + latency))
            try await ledger.attach(
                report: id, to: token(n), recipient: "alice@example.net", verdict: .delivered, status: "2.0.0",
                diagnostic: nil, key: .envelopeRecipient, confidence: .high, at: at(created + latency))
        }
        if expire { _ = try await ledger.expire(now: at(created + 61)) }
    }

    @Test func historyNamesTheRouteAndTheVerdicts() async throws {
        let ledger = try Ledger.inMemory()
        try await probe(ledger, 1, route: "gmail", created: 0, latency: 2.5)
        try await probe(ledger, 2, route: "m365", created: 10, expire: true)
        try await probe(ledger, 3, route: nil, created: 20, latency: 1)  // a verify run, not the monitor's
        try await probe(ledger, 4, route: "gmail", created: 30)  // still waiting
        try await ledger.recordMonitorInterrupted(token: token(4), at: at(31))
        let h = try await ledger.monitorHistory(since: at(0))
        #expect(h.map(\.route) == ["gmail", "m365", "gmail"])
        #expect(h.map(\.token) == [token(1), token(2), token(4)])
        #expect(h.map(\.verdicts) == [[.delivered], [.timeout], [.pending]])
        #expect(h.map(\.roundTripSeconds) == [[2.5], [nil], [nil]])
        #expect(h.map(\.status) == [.complete, .expired, .pending])
        #expect(h.map(\.interrupted) == [false, false, true])
        #expect(try await ledger.monitorHistory(since: at(5)).map(\.token) == [token(2), token(4)])

        let page = try await StatusPageQuery.page(
            ledger: ledger, now: at(100), window: 100, routes: ["m365", "gmail", "idle"])
        #expect(page.routes.map(\.name) == ["m365", "gmail", "idle"])
        // The interrupted probe is not drawn; nothing else is left out.
        #expect(page.routes.map(\.points.count) == [1, 1, 0])
        #expect(
            page.routes[1].points.first?.outcome
                == MonitorOutcome(verdicts: [.delivered], roundTripSeconds: [2.5], strict: false))
    }

    @Test func pruningRemovesOnlyWhatIsOlderThanTheCutoff() async throws {
        let ledger = try Ledger.inMemory()
        try await probe(ledger, 1, route: "a", created: 0, latency: 1)
        try await probe(ledger, 2, route: "a", created: 100, latency: 1)
        let n = try await ledger.pruneMonitor(before: at(50))
        #expect(n.probes == 1)
        #expect(n.reports == 1)
        #expect(n.events > 0)
        #expect(try await ledger.probe(token: token(1)) == nil)
        let kept = try #require(try await ledger.probe(token: token(2)))
        #expect(kept.recipients.map(\.verdict) == [.delivered])
        #expect(kept.reports.count == 1)
        #expect(try await ledger.monitorHistory(since: at(0)).map(\.token) == [token(2)])
        #expect(try await ledger.pruneMonitor(before: at(50)) == LedgerPruneCount(probes: 0, reports: 0, events: 0))
    }
}
