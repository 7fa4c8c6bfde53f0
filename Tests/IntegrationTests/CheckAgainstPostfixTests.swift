import Foundation
import Testing

/// `roundtrip check` against the real Postfix (and Dovecot SASL, dnsmasq)
/// that scripts/test-env.sh starts on loopback.
@Suite(
    .enabled(if: TestEnv.enabled, "needs the services of scripts/test-env.sh (ROUNDTRIP_INTEGRATION=1)"), .serialized)
struct CheckAgainstPostfixTests {
    func json(_ r: RunResult) async throws -> [String: Any] {
        let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8))
        return try #require(obj as? [String: Any], "not a JSON object: \(r.stdout) \(r.stderr)")
    }

    func firstResult(_ doc: [String: Any]) async throws -> [String: Any] {
        let results = try #require(doc["results"] as? [[String: Any]])
        return try #require(results.first)
    }

    @Test func plainDialogAdvertisesDSN() async throws {
        let r = try await roundtrip(["check", TestEnv.smtp, "--starttls", "never", "--format", "json"])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let result = try await firstResult(try await json(r))
        #expect(result["dsn"] as? Bool == true)
        let keywords = (result["capabilities"] as? [[String: Any]] ?? []).compactMap { $0["keyword"] as? String }
        #expect(keywords.contains("DSN") && keywords.contains("PIPELINING") && keywords.contains("STARTTLS"))
        #expect((result["banner"] as? String)?.contains("mx.rt.test") == true)
    }

    @Test func startTLSWithSelfSignedCertificateIsAWarningOnPort25() async throws {
        let r = try await roundtrip(["check", TestEnv.smtp])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("WARN tls"))
        #expect(r.stdout.contains("certificate chain not trusted"))
        #expect(r.stdout.contains("PASS with"))
        #expect(r.stdout.contains("DSN: advertised"))
    }

    @Test func strictVerificationFailsWithExitCode23() async throws {
        let r = try await roundtrip(["check", TestEnv.smtp, "--tls-verify", "strict"])
        #expect(r.status == 23, "\(r.stdout)\(r.stderr)")
        let wrongCA = try await roundtrip([
            "check", TestEnv.smtp, "--tls-verify", "strict", "--ca-file", TestEnv.otherCA,
        ])
        #expect(wrongCA.status == 23)
    }

    @Test func caFileMakesItVerifyWithAllTLSFacts() async throws {
        let r = try await roundtrip([
            "check", "localhost:\(TestEnv.port(of: TestEnv.smtp))", "--tls-verify", "strict", "--ca-file", TestEnv.ca,
            "--format", "json",
        ])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let tls = try #require(try await firstResult(try await json(r))["tls"] as? [String: Any])
        #expect(tls["verification"] as? String == "verified")
        #expect(tls["chainVerified"] as? Bool == true)
        #expect(tls["hostnameMatched"] as? Bool == true)
        #expect((tls["protocolVersion"] as? String)?.hasPrefix("TLSv1.") == true)
        #expect((tls["cipher"] as? String)?.hasPrefix("TLS_") == true)
        #expect((tls["subjectAlternativeNames"] as? [String])?.contains("DNS:localhost") == true)
        #expect(tls["issuer"] is String && tls["subject"] is String && tls["notAfter"] is String)
    }

    @Test func verificationOffSkipsIt() async throws {
        let r = try await roundtrip(["check", TestEnv.smtp, "--tls-verify", "off", "--format", "json"])
        #expect(r.status == 0)
        let tls = try #require(try await firstResult(try await json(r))["tls"] as? [String: Any])
        #expect(tls["verification"] as? String == "skipped")
        #expect(tls["chainVerified"] == nil)
    }

    @Test func acceptedAndRefusedRecipients() async throws {
        let ok = try await roundtrip(["check", TestEnv.smtp, "--from", "probe@client.test", "--rcpt", "alice@rt.test"])
        #expect(ok.status == 0, "\(ok.stdout)\(ok.stderr)")
        let refused = try await roundtrip([
            "check", TestEnv.smtp, "--from", "probe@client.test", "--rcpt", "alice@rt.test", "--rcpt", "nobody@rt.test",
            "--format", "json",
        ])
        #expect(refused.status == 26, "\(refused.stdout)\(refused.stderr)")
        let steps = try await firstResult(try await json(refused))["steps"] as? [[String: Any]] ?? []
        let rcpt = steps.filter { $0["step"] as? String == "rcpt" }
        #expect(rcpt.count == 2)
        #expect(rcpt.last?["replyCode"] as? Int == 550)
        #expect(rcpt.last?["enhancedCode"] as? String == "5.1.1")
    }

    @Test func serverWithoutDSNIsReported() async throws {
        let r = try await roundtrip(["check", TestEnv.smtpNoDSN, "--starttls", "never"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("DSN: NOT advertised"))
    }

    @Test func submissionWithAuth() async throws {
        let port = TestEnv.port(of: TestEnv.submission)
        let good = try await roundtrip([
            "check", "localhost:\(port)", "--auth", TestEnv.user, "--password-file", TestEnv.passwordFile,
            "--starttls", "require", "--ca-file", TestEnv.ca, "-v",
        ])
        #expect(good.status == 0, "\(good.stdout)\(good.stderr)")
        #expect(good.stdout.contains("AUTH PLAIN <redacted>"))
        #expect(!good.stderr.contains("warning: the password file"))
        let password = try String(contentsOfFile: TestEnv.passwordFile, encoding: .utf8).trimmingCharacters(
            in: .newlines)
        #expect(!good.stdout.contains(password) && !good.stderr.contains(password))
        #expect(!good.stdout.contains(Data("\0\(TestEnv.user)\0\(password)".utf8).base64EncodedString()))

        let bad = try await roundtrip(
            [
                "check", "localhost:\(port)", "--auth", TestEnv.user, "--starttls", "require", "--ca-file", TestEnv.ca,
                "--format", "json",
            ],
            environment: ["ROUNDTRIP_PASSWORD": "wrong-password-Canary"])
        #expect(bad.status == 24, "\(bad.stdout)\(bad.stderr)")
        #expect(!bad.stdout.contains("wrong-password-Canary"))

        // A password file others can read is used, with a warning.
        let shared = NSTemporaryDirectory() + "roundtrip-shared-pw-\(UUID().uuidString)"
        try FileManager.default.copyItem(atPath: TestEnv.passwordFile, toPath: shared)
        defer { try? FileManager.default.removeItem(atPath: shared) }
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: shared)
        let warned = try await roundtrip([
            "check", "localhost:\(port)", "--auth", TestEnv.user, "--password-file", shared,
            "--starttls", "require", "--ca-file", TestEnv.ca,
        ])
        #expect(warned.status == 0, "\(warned.stdout)\(warned.stderr)")
        #expect(
            warned.stderr.contains(
                "warning: the password file \(shared) is readable by group or others (mode 644); chmod 600 it"))

        // Submission with AUTH: an untrusted certificate is fatal in auto mode.
        let untrusted = try await roundtrip([
            "check", "localhost:\(port)", "--auth", TestEnv.user, "--password-file", TestEnv.passwordFile,
        ])
        #expect(untrusted.status == 23, "\(untrusted.stdout)")
    }

    @Test func authIsNeverSentInPlaintext() async throws {
        // Port 2525 offers no AUTH before TLS; with --starttls never the check refuses.
        let r = try await roundtrip([
            "check", TestEnv.submission, "--auth", TestEnv.user, "--password-file", TestEnv.passwordFile, "--starttls",
            "never",
        ])
        #expect(r.status == 24 || r.status == 23, "\(r.stdout)")
    }

    @Test func implicitTLS() async throws {
        let port = TestEnv.port(of: TestEnv.submissions)
        let r = try await roundtrip([
            "check", "localhost:\(port)", "--tls", "implicit", "--ca-file", TestEnv.ca,
            "--auth", TestEnv.user, "--password-file", TestEnv.passwordFile, "--format", "json",
        ])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let tls = try #require(try await firstResult(try await json(r))["tls"] as? [String: Any])
        #expect(tls["verification"] as? String == "verified")
    }

    @Test func domainChecksEveryMXInPreferenceOrder() async throws {
        let port = TestEnv.port(of: TestEnv.smtp)
        let r = try await roundtrip([
            "check", "--domain", "multi.rt.test", "--dns-server", TestEnv.dns, "--port", port, "--starttls", "never",
            "--format", "json",
        ])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let doc = try await json(r)
        let hosts = (doc["results"] as? [[String: Any]] ?? []).compactMap { $0["host"] as? String }
        #expect(hosts == ["mx2.rt.test", "mx1.rt.test", "mx3.rt.test"])
        let mx = try #require(doc["mx"] as? [String: Any])
        #expect((mx["exchangers"] as? [[String: Any]])?.compactMap { $0["preference"] as? Int } == [10, 20, 30])
    }

    @Test func nullMXIsReportedNotTried() async throws {
        let r = try await roundtrip(["check", "--domain", "nullmx.rt.test", "--dns-server", TestEnv.dns])
        #expect(r.status == 10, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("null MX"))
    }

    @Test func closedPortGivesTheConnectCodeAndOneLine() async throws {
        let r = try await roundtrip(["check", "127.0.0.1:1", "--connect-timeout", "5"])
        #expect(r.status == 20)
        #expect(r.stdout.contains("FAIL at connect"))
        #expect(!r.stderr.contains("Fatal error") && !r.stderr.contains("backtrace"))
    }

    @Test func usageErrorsExit64() async throws {
        #expect(try await roundtrip(["check"]).status == 64)
        #expect(try await roundtrip(["check", "127.0.0.1", "--rcpt", "a\rb@x"]).status == 64)
        #expect(try await roundtrip(["check", "127.0.0.1", "--starttls", "sometimes"]).status == 64)
    }

    @Test func missingPasswordIsAConfigurationError() async throws {
        let r = try await roundtrip(
            ["check", TestEnv.submission, "--auth", "x@rt.test"], environment: ["ROUNDTRIP_PASSWORD": ""])
        #expect(r.status == 78, "\(r.stdout)\(r.stderr)")
    }
}
