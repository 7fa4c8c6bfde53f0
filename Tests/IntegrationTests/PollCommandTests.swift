import Foundation
import Testing

/// `roundtrip poll` as a user runs it, against the real Dovecot and the
/// Maildirs Postfix writes.
@Suite(
    .enabled(if: TestEnv.enabled, "needs the services of scripts/test-env.sh (ROUNDTRIP_INTEGRATION=1)"), .serialized)
struct PollCommandTests {
    var imaps: String { TestEnv.imapURL(TestEnv.imaps, scheme: "imaps") }
    var common: [String] { ["--password-file", TestEnv.passwordFile, "--ca-file", TestEnv.ca] }

    func json(_ r: RunResult) async throws -> [String: Any] {
        let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8))
        return try #require(obj as? [String: Any], "not a JSON object: \(r.stdout) \(r.stderr)")
    }

    func writePassword(_ text: String) async throws -> String {
        let path = NSTemporaryDirectory() + "roundtrip-pw-\(UUID().uuidString)"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func imapsSearchFindsTheDeliveryAndPrintsItsFields() async throws {
        let token = TestEnv.token()
        _ = try await deliverThroughPostfix(token: token)
        try await Task.sleep(nanoseconds: 300_000_000)
        let r = try await roundtrip(["poll", "--imap", imaps, "--search", token, "--format", "json"] + common)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let doc = try await json(r)
        let messages = try #require(doc["messages"] as? [[String: Any]])
        #expect(messages.count == 1)
        let m = try #require(messages.first)
        #expect((m["source"] as? String)?.contains(";UIDVALIDITY=") == true)
        #expect(m["messageId"] as? String == "<\(token)@mailbox-tests.rt.test>")
        #expect(m["probeToken"] as? String == token)
        #expect(m["multipartReport"] as? Bool == false)
        #expect((m["size"] as? Int ?? 0) > 100)
        #expect((m["from"] as? String)?.contains("sender@rt.test") == true)
        #expect((doc["tls"] as? [String: Any])?["verification"] as? String == "verified")
        #expect(doc["exitCode"] as? Int == 0)
        // Text, then clean up only this message.
        let text = try await roundtrip(
            ["poll", "--imap", imaps, "--search", token, "--cleanup", "--cleanup-folder", ""] + common)
        #expect(text.status == 0, "\(text.stdout)\(text.stderr)")
        #expect(text.stdout.contains("\tsize="))
        #expect(text.stdout.contains("message-id=<\(token)@mailbox-tests.rt.test>"))
        #expect(text.stdout.contains("cleanup: expunged, 1 removed, 0 kept"))
        let after = try await roundtrip(["poll", "--imap", imaps, "--search", token, "--format", "jsonl"] + common)
        #expect(after.status == 0 && after.stdout.isEmpty, "\(after.stdout)\(after.stderr)")
    }

    @Test func imapSTARTTLSRequireWithTranscript() async throws {
        let r = try await roundtrip(
            ["poll", "--imap", TestEnv.imapURL(TestEnv.imap), "--starttls", "require", "-v"] + common)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("C: a1 STARTTLS"))
        #expect(r.stderr.contains("AUTHENTICATE PLAIN <redacted>"))
        #expect(!r.stderr.contains(TestEnv.password))
    }

    @Test func exitCodesForLoginTLSConnectAndPlaintext() async throws {
        let canary = "canary-\(TestEnv.token())"
        let pw = try await writePassword(canary + "\n")
        defer { try? FileManager.default.removeItem(atPath: pw) }
        for format in ["text", "json"] {
            let r = try await roundtrip([
                "poll", "--imap", imaps, "--password-file", pw, "--ca-file", TestEnv.ca, "-v", "--format", format,
            ])
            #expect(r.status == 24, "\(r.stdout)\(r.stderr)")
            #expect(!r.stdout.contains(canary) && !r.stderr.contains(canary))
        }
        let pop = try await roundtrip([
            "poll", "--pop3", TestEnv.pop3URL(TestEnv.pop3s, scheme: "pop3s"), "--password-file", pw, "--ca-file",
            TestEnv.ca, "-v",
        ])
        #expect(pop.status == 24)
        #expect(!pop.stdout.contains(canary) && !pop.stderr.contains(canary))
        let env = try await roundtrip(
            ["poll", "--imap", imaps, "--ca-file", TestEnv.ca, "--format", "json"],
            environment: ["ROUNDTRIP_PASSWORD": canary])
        #expect(env.status == 24)
        #expect(!env.stdout.contains(canary) && !env.stderr.contains(canary))

        let wrongCA = try await roundtrip([
            "poll", "--imap", imaps, "--password-file", TestEnv.passwordFile, "--ca-file", TestEnv.otherCA,
        ])
        #expect(wrongCA.status == 23, "\(wrongCA.stdout)\(wrongCA.stderr)")
        let systemStore = try await roundtrip(["poll", "--imap", imaps, "--password-file", TestEnv.passwordFile])
        #expect(systemStore.status == 23)
        let refused = try await roundtrip(["poll", "--imap", "imaps://reports%40rt.test@127.0.0.1:1/INBOX"] + common)
        #expect(refused.status == 20)
        let plaintext = try await roundtrip(
            ["poll", "--imap", TestEnv.imapURL(TestEnv.imap), "--starttls", "never"] + common)
        #expect(plaintext.status == 24)
        #expect(plaintext.stderr.contains("without TLS"))
        let allowed = try await roundtrip(
            ["poll", "--imap", TestEnv.imapURL(TestEnv.imap), "--starttls", "never", "--allow-plaintext-auth"] + common)
        #expect(allowed.status == 0, "\(allowed.stdout)\(allowed.stderr)")
        let noFolder = try await roundtrip(
            ["poll", "--imap", "imaps://reports%40rt.test@\(TestEnv.imaps)/No-Such-Folder"] + common)
        #expect(noFolder.status == 25)
    }

    @Test func usageAndConfigurationErrors() async throws {
        #expect(try await roundtrip(["poll"]).status == 64)
        #expect(try await roundtrip(["poll", "--imap", imaps, "--maildir", "/tmp"]).status == 64)
        #expect(try await roundtrip(["poll", "--imap", "imaps://u:secret@h/INBOX"]).status == 64)
        #expect(try await roundtrip(["poll", "--imap", imaps, "--cleanup"]).status == 64)
        #expect(try await roundtrip(["poll", "--pop3", imaps]).status == 64)
        #expect(try await roundtrip(["poll", "--imap", imaps, "--since", "yesterday"]).status == 64)
        #expect(
            try await roundtrip(
                ["poll", "--imap", imaps, "--ca-file", TestEnv.ca], environment: ["ROUNDTRIP_PASSWORD": ""]
            ).status == 78)
        #expect(try await roundtrip(["poll", "--imap", imaps, "--password-file", "/nonexistent/pw"]).status == 78)
        #expect(try await roundtrip(["poll", "--maildir", "/nonexistent-maildir"]).status == 25)
    }

    @Test func pop3AndMaildirFindTheDelivery() async throws {
        let token = TestEnv.token()
        _ = try await deliverThroughPostfix(token: token)
        try await Task.sleep(nanoseconds: 500_000_000)
        let md = try await roundtrip([
            "poll", "--maildir", TestEnv.maildirRoot + "/rt.test/reports", "--include-cur", "--search", token,
            "--format", "jsonl",
        ])
        #expect(md.status == 0, "\(md.stdout)\(md.stderr)")
        #expect(md.stdout.split(separator: "\n").count == 1 && md.stdout.contains("\"probeToken\":\"\(token)\""))
        let stls = try await roundtrip(
            ["poll", "--pop3", TestEnv.pop3URL(TestEnv.pop3), "--starttls", "require", "--search", token] + common)
        #expect(stls.status == 0, "\(stls.stdout)\(stls.stderr)")
        #expect(stls.stdout.contains(";UIDL=") && stls.stdout.contains(token))
        let pop3s = try await roundtrip(
            [
                "poll", "--pop3", TestEnv.pop3URL(TestEnv.pop3s, scheme: "pop3s"), "--search", token, "--cleanup",
                "--format", "json",
            ] + common)
        #expect(pop3s.status == 0, "\(pop3s.stdout)\(pop3s.stderr)")
        let doc = try await json(pop3s)
        #expect((doc["cleanup"] as? [String: Any])?["method"] as? String == "deleted")
        #expect(((doc["cleanup"] as? [String: Any])?["removed"] as? [String])?.count == 1)
        let again = try await roundtrip(
            ["poll", "--pop3", TestEnv.pop3URL(TestEnv.pop3s, scheme: "pop3s"), "--search", token, "--format", "jsonl"]
                + common)
        #expect(again.status == 0 && again.stdout.isEmpty)
    }

    @Test func watchPrintsTheMessageWhenItArrives() async throws {
        let token = TestEnv.token()
        let process = Process()
        process.executableURL = TestEnv.binary
        process.arguments =
            [
                "poll", "--imap", TestEnv.imapURL(TestEnv.imap), "--starttls", "require", "--watch", "--search", token,
                "--count", "1", "--duration", "20", "--format", "jsonl",
            ] + common
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try await Task.sleep(nanoseconds: 1_500_000_000)
        _ = try await deliverThroughPostfix(token: token)
        let sent = Date()
        while process.isRunning && Date().timeIntervalSince(sent) < 20 { try await Task.sleep(nanoseconds: 20_000_000) }
        let exitedAfter = Date().timeIntervalSince(sent)
        if process.isRunning { process.terminate() }
        await waitForExit(process)
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0)
        #expect(stdout.contains("\"probeToken\":\"\(token)\""), "\(stdout)")
        #expect(exitedAfter < 5, "the watcher took \(exitedAfter) s")
        let cleanup = try await roundtrip(["poll", "--imap", imaps, "--search", token, "--cleanup"] + common)
        #expect(cleanup.status == 0)
    }
}
