import Foundation
import TestSupport
import Testing

/// `verify --arrival`: the probe goes through the test Postfix into alice's
/// Maildir, and Dovecot (IMAP, IDLE) shows it in her INBOX, where the run
/// finds it by its token. DKIM signatures are checked by an independent
/// verifier (dkimpy, `python3-dkim`) on the message as Postfix delivered it.
/// The receiving side's own checks (OpenDKIM, OpenDMARC, SPF), the relayed
/// route and Sieve's Junk placement are in AuthenticatedArrivalTests.
@Suite(
    .enabled(if: TestEnv.enabled, "needs the services of scripts/test-env.sh (ROUNDTRIP_INTEGRATION=1)"), .serialized)
struct ArrivalTests {
    static let dir = NSTemporaryDirectory() + "roundtrip-arrival-\(getpid())"
    static let ledgerPath = dir + "/ledger.sqlite"

    var reports: String { TestEnv.value("ROUNDTRIP_TEST_MAILDIR_ROOT") + "/rt.test/reports" }
    var aliceMaildir: String { TestEnv.value("ROUNDTRIP_TEST_MAILDIR_ROOT") + "/rt.test/alice" }
    var aliceURL: String { "imap://alice%40rt.test@\(TestEnv.value("ROUNDTRIP_TEST_IMAP"))/INBOX" }

