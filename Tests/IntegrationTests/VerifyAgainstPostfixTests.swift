import Foundation
import TestSupport
import Testing

/// Full round trips through real Postfix: the probe goes to Postfix on
/// loopback, Postfix's DSN comes back to reports+TOKEN@rt.test, which Postfix
/// delivers into the reports Maildir that `verify --maildir` reads.
/// Next-hop cases use a scripted server on 127.0.0.1:2626, where Postfix
/// routes `relay.rt.test`: `reject-*` is refused with 550 5.1.1, `defer-*`
/// gets 451, anything else is accepted (and the hop offers no DSN).
@Suite(
    .enabled(if: TestEnv.enabled, "needs the services of scripts/test-env.sh (ROUNDTRIP_INTEGRATION=1)"), .serialized)
struct VerifyAgainstPostfixTests {
    static let ledgerPath = NSTemporaryDirectory() + "roundtrip-verify-\(getpid())/ledger.sqlite"

    var maildir: String { TestEnv.value("ROUNDTRIP_TEST_MAILDIR_ROOT") + "/rt.test/reports" }

    /// How the reports come back: the reports Maildir, our own listener on the
    /// return domain's port, or Dovecot over IMAP (IDLE).
    enum Receipt: String, CaseIterable, Sendable {
        case maildir, listener, imap

        /// The key that ties Postfix's DSN to the probe in this mode.
        var expectedKey: String { self == .listener ? "envelope-rcpt" : "delivered-to" }
    }

    func receiptArguments(_ receipt: Receipt) -> [String] {
        switch receipt {
        case .maildir:
            return ["--from", "reports@rt.test", "--maildir", maildir]
        case .listener:
            return [
                "--from", "roundtrip@return.rt.test", "--listen",
                "127.0.0.1:\(TestEnv.value("ROUNDTRIP_TEST_RETURN_PORT"))",
            ]
        case .imap:
            return [
                "--from", "reports@rt.test", "--imap",
                "imap://reports%40rt.test@\(TestEnv.value("ROUNDTRIP_TEST_IMAP"))/INBOX",
                "--password-file", TestEnv.passwordFile, "--ca-file", TestEnv.ca,
            ]
        }
    }

