import Foundation
import TestSupport
import Testing

/// `verify --arrival` through real receiving-side components (scripts/test-env-auth.sh): the test
/// Postfix relays `lasthop.rt.test` to its port 2528, a next hop WITHOUT DSN (so the first hop
/// sends a `relayed` report), where OpenDKIM, OpenDMARC and policyd-spf add their
/// Authentication-Results (authserv-id `mx.rt.test`, keys and policies in the test dnsmasq), and
/// Dovecot LMTP delivers into carol's mailbox, where a Pigeonhole Sieve rule files mail for
/// `carol+junk` into the `\Junk` special-use folder.
@Suite(
    .enabled(if: TestEnv.enabled, "needs the services of scripts/test-env.sh (ROUNDTRIP_INTEGRATION=1)"), .serialized)
struct AuthenticatedArrivalTests {
    static let dir = NSTemporaryDirectory() + "roundtrip-auth-arrival-\(getpid())"
    static let ledgerPath = dir + "/ledger.sqlite"

    var reports: String { TestEnv.value("ROUNDTRIP_TEST_MAILDIR_ROOT") + "/rt.test/reports" }
    var carolMaildir: String { TestEnv.value("ROUNDTRIP_TEST_MAILDIR_ROOT") + "/rt.test/carol" }
    var carolURL: String {
        let user = TestEnv.value("ROUNDTRIP_TEST_SIEVE_USER").replacingOccurrences(of: "@", with: "%40")
        return "imap://\(user)@\(TestEnv.value("ROUNDTRIP_TEST_IMAP"))/INBOX"
    }
    var lastHop: String { TestEnv.value("ROUNDTRIP_TEST_LASTHOP_DOMAIN") }
    var rsaKey: [String] {
        [
            "--dkim-key", TestEnv.value("ROUNDTRIP_TEST_DKIM_RSA_KEY"), "--dkim-selector",
            TestEnv.value("ROUNDTRIP_TEST_DKIM_RSA_SELECTOR"),
        ]
    }

    func verify(_ extra: [String], to: String, from: String = "reports@rt.test", deadline: String = "60s")
        async throws -> (RunResult, [String: Any])
    {
        try FileManager.default.createDirectory(atPath: Self.dir, withIntermediateDirectories: true)
        let r = try await roundtrip(
            [
                "verify", "--from", from, "--to", to, "--ca-file", TestEnv.ca, "--deadline", deadline, "--ledger",
                Self.ledgerPath, "--format", "json", "--verbose",
            ] + extra + (extra.contains("--arrival") ? ["--arrival-password-file", TestEnv.passwordFile] : []),
            timeout: 150)
        let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        return (r, try #require(obj, "not JSON: \(r.stdout) \(r.stderr)"))
    }

    func recipient(_ doc: [String: Any]) -> [String: Any] {
        (doc["recipients"] as? [[String: Any]])?.first ?? [:]
    }

    func authentication(_ rec: [String: Any]) -> [String: Any] {
        ((rec["arrival"] as? [String: Any])?["authentication"] as? [String: Any]) ?? [:]
    }

    func dkim(_ rec: [String: Any]) -> [[String: String]] {
        (authentication(rec)["dkim"] as? [[String: Any]] ?? []).map { d in
            d.compactMapValues { $0 as? String }
        }
    }

    /// The route the issue names: without --arrival the first hop's `relayed` report is all
    /// there is; with it, the probe is seen in carol's INBOX with the receiver's results.
    @Test func relayedToALastHopWithoutDSNThenArrivalIsDeliveredWithAuthentication() async throws {
        let (relayed, rdoc) = try await verify(
            ["--maildir", reports, "--server", TestEnv.smtp] + rsaKey, to: "carol@\(lastHop)")
        #expect(recipient(rdoc)["verdict"] as? String == "relayed", "\(relayed.stdout)\(relayed.stderr)")
        #expect(recipient(rdoc)["proof"] as? String == "report")
        // That probe still arrives (nobody watched): removed so later runs see a clean mailbox.
        if let token = rdoc["token"] as? String {
            let arrived = try await eventually { try Self.files(in: carolMaildir, containing: token) }
            for f in arrived { try? FileManager.default.removeItem(atPath: f) }
        }

        let (r, doc) = try await verify(
            ["--maildir", reports, "--server", TestEnv.smtp, "--arrival", carolURL, "--cleanup"] + rsaKey,
            to: "carol@\(lastHop)")
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let rec = recipient(doc)
        #expect(rec["verdict"] as? String == "delivered")
        #expect(rec["proof"] as? String == "arrival")
        #expect(rec["action"] as? String == "relayed")
        let arrival = try #require(rec["arrival"] as? [String: Any], "\(r.stdout)")
        #expect(arrival["folder"] as? String == "INBOX")
        #expect(arrival["junk"] as? Bool == false)
        let auth = authentication(rec)
        #expect(auth["authservID"] as? String == TestEnv.value("ROUNDTRIP_TEST_AUTHSERV_ID"), "\(arrival)")
        #expect(auth["spf"] as? String == "pass", "\(arrival)")
        #expect(auth["dmarc"] as? String == "pass", "\(arrival)")
        #expect(
            dkim(rec).contains {
                $0["result"] == "pass" && $0["domain"] == "rt.test"
                    && $0["selector"] == TestEnv.value("ROUNDTRIP_TEST_DKIM_RSA_SELECTOR")
            }, "\(arrival)")
        // Submission hop, the last hop, and Dovecot's LMTP delivery.
        let hops = try #require(arrival["hops"] as? [[String: Any]])
        #expect(hops.count >= 3, "\(hops)")
        #expect(hops.contains { ($0["with"] as? String)?.hasPrefix("LMTP") == true }, "\(hops)")
        #expect(rec["endToEndSeconds"] is Double)
        let token = try #require(doc["token"] as? String)
        #expect(try Self.files(in: carolMaildir, containing: token).isEmpty)  // --cleanup
    }

