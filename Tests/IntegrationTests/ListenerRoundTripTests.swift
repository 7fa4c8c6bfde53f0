import Foundation
import Testing

/// Round trips where reports come straight to our own listener: Postfix
/// routes `return.rt.test` to 127.0.0.1:2627.
@Suite(
    .enabled(if: TestEnv.enabled, "needs the services of scripts/test-env.sh (ROUNDTRIP_INTEGRATION=1)"), .serialized)
struct ListenerRoundTripTests {
    var returnPort: String { TestEnv.value("ROUNDTRIP_TEST_RETURN_PORT") }

    func newLedger() -> String { NSTemporaryDirectory() + "roundtrip-lrt-\(UUID().uuidString)/ledger.sqlite" }

    @Test func verifyWithItsOwnListener() async throws {
        try await withFixedPorts {
            let r = try await roundtrip(
                [
                    "verify", "--to", "alice@rt.test", "--to", "nobody@rt.test", "--from", "roundtrip@return.rt.test",
                    "--server", TestEnv.smtp, "--listen", "127.0.0.1:\(returnPort)", "--ledger", newLedger(),
                    "--deadline", "30s", "--format", "json",
                ], timeout: 90)
            #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
            let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            let recs = doc["recipients"] as? [[String: Any]] ?? []
            #expect(recs.map { $0["verdict"] as? String } == ["delivered", "rejected"])
            #expect(recs.first?["matchedKey"] as? String == "envelope-rcpt")
            #expect(recs.first?["confidence"] as? String == "high")
            // Quiet by default: the listener's logs only with -v.
            #expect(!r.stderr.contains("message stored"))
        }
    }

    @Test func listenerPortInUseStopsBeforeSending() async throws {
        try await withFixedPorts {
            let busy = try await ListenerProcess.start(port: Int(returnPort) ?? 2627, domain: "return.rt.test")
            defer {
                busy.terminate()
                busy.removeFiles()
            }
            let r = try await roundtrip(
                [
                    "verify", "--to", "alice@rt.test", "--from", "roundtrip@return.rt.test", "--server", TestEnv.smtp,
                    "--listen", "127.0.0.1:\(returnPort)", "--ledger", newLedger(), "--deadline", "10s",
                ], timeout: 60)
            #expect(r.status == 78, "\(r.stdout)\(r.stderr)")
            #expect(r.stderr.contains("listener"))
        }
    }

    /// The split run of issue 5: a standing `listen --ledger`, `send` in one
    /// process, `status --wait` in another, all on one ledger; and `verify`
    /// without a feed of its own reading the same ledger.
    @Test func sendThenStatusWhileListenRuns() async throws {
        try await withFixedPorts {
            let ledger = newLedger()
            let listener = try await ListenerProcess.start(
                port: Int(returnPort) ?? 2627, domain: "return.rt.test", extra: ["--ledger", ledger])
            defer {
                listener.terminate()
                listener.removeFiles()
            }
            let sent = try await roundtrip([
                "send", "--to", "alice@rt.test", "--from", "roundtrip@return.rt.test", "--server", TestEnv.smtp,
                "--ledger", ledger, "--deadline", "30s",
            ])
            #expect(sent.status == 0, "\(sent.stdout)\(sent.stderr)")
            let token = String(sent.stdout.split(separator: "\n").first ?? "")
            let status = try await roundtrip(
                ["status", token, "--wait", "30s", "--ledger", ledger, "--format", "json"], timeout: 60)
            #expect(status.status == 0, "\(status.stdout)\(status.stderr)\n\(listener.log)")
            let doc = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
            let rec = (doc["recipients"] as? [[String: Any]])?.first
            #expect(rec?["verdict"] as? String == "delivered")
            #expect(rec?["matchedKey"] as? String == "envelope-rcpt")

            let verify = try await roundtrip(
                [
                    "verify", "--to", "bob@rt.test", "--from", "roundtrip@return.rt.test", "--server", TestEnv.smtp,
                    "--ledger", ledger, "--deadline", "30s", "--format", "json",
                ], timeout: 60)
            #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
            let vdoc = try #require(try JSONSerialization.jsonObject(with: Data(verify.stdout.utf8)) as? [String: Any])
            #expect(((vdoc["recipients"] as? [[String: Any]])?.first?["verdict"]) as? String == "delivered")

            // With --arrival too: the last hop offers no DSN, so the standing listener gets a
            // `relayed` report, and the arrival in carol's mailbox makes it `delivered`; the run
            // waits for both, the report through the ledger.
            let user = TestEnv.value("ROUNDTRIP_TEST_SIEVE_USER")
            let arrival = try await roundtrip(
                [
                    "verify", "--to", "carol@\(TestEnv.value("ROUNDTRIP_TEST_LASTHOP_DOMAIN"))", "--from",
                    "roundtrip@return.rt.test", "--server", TestEnv.smtp, "--ledger", ledger, "--deadline", "30s",
                    "--format", "json", "--arrival",
                    "imap://\(user.replacingOccurrences(of: "@", with: "%40"))@\(TestEnv.value("ROUNDTRIP_TEST_IMAP"))/INBOX",
                    "--arrival-password-file", TestEnv.passwordFile, "--ca-file", TestEnv.ca, "--cleanup",
                ], timeout: 60)
            #expect(arrival.status == 0, "\(arrival.stdout)\(arrival.stderr)\n\(listener.log)")
            let adoc = try #require(
                try JSONSerialization.jsonObject(with: Data(arrival.stdout.utf8)) as? [String: Any], "\(arrival.stdout)"
            )
            let arec = (adoc["recipients"] as? [[String: Any]])?.first
            #expect(arec?["verdict"] as? String == "delivered")
            #expect(arec?["proof"] as? String == "arrival")
            #expect(arec?["action"] as? String == "relayed")
            #expect((arec?["arrival"] as? [String: Any])?["folder"] as? String == "INBOX")
            #expect(await listener.stop() == 0)
        }
    }
}