    func verify(_ extra: [String], deadline: String = "30s", receipt: Receipt = .maildir) async throws -> (
        RunResult, [String: Any]
    ) {
        let r = try await roundtrip(
            ["verify", "--server", TestEnv.smtp] + receiptArguments(receipt) + [
                "--deadline", deadline, "--ledger", Self.ledgerPath, "--format", "json",
            ] + extra, timeout: 120)
        let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        return (r, try #require(obj, "not JSON: \(r.stdout) \(r.stderr)"))
    }

    func recipients(_ doc: [String: Any]) -> [[String: Any]] { doc["recipients"] as? [[String: Any]] ?? [] }

    static func nextHop(_ line: String, _ tls: Bool) -> ScriptedSMTPServer.Step {
        let u = line.uppercased()
        if u.hasPrefix("EHLO") { return .send("250-hop.relay.rt.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n") }
        if u.hasPrefix("MAIL") { return .send("250 2.1.0 Ok\r\n") }
        if u.hasPrefix("RCPT") {
            if u.contains("<REJECT-") { return .send("550 5.1.1 <user>: no such user here\r\n") }
            if u.contains("<DEFER-") { return .send("451 4.3.0 try again later\r\n") }
            return .send("250 2.1.5 Ok\r\n")
        }
        if u == "DATA" { return .send("354 go ahead\r\n") }
        if u == "." { return .send("250 2.0.0 Ok: queued\r\n") }
        if u == "RSET" { return .send("250 2.0.0 Ok\r\n") }
        if u == "QUIT" { return .sendThenClose("221 2.0.0 Bye\r\n") }
        return .send("502 5.5.2 not implemented\r\n")
    }

    @Test(arguments: Receipt.allCases)
    func deliveredAndRejected(receipt: Receipt) async throws {
        // Our listener takes the return domain's fixed port: take turns with other suites.
        let (r, doc) =
            receipt == .listener
            ? try await withFixedPorts {
                try await verify(["--to", "alice@rt.test", "--to", "nobody@rt.test"], receipt: receipt)
            }
            : try await verify(["--to", "alice@rt.test", "--to", "nobody@rt.test"], receipt: receipt)
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        let recs = recipients(doc)
        #expect(recs.map { $0["verdict"] as? String } == ["delivered", "rejected"])
        #expect(recs.first?["matchedKey"] as? String == receipt.expectedKey)
        #expect(recs.first?["confidence"] as? String == "high")
        #expect(recs.first?["status"] as? String == "2.0.0")
        #expect(recs.last?["smtpEnhancedCode"] as? String == "5.1.1")
        #expect(recs.first?["roundTripSeconds"] is Double)
    }

    @Test func deliveredAloneExitsZeroInEveryFormat() async throws {
        let (r, doc) = try await verify(["--to", "bob@rt.test"])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(recipients(doc).first?["verdict"] as? String == "delivered")
        let junit = try await roundtrip(
            [
                "verify", "--from", "reports@rt.test", "--server", TestEnv.smtp, "--maildir", maildir, "--to",
                "alice@rt.test",
                "--ledger", Self.ledgerPath, "--format", "junit",
            ], timeout: 120)
        #expect(junit.status == 0)
        #expect(junit.stdout.contains("<testcase classname=\"roundtrip.verify\" name=\"alice@rt.test\""))
        #expect(junit.stdout.contains("failures=\"0\""))
        let nagios = try await roundtrip(
            [
                "verify", "--from", "reports@rt.test", "--server", TestEnv.smtp, "--maildir", maildir, "--to",
                "alice@rt.test",
                "--ledger", Self.ledgerPath, "--format", "nagios",
            ], timeout: 120)
        #expect(nagios.status == 0)
        #expect(nagios.stdout.hasPrefix("ROUNDTRIP OK - 1 delivered"))
        #expect(nagios.stdout.contains("| rtt_max="))
    }

    @Test(arguments: ["imap", "imaps", "pop3"])
    func reportsReadOverIMAPOrPOP3(scheme: String) async throws {
        let url: String
        switch scheme {
        case "imap": url = "imap://reports%40rt.test@\(TestEnv.value("ROUNDTRIP_TEST_IMAP"))/INBOX"
        case "imaps":
            url = "imaps://reports%40rt.test@localhost:\(TestEnv.port(of: TestEnv.value("ROUNDTRIP_TEST_IMAPS")))/INBOX"
        default: url = "pop3://reports%40rt.test@\(TestEnv.value("ROUNDTRIP_TEST_POP3"))"
        }
        let r = try await roundtrip(
            [
                "verify", "--from", "reports@rt.test", "--server", TestEnv.smtp, "--to", "alice@rt.test",
                "--\(scheme == "pop3" ? "pop3" : "imap")", url, "--password-file", TestEnv.passwordFile,
                "--ca-file", TestEnv.ca, "--deadline", "30s", "--ledger", Self.ledgerPath, "--format", "json",
            ], timeout: 120)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let rec = recipients(doc).first
        #expect(rec?["verdict"] as? String == "delivered")
        #expect((rec?["reportSource"] as? String)?.hasPrefix(scheme == "pop3" ? "pop3://" : "imap") == true)
    }

    @Test func wrongMailboxPasswordIsAConfigurationError() async throws {
        let r = try await roundtrip(
            [
                "verify", "--from", "reports@rt.test", "--server", TestEnv.smtp, "--to", "alice@rt.test",
                "--imap",
                "imaps://reports%40rt.test@localhost:\(TestEnv.port(of: TestEnv.value("ROUNDTRIP_TEST_IMAPS")))/INBOX",
                "--ca-file", TestEnv.ca, "--deadline", "20s", "--ledger", Self.ledgerPath,
            ],
            environment: ["ROUNDTRIP_PASSWORD": "wrong-Canary-77"], timeout: 60)
        #expect(r.status == 78, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("report feed failed"))
        #expect(!r.stdout.contains("wrong-Canary-77") && !r.stderr.contains("wrong-Canary-77"))
    }

    @Test func dsnUnavailable() async throws {
        let (r, doc) = try await verify(["--to", "alice@rt.test", "--server", TestEnv.smtpNoDSN])
        #expect(r.status == 3, "\(r.stdout)\(r.stderr)")
        #expect(recipients(doc).first?["verdict"] as? String == "dsn-unavailable")
        let (strict, sdoc) = try await verify([
            "--to", "alice@rt.test", "--server", TestEnv.smtpNoDSN, "--require-dsn", "--strict",
        ])
        #expect(strict.status == 1)
        #expect(recipients(sdoc).first?["verdict"] as? String == "dsn-unavailable")
    }

    @Test func timeoutWhenNoReportCanCome() async throws {
        // NOTIFY=FAILURE only: a successful delivery produces no report.
        let (r, doc) = try await verify(["--to", "alice@rt.test", "--notify", "FAILURE"], deadline: "3s")
        #expect(r.status == 2, "\(r.stdout)\(r.stderr)")
        #expect(recipients(doc).first?["verdict"] as? String == "timeout")
    }

    @Test(arguments: Receipt.allCases)
    func failedRelayedAndDelayedAtTheNextHop(receipt: Receipt) async throws {
        try await withFixedPorts {
            try await ScriptedSMTPServer.with(
                greeting: "220 hop.relay.rt.test ESMTP\r\n", port: 2626, script: Self.nextHop
            ) { hop in
                let tag = UUID().uuidString.prefix(8).lowercased()

                let (failed, fdoc) = try await verify(["--to", "reject-\(tag)@relay.rt.test"], receipt: receipt)
                #expect(failed.status == 1, "\(failed.stdout)\(failed.stderr)")
                let f = recipients(fdoc).first
                #expect(f?["verdict"] as? String == "failed")
                #expect(f?["matchedKey"] as? String == receipt.expectedKey)
                #expect(f?["status"] as? String == "5.1.1")
                #expect((f?["diagnostic"] as? String)?.contains("no such user") == true)

                let (relayed, rdoc) = try await verify(["--to", "accept-\(tag)@relay.rt.test"], receipt: receipt)
                #expect(relayed.status == 3, "\(relayed.stdout)\(relayed.stderr)")
                #expect(recipients(rdoc).first?["verdict"] as? String == "relayed")

                // Postfix defers, sends a delay DSN after delay_warning_time (3 s); the
                // run keeps waiting for a final report until the deadline.
                let (delayed, ddoc) = try await verify(
                    ["--to", "defer-\(tag)@relay.rt.test"], deadline: "12s", receipt: receipt)
                #expect(delayed.status == 3, "\(delayed.stdout)\(delayed.stderr)")
                let d = recipients(ddoc).first
                #expect(d?["verdict"] as? String == "delayed")
                #expect((d?["status"] as? String)?.hasPrefix("4.") == true)
            }
        }
    }

    @Test func reportWithOnlySomeKeysCorrelatesAtLowerConfidenceAndForgedDoesNot() async throws {
        // Our own delivery succeeds silently (NOTIFY=FAILURE); the test then drops a
        // report without ENVID or VERP address (only the returned headers carry the
        // token), and one with a forged token, into the Maildir.
        let dir = maildir
        let ledgerPath = Self.ledgerPath
        let process = Process()
        process.executableURL = TestEnv.binary
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("verify-\(UUID().uuidString).json")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        process.arguments = [
            "verify", "--from", "reports@rt.test", "--server", TestEnv.smtp, "--maildir", dir, "--to", "alice@rt.test",
            "--notify", "FAILURE", "--deadline", "20s", "--ledger", ledgerPath, "--format", "json", "-v",
        ]
        process.standardOutput = try FileHandle(forWritingTo: out)
        let errURL = FileManager.default.temporaryDirectory.appendingPathComponent("verify-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: errURL)
        try process.run()
        // Learn the token from the verbose log.
        var token: String?
        for _ in 0..<100 where token == nil {
            try await Task.sleep(for: .milliseconds(50))
            let err = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
            if let range = err.range(of: "probe ") {
                token = String(err[range.upperBound...].prefix(35))
            }
        }
        let t = try #require(token)
        let forgedToken = "aaaaaaa" + String(t.dropFirst(7).prefix(20)) + "bbbbbbbb"
        func dsn(probeHeader: String, recipient: String) -> String {
            """
            From: MAILER-DAEMON@far.example\r
            To: someone-else@rt.test\r
            Subject: Undelivered Mail\r
            Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r
            \r
            --b\r
            Content-Type: text/plain\r
            \r
            failed\r
            --b\r
            Content-Type: message/delivery-status\r
            \r
            Reporting-MTA: dns; far.example\r
            \r
            Final-Recipient: rfc822; \(recipient)\r
            Action: failed\r
            Status: 5.2.2\r
            Diagnostic-Code: smtp; 552 5.2.2 mailbox full\r
            --b\r
            Content-Type: text/rfc822-headers\r
            \r
            X-Roundtrip-Probe: \(probeHeader)\r
            Subject: hello\r
            --b--\r

            """
        }
        // The forged one first: it must not settle the verdict.
        let forgedPath = dir + "/new/a\(UUID().uuidString).forged"
        defer { try? FileManager.default.removeItem(atPath: forgedPath) }
        try dsn(probeHeader: forgedToken, recipient: "forwarded-a@rt.test").write(
            toFile: forgedPath, atomically: false, encoding: .utf8)
        try dsn(probeHeader: t, recipient: "forwarded-b@rt.test").write(
            toFile: dir + "/new/b\(UUID().uuidString).partial", atomically: false, encoding: .utf8)
        await waitForExit(process)
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: out)) as? [String: Any])
        let rec = recipients(doc).first
        #expect(process.terminationStatus == 1)
        #expect(rec?["verdict"] as? String == "failed")
        #expect(rec?["matchedKey"] as? String == "returned-headers")
        #expect(rec?["confidence"] as? String == "medium")
        #expect(rec?["status"] as? String == "5.2.2")
        // At least ours (the Maildir may hold other runs' leftovers).
        #expect((doc["forgedReports"] as? Int ?? 0) >= 1)
    }
}