    /// Sieve files mail for `carol+junk` into Junk, which Dovecot marks `\Junk` (RFC 6154): the
    /// run finds it there without --arrival-junk. Junk placement warns (3), fails with --strict (1).
    @Test func sieveFilesTheProbeIntoTheSpecialUseJunkFolder() async throws {
        for strict in [false, true] {
            let (r, doc) = try await verify(
                ["--maildir", reports, "--server", TestEnv.smtp, "--arrival", carolURL, "--cleanup"] + rsaKey
                    + (strict ? ["--strict"] : []), to: "carol+junk@\(lastHop)")
            #expect(r.status == (strict ? 1 : 3), "\(r.stdout)\(r.stderr)")
            let rec = recipient(doc)
            #expect(rec["verdict"] as? String == "delivered")
            let arrival = try #require(rec["arrival"] as? [String: Any], "\(r.stdout)")
            #expect(arrival["folder"] as? String == "Junk")
            #expect(arrival["junk"] as? Bool == true)
            #expect(authentication(rec)["dmarc"] as? String == "pass", "\(arrival)")
            let token = try #require(doc["token"] as? String)
            #expect(try Self.files(in: carolMaildir + "/.Junk", containing: token).isEmpty)  // --cleanup
        }
    }

    /// Signed with a key that is not the published one: OpenDKIM says dkim=fail, which warns
    /// (3) and fails under --strict (1). SPF still passes for rt.test, so DMARC passes.
    @Test func aSignatureWithTheWrongKeyIsADKIMFail() async throws {
        let wrong = [
            "--dkim-key", TestEnv.value("ROUNDTRIP_TEST_DKIM_WRONG_KEY"), "--dkim-selector",
            TestEnv.value("ROUNDTRIP_TEST_DKIM_RSA_SELECTOR"),
        ]
        for strict in [false, true] {
            let (r, doc) = try await verify(
                ["--maildir", reports, "--server", TestEnv.smtp, "--arrival", carolURL, "--cleanup"] + wrong
                    + (strict ? ["--strict"] : []), to: "carol@\(lastHop)")
            #expect(r.status == (strict ? 1 : 3), "\(r.stdout)\(r.stderr)")
            let rec = recipient(doc)
            #expect(rec["verdict"] as? String == "delivered")
            #expect(dkim(rec).first?["result"] == "fail", "\(rec)")
            #expect(authentication(rec)["spf"] as? String == "pass")
        }
    }

    /// RFC 8463: an Ed25519 signature, verified by OpenDKIM against the key in DNS.
    @Test func anEd25519SignatureVerifiesAtTheReceiver() async throws {
        let (r, doc) = try await verify(
            [
                "--maildir", reports, "--server", TestEnv.smtp, "--arrival", carolURL, "--cleanup", "--dkim-key",
                TestEnv.value("ROUNDTRIP_TEST_DKIM_ED25519_KEY"), "--dkim-selector",
                TestEnv.value("ROUNDTRIP_TEST_DKIM_ED25519_SELECTOR"),
            ], to: "carol@\(lastHop)")
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let rec = recipient(doc)
        #expect(
            dkim(rec).contains {
                $0["result"] == "pass" && $0["selector"] == TestEnv.value("ROUNDTRIP_TEST_DKIM_ED25519_SELECTOR")
            }, "\(rec)")
    }

    /// A sender domain whose SPF record does not allow 127.0.0.1 and whose DMARC policy is
    /// reject: spf=fail, and dmarc=fail although the probe carries a valid rt.test signature
    /// (not aligned with the From domain). Sent straight to the last hop, a pure mailbox loop
    /// (--no-report): the arrival decides, the DMARC failure warns (3) or fails (1).
    @Test func spfAndDMARCFailuresAreSeen() async throws {
        let domain = TestEnv.value("ROUNDTRIP_TEST_SPF_FAIL_DOMAIN")
        for strict in [false, true] {
            let (r, doc) = try await verify(
                [
                    "--server", TestEnv.value("ROUNDTRIP_TEST_SMTP_AUTH"), "--no-report", "--arrival", carolURL,
                    "--cleanup", "--dkim-domain", "rt.test",
                ] + rsaKey + (strict ? ["--strict"] : []),
                to: TestEnv.value("ROUNDTRIP_TEST_SIEVE_USER"), from: "probe@\(domain)")
            #expect(r.status == (strict ? 1 : 3), "\(r.stdout)\(r.stderr)")
            let rec = recipient(doc)
            #expect(rec["verdict"] as? String == "delivered", "\(rec)")
            let auth = authentication(rec)
            #expect(auth["spf"] as? String == "fail", "\(auth)")
            #expect(auth["dmarc"] as? String == "fail", "\(auth)")
            #expect(dkim(rec).first?["result"] == "pass", "\(auth)")
        }
    }

    // MARK: Helpers

    /// Polls `body` until it returns a non-empty list (the probe nobody watched arrives on its own time).
    func eventually(_ body: () throws -> [String]) async throws -> [String] {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let found = try body()
            if !found.isEmpty { return found }
            try await Task.sleep(for: .milliseconds(200))
        }
        return []
    }

    static func files(in maildir: String, containing token: String) throws -> [String] {
        try ArrivalTests.files(in: maildir, containing: token)
    }
}