    func verify(_ extra: [String], to: String = "alice@rt.test", deadline: String = "40s") async throws -> (
        RunResult, [String: Any]
    ) {
        let r = try await roundtrip(
            [
                "verify", "--from", "reports@rt.test", "--to", to, "--arrival", aliceURL,
                "--arrival-password-file", TestEnv.passwordFile, "--ca-file", TestEnv.ca, "--deadline", deadline,
                "--ledger", Self.ledgerPath, "--format", "json", "--verbose",
            ] + extra, timeout: 120)
        let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        return (r, try #require(obj, "not JSON: \(r.stdout) \(r.stderr)"))
    }

    func recipient(_ doc: [String: Any]) -> [String: Any] {
        (doc["recipients"] as? [[String: Any]])?.first ?? [:]
    }

    @Test func reportAndArrivalInTheInbox() async throws {
        let (r, doc) = try await verify(["--server", TestEnv.smtp, "--maildir", reports, "--cleanup"])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let rec = recipient(doc)
        #expect(rec["verdict"] as? String == "delivered")
        let arrival = try #require(rec["arrival"] as? [String: Any], "\(r.stdout)")
        #expect(arrival["folder"] as? String == "INBOX")
        #expect(arrival["junk"] as? Bool == false)
        #expect(arrival["tokenIn"] as? [String] == ["X-Roundtrip-Probe", "Message-ID"])
        let hops = try #require(arrival["hops"] as? [[String: Any]])
        #expect(hops.first?["by"] as? String == "mx.rt.test")
        // roundtrip uses STARTTLS where offered: Postfix records ESMTPS.
        #expect(hops.first?["with"] as? String == "ESMTPS")
        #expect(hops.first?["tls"] as? Bool == true)
        #expect(arrival["internalDate"] is String)
        #expect(rec["endToEndSeconds"] is Double)
        // --cleanup moved the probe out of the INBOX.
        let token = try #require(doc["token"] as? String)
        #expect(try Self.files(in: aliceMaildir, containing: token).isEmpty)
    }

    /// A filter that files spam elsewhere than the folder the server marks `\Junk`:
    /// `--arrival-junk Spam` names it. The next hop files the probe into alice's `Spam` folder
    /// (Maildir++, which Dovecot does not mark special-use); the run watches INBOX, Junk and
    /// Spam, and Junk placement is a warning (exit 3), a failure with --strict (exit 1). Sieve
    /// and the `\Junk` special-use folder: AuthenticatedArrivalTests.
    @Test func arrivalInTheNamedJunkFolderWarnsAndFailsWithStrict() async throws {
        let junk = aliceMaildir + "/.Spam"
        for sub in ["", "/cur", "/new", "/tmp"] {
            try FileManager.default.createDirectory(atPath: junk + sub, withIntermediateDirectories: true)
        }
        try Self.run("/bin/chown", ["-R", "rtmail:rtmail", junk])
        try await withFixedPorts {
            try await ScriptedSMTPServer.with(
                greeting: "220 hop.relay.rt.test ESMTP\r\n", port: 2626,
                onMessage: { lines in
                    let name = "\(Int(Date().timeIntervalSince1970)).M\(UUID().uuidString)P\(getpid()).hop.rt.test"
                    let data = Data((lines.joined(separator: "\r\n") + "\r\n").utf8)
                    _ = FileManager.default.createFile(atPath: junk + "/tmp/" + name, contents: data)
                    _ = try? Self.run("/bin/chown", ["rtmail:rtmail", junk + "/tmp/" + name])
                    try? FileManager.default.moveItem(atPath: junk + "/tmp/" + name, toPath: junk + "/new/" + name)
                }, script: VerifyAgainstPostfixTests.nextHop
            ) { _ in
                for strict in [false, true] {
                    let tag = UUID().uuidString.prefix(8).lowercased()
                    let (r, doc) = try await verify(
                        ["--server", TestEnv.smtp, "--maildir", reports, "--arrival-junk", "Spam", "--cleanup"]
                            + (strict ? ["--strict"] : []), to: "accept-\(tag)@relay.rt.test")
                    #expect(r.status == (strict ? 1 : 3), "\(r.stdout)\(r.stderr)")
                    let rec = recipient(doc)
                    #expect(rec["verdict"] as? String == "delivered")
                    let arrival = try #require(rec["arrival"] as? [String: Any], "\(r.stdout)")
                    #expect(arrival["folder"] as? String == "Spam")
                    #expect(arrival["junk"] as? Bool == true)
                    let token = try #require(doc["token"] as? String)
                    #expect(try Self.files(in: junk, containing: token).isEmpty)  // --cleanup
                }
            }
        }
    }

    @Test func noDSNThenArrivalIsArrivedOrDeliveredWithNoReport() async throws {
        let (r, doc) = try await verify(["--server", TestEnv.smtpNoDSN, "--maildir", reports, "--cleanup"])
        #expect(r.status == 3, "\(r.stdout)\(r.stderr)")
        #expect(recipient(doc)["verdict"] as? String == "arrived")
        #expect(recipient(doc)["proof"] as? String == "arrival")
        // The ledger recorded the arrival: status says what verify said.
        let token = try #require(doc["token"] as? String)
        let status = try await roundtrip(
            ["status", token, "--ledger", Self.ledgerPath, "--format", "json"], timeout: 60)
        let sdoc = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
        #expect(status.status == 3, "\(status.stdout)\(status.stderr)")
        #expect(recipient(sdoc)["verdict"] as? String == "arrived")
        #expect((recipient(sdoc)["arrival"] as? [String: Any])?["folder"] as? String == "INBOX")

        let (pure, pdoc) = try await verify(["--server", TestEnv.smtpNoDSN, "--no-report", "--cleanup"])
        #expect(pure.status == 0, "\(pure.stdout)\(pure.stderr)")
        #expect(recipient(pdoc)["verdict"] as? String == "delivered")
        #expect(recipient(pdoc)["inbound"] as? String == "not tested (--no-report)")

        let (strict, _) = try await verify(["--server", TestEnv.smtpNoDSN, "--strict", "--cleanup"], deadline: "20s")
        #expect(strict.status == 1, "\(strict.stdout)\(strict.stderr)")
    }

    @Test func nagiosCarriesTheEndToEndTime() async throws {
        let r = try await roundtrip(
            [
                "verify", "--from", "reports@rt.test", "--to", "alice@rt.test", "--server", TestEnv.smtpNoDSN,
                "--arrival", aliceURL, "--no-report", "--cleanup", "--ca-file", TestEnv.ca, "--deadline", "40s",
                "--ledger", Self.ledgerPath, "--format", "nagios",
            ],
            environment: [
                "ROUNDTRIP_ARRIVAL_PASSWORD": try String(contentsOfFile: TestEnv.passwordFile, encoding: .utf8)
            ],
            timeout: 120)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.hasPrefix("ROUNDTRIP OK - 1 delivered"))
        #expect(r.stdout.contains("e2e_max="))
    }