/// Split runs: `send` in one process, `status` in another, one ledger.
@Suite(
    .enabled(if: TestEnv.enabled, "needs the services of scripts/test-env.sh (ROUNDTRIP_INTEGRATION=1)"), .serialized)
struct SendAndStatusTests {
    let ledger = NSTemporaryDirectory() + "roundtrip-send-\(UUID().uuidString)/ledger.sqlite"

    @Test func sendRecordsAndStatusReadsBack() async throws {
        let sent = try await roundtrip([
            "send", "--to", "alice@rt.test", "--to", "nobody@rt.test", "--from", "reports@rt.test",
            "--server", TestEnv.smtp, "--starttls", "never", "--ledger", ledger, "--deadline", "2s",
        ])
        #expect(sent.status == 1, "a refused recipient: \(sent.stdout)\(sent.stderr)")
        let token = String(sent.stdout.split(separator: "\n").first ?? "")
        #expect(token.count == 35)
        let listing = try await roundtrip(["status", "--ledger", ledger, "--format", "json"])
        #expect(listing.status == 0)
        #expect(listing.stdout.contains(token))
        // Nothing reads the Maildir here, so alice's report never reaches this ledger: timeout after the deadline.
        let waited = try await roundtrip(["status", token, "--ledger", ledger, "--wait", "10s", "--format", "json"])
        #expect(waited.status == 1, "\(waited.stdout)\(waited.stderr)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(waited.stdout.utf8)) as? [String: Any])
        let verdicts = (doc["recipients"] as? [[String: Any]] ?? []).compactMap { $0["verdict"] as? String }
        #expect(verdicts == ["timeout", "rejected"])
    }

    @Test func unknownTokenIsAUsageError() async throws {
        let r = try await roundtrip(["status", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "--ledger", ledger])
        #expect(r.status == 64)
    }
}
