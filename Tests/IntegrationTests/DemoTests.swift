import Foundation
import Testing

/// `roundtrip demo`, the README's first command: no services, loopback only.
@Suite struct DemoTests {
    @Test func demoProducesEveryExpectedVerdict() async throws {
        let r = try await roundtrip(["demo"], timeout: 90)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("demo: every verdict is the expected one"))
        for line in [
            "ok   success@sim.test   delivered", "ok   reject@sim.test    rejected", "ok   relay@sim.test     relayed",
            "ok   unknown@sim.test   failed", "ok   success@sim.test   dsn-unavailable",
        ] {
            #expect(r.stdout.contains(line), "missing: \(line)")
        }
        // The simulator's certificate comes from the demo's own CA, which the client trusts;
        // runs whose verdicts are the expected ones do not say NOT PROVEN.
        #expect(
            r.stdout.contains("TLSv1.3, certificate verified") || r.stdout.contains("TLSv1.2, certificate verified"),
            "\(r.stdout)")
        #expect(!r.stdout.contains("TLS certificate:") && !r.stdout.contains("certificate failed"), "\(r.stdout)")
        #expect(!r.stdout.contains("NOT PROVEN"), "\(r.stdout)")
        #expect(r.stdout.contains("AS EXPECTED (verify exits 1 for these verdicts"))
        #expect(r.stdout.contains("AS EXPECTED (verify exits 3 for these verdicts"))
    }

    @Test func demoJSONHoldsBothRuns() async throws {
        let r = try await roundtrip(["demo", "--format", "json", "--delay-seconds", "1"], timeout: 90)
        #expect(r.status == 0, "\(r.stderr)")
        let runs = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
        #expect(runs.count == 2)
        let verdicts = (runs[0]["recipients"] as? [[String: Any]] ?? []).compactMap { $0["verdict"] as? String }
        #expect(verdicts == ["delivered", "delivered", "relayed", "failed", "failed", "failed", "rejected"])
    }
}