    @Test(arguments: ["ed25519", "rsa"])
    func dkimSignedProbeVerifiesAtTheReceiver(algorithm: String) async throws {
        try FileManager.default.createDirectory(atPath: Self.dir, withIntermediateDirectories: true)
        let key = Self.dir + "/dkim-\(algorithm).pem"
        let other = Self.dir + "/dkim-\(algorithm)-other.pem"
        for k in [key, other] { try Self.genkey(algorithm, k) }
        // A key others can read is refused.
        try Self.run("/bin/chmod", ["644", key])
        let (refused, _) = try await verifyRaw([
            "--server", TestEnv.smtpNoDSN, "--no-report", "--dkim-key", key, "--dkim-selector", "s1",
        ])
        #expect(refused.status == 78, "\(refused.stdout)\(refused.stderr)")
        #expect(refused.stderr.contains("readable by group or others"))
        try Self.run("/bin/chmod", ["600", key])

        let (r, doc) = try await verify([
            "--server", TestEnv.smtpNoDSN, "--no-report", "--dkim-key", key, "--dkim-selector", "s1",
        ])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let token = try #require(doc["token"] as? String)
        let file = try #require(try Self.files(in: aliceMaildir, containing: token).first)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let delivered = try String(contentsOfFile: file, encoding: .utf8)
        #expect(
            delivered.contains(
                "a=\(algorithm == "rsa" ? "rsa-sha256" : "ed25519-sha256"); c=relaxed/relaxed; d=rt.test; s=s1;"))
        // dkimpy verifies it with the right public key, and refuses it with another one.
        #expect(try Self.dkimVerify(file, record: try Self.record(algorithm, key)) == "pass")
        #expect(try Self.dkimVerify(file, record: try Self.record(algorithm, other)) == "fail")
    }

    func verifyRaw(_ extra: [String]) async throws -> (RunResult, Void) {
        let r = try await roundtrip(
            [
                "verify", "--from", "reports@rt.test", "--to", "alice@rt.test", "--arrival", aliceURL,
                "--arrival-password-file", TestEnv.passwordFile, "--deadline", "20s", "--ledger", Self.ledgerPath,
            ] + extra, timeout: 60)
        return (r, ())
    }

    // MARK: Helpers

    static func files(in maildir: String, containing token: String) throws -> [String] {
        var out: [String] = []
        for sub in ["new", "cur"] {
            let d = maildir + "/" + sub
            for name in (try? FileManager.default.contentsOfDirectory(atPath: d)) ?? [] {
                if let data = FileManager.default.contents(atPath: d + "/" + name),
                    String(decoding: data, as: UTF8.self).contains(token)
                {
                    out.append(d + "/" + name)
                }
            }
        }
        return out
    }

    @discardableResult
    static func run(_ tool: String, _ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func genkey(_ algorithm: String, _ path: String) throws {
        try? FileManager.default.removeItem(atPath: path)
        let args =
            algorithm == "rsa"
            ? ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", path]
            : ["genpkey", "-algorithm", "ed25519", "-out", path]
        try run("/usr/bin/openssl", args)
        try run("/bin/chmod", ["600", path])
    }

    /// The DNS TXT record for the key: `p=` is the SubjectPublicKeyInfo for
    /// RSA, the raw 32-octet key for Ed25519 (RFC 8463 §4.2).
    static func record(_ algorithm: String, _ path: String) throws -> String {
        let der = try run("/bin/sh", ["-c", "/usr/bin/openssl pkey -in '\(path)' -pubout -outform DER | base64 -w0"])
        if algorithm == "rsa" { return "v=DKIM1; k=rsa; p=\(der)" }
        let raw = try #require(Data(base64Encoded: der)).suffix(32).base64EncodedString()
        return "v=DKIM1; k=ed25519; p=\(raw)"
    }

    static func dkimVerify(_ file: String, record: String) throws -> String {
        let script = """
            import sys, dkim
            msg = open(sys.argv[1], 'rb').read()
            rec = sys.argv[2].encode()
            print('pass' if dkim.verify(msg, dnsfunc=lambda name, timeout=5: rec) else 'fail')
            """
        return try run("/usr/bin/python3", ["-c", script, file, record])
    }
}
