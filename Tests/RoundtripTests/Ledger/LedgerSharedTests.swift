import Crypto
import DeliveryReports
import Foundation
import MailCore
import RoundtripCore
import TestRandom
import Testing

@testable import Roundtrip

/// Two stores on one ledger, as two `listen --ledger` processes (or hosts)
/// have: a file opened twice for SQLite, two pools on one database for
/// PostgreSQL. The same cases for both backends.
@Suite("Ledger shared by writers (SQLite and PostgreSQL)")
struct LedgerSharedTests {
    static let key = SymmetricKey(data: Array(repeating: UInt8(7), count: 32))

    /// Two stores on one fresh ledger of `backend`.
    static func withTwoStores(
        _ backend: LedgerBackend, _ body: (any LedgerStore, any LedgerStore) async throws -> Void
    ) async throws {
        switch backend {
        case .sqlite:
            try await withTemporaryDirectory { dir in
                let a = try await Ledger.open(path: dir + "/ledger.sqlite")
                let b = try await Ledger.open(path: dir + "/ledger.sqlite")
                try await body(a, b)
            }
        case .postgres:
            let server = try PostgresTestServer.require()
            let u = try await server.createDatabase()
            do {
                // Two openers at once: the migrations run once, under the advisory lock.
                async let first = server.open(u)
                async let second = server.open(u)
                let (a, b) = try await (first, second)
                do { try await body(a, b) } catch {
                    await a.close()
                    await b.close()
                    throw error
                }
                await a.close()
                await b.close()
            } catch {
                await server.dropDatabase(u)
                throw error
            }
            await server.dropDatabase(u)
        }
    }

    static func token(_ seed: UInt64) -> ProbeToken {
        var rng = SeededGenerator(seed: seed)
        return ProbeToken.make(createdAt: UInt32(Date().timeIntervalSince1970), key: key, using: &rng)
    }

    static func probe(_ t: ProbeToken, recipients: [String]) -> NewProbe {
        let now = Date()
        return NewProbe(
            token: t.value, createdAt: now, deadline: now.addingTimeInterval(3600),
            returnPath: "rt+\(t.value)@return.example", envelopeID: t.value, messageID: "\(t.value)@return.example",
            subject: "roundtrip probe \(t.value)", recipients: recipients)
    }

    /// A delivered DSN for `recipient`, the token in Original-Envelope-Id.
    static func dsn(token: String, recipient: String, action: DeliveryAction = .delivered, id: Int) -> [UInt8] {
        RFC3464Builder(
            reportingMTA: "mx.sim.test", from: "MAILER-DAEMON@sim.test", to: "rt+\(token)@return.example",
            messageID: "dsn-\(id)-\(token)@sim.test",
            date: MessageDate(secondsSince1970: 1_800_000_100 + Int64(id), zoneOffsetMinutes: 0), boundary: "b\(id)",
            originalEnvelopeID: token,
            recipients: [
                .init(
                    finalRecipient: recipient, originalRecipient: recipient, action: action,
                    status: StatusCode(action == .failed ? "5.1.1" : "2.0.0")!)
            ],
            returnedHeader: nil
        ).build()
    }

    /// Two listeners ingest reports for the recipients of one probe at the
    /// same time: every verdict lands (none lost to a concurrent update) and
    /// the probe completes exactly once.
    @Test(arguments: LedgerBackend.all) func concurrentIngestLosesNoUpdate(_ backend: LedgerBackend) async throws {
        try await Self.withTwoStores(backend) { a, b in
            let t = Self.token(1)
            let recipients = (0..<24).map { "user\($0)@example.net" }
            try await a.recordProbe(Self.probe(t, recipients: recipients))
            let ingests = [ReportIngest(ledger: a, key: Self.key), ReportIngest(ledger: b, key: Self.key)]
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (i, r) in recipients.enumerated() {
                    group.addTask {
                        let outcome = await ingests[i % 2].ingest(
                            ReceivedMessage(
                                source: "listener-\(i % 2):\(i)",
                                bytes: Self.dsn(
                                    token: t.value, recipient: r, action: i % 3 == 0 ? .failed : .delivered, id: i)))
                        guard case .matched = outcome else {
                            Issue.record("report \(i): \(outcome)")
                            return
                        }
                    }
                }
                try await group.waitForAll()
            }
            let d = try #require(try await b.probe(token: t.value))
            #expect(d.probe.status == .complete)
            for (i, r) in d.recipients.enumerated() {
                #expect(r.verdict == (i % 3 == 0 ? .failed : .delivered), "\(r.address)")
            }
            #expect(d.reports.count == recipients.count)
            #expect(d.events.filter { $0.kind == "probe.completed" }.count == 1)
            #expect(d.events.filter { $0.kind == "recipient.verdict" }.count == recipients.count)
        }
    }

    /// The same report delivered to both listeners (a retried SMTP
    /// transaction, say) is stored once and decides once.
    @Test(arguments: LedgerBackend.all) func theSameReportTwiceIsStoredOnce(_ backend: LedgerBackend) async throws {
        try await Self.withTwoStores(backend) { a, b in
            let t = Self.token(2)
            try await a.recordProbe(Self.probe(t, recipients: ["alice@example.net"]))
            let bytes = Self.dsn(token: t.value, recipient: "alice@example.net", id: 1)
            async let x = ReportIngest(ledger: a, key: Self.key).ingest(ReceivedMessage(source: "a", bytes: bytes))
            async let y = ReportIngest(ledger: b, key: Self.key).ingest(ReceivedMessage(source: "b", bytes: bytes))
            _ = await (x, y)
            let d = try #require(try await a.probe(token: t.value))
            #expect(d.reports.count == 1)
            #expect(d.recipients[0].verdict == .delivered)
            #expect(d.events.filter { $0.kind == "recipient.verdict" }.count == 1)
        }
    }

    /// A waiter on one store wakes on a write through the other (LISTEN/NOTIFY on PostgreSQL).
    @Test(arguments: LedgerBackend.all) func aWaiterSeesTheOtherStoresWrite(_ backend: LedgerBackend) async throws {
        try await Self.withTwoStores(backend) { a, b in
            let t = Self.token(3)
            try await a.recordProbe(Self.probe(t, recipients: ["alice@example.net"]))
            let before = try await a.revision(token: t.value)
            async let waited = a.waitForUpdate(token: t.value, since: before, until: Date().addingTimeInterval(60))
            try await Task.sleep(for: .milliseconds(200))
            _ = await ReportIngest(ledger: b, key: Self.key).ingest(
                ReceivedMessage(source: "b", bytes: Self.dsn(token: t.value, recipient: "alice@example.net", id: 1)))
            let after = try await waited
            #expect(after != nil && after != before)
            #expect(try await a.probe(token: t.value)?.recipients[0].verdict == .delivered)
        }
    }

    /// Ingest throughput of both backends, side by side in one run (issue 14):
    /// N probes, one DSN each, through `ReportIngest` (parse, correlate,
    /// record, attach), one report at a time. Prints reports/s.
    @Test func ingestThroughputOfBothBackends() async throws {
        let n = Int(ProcessInfo.processInfo.environment["ROUNDTRIP_LEDGER_BENCH_N"] ?? "") ?? 200
        var lines: [String] = []
        for backend in LedgerBackend.all {
            try await Self.withTwoStores(backend) { store, _ in
                var tokens: [ProbeToken] = []
                for i in 0..<n {
                    let t = Self.token(UInt64(1000 + i))
                    tokens.append(t)
                    try await store.recordProbe(Self.probe(t, recipients: ["alice@example.net"]))
                }
                let reports = tokens.enumerated().map {
                    Self.dsn(token: $1.value, recipient: "alice@example.net", id: $0)
                }
                let ingest = ReportIngest(ledger: store, key: Self.key)
                let clock = ContinuousClock()
                let start = clock.now
                for (i, bytes) in reports.enumerated() {
                    _ = await ingest.ingest(ReceivedMessage(source: "bench:\(i)", bytes: bytes))
                }
                let elapsed = clock.now - start
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                let delivered = try await store.listProbes(limit: n).filter { $0.recipients[0].verdict == .delivered }
                #expect(delivered.count == n)
                lines.append(
                    "ledger ingest throughput: \(backend.rawValue): \(n) reports in \(String(format: "%.2f", seconds)) s = \(String(format: "%.0f", Double(n) / seconds)) reports/s"
                )
            }
        }
        for l in lines { print(l) }
    }
}
