import Foundation
import Testing

/// A `roundtrip listen` process for a test: started on 127.0.0.1 (port 0
/// unless given), with its own store; the bound port is read from its log.
final class ListenerProcess {
    let process = Process()
    let store: String
    let logPath: String
    /// Where `listen` keeps its probe-token key when no --ledger is given.
    let keyDirectory: String
    private(set) var port = 0

    private init(port: Int, domain: String, store storeDirectory: String?, extra: [String]) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("roundtrip-listen-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        store = storeDirectory ?? dir + "/store"
        logPath = dir + "/listen.log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process.executableURL = TestEnv.binary
        process.arguments =
            [
                "listen", "--bind", "127.0.0.1:\(port)", "--domain", domain, "--store", store, "--hostname",
                "listener.rt.test", "-v",
            ] + extra
        // The probe-token key (made on first start) lives in the test's own folder.
        var environment = ProcessInfo.processInfo.environment
        environment["XDG_DATA_HOME"] = dir + "/data"
        process.environment = environment
        keyDirectory = dir + "/data/roundtrip"
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
    }

    /// Starts the listener and waits (without blocking a thread) until it reports its port.
    static func start(port: Int = 0, domain: String = "return.rt.test", store: String? = nil, extra: [String] = [])
        async throws -> ListenerProcess
    {
        let l = try ListenerProcess(port: port, domain: domain, store: store, extra: extra)
        try l.process.run()
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline && l.process.isRunning {
            if let p = Self.boundPort(in: l.log) {
                l.port = p
                return l
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        l.process.terminate()
        throw ListenerProcessError(message: "the listener did not start: \(l.log)")
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    static func boundPort(in log: String) -> Int? {
        // smtp.listen=[IPv4]127.0.0.1/127.0.0.1:2627
        guard let range = log.range(of: "smtp.listen=") else { return nil }
        let rest = log[range.upperBound...].prefix { $0 != " " && $0 != "\n" }
        guard let colon = rest.lastIndex(of: ":") else { return nil }
        return Int(rest[rest.index(after: colon)...])
    }

    var newMessages: [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: store + "/new")) ?? []
        return files.compactMap { try? String(contentsOfFile: store + "/new/" + $0, encoding: .utf8) }
    }

    /// Removes the store and the log.
    func removeFiles() {
        try? FileManager.default.removeItem(atPath: (logPath as NSString).deletingLastPathComponent)
    }

    /// SIGKILL, for clean-up in `defer`.
    func terminate() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// SIGTERM, then the exit status.
    func stop() async -> Int32 {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        await waitForExit(process, timeout: 10)
        return process.terminationStatus
    }
}

struct ListenerProcessError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// Runs a tool, feeding `input`, and returns (status, stdout+stderr).
func runTool(_ path: String, _ arguments: [String], input: String = "", timeout: TimeInterval = 30) async throws -> (
    Int32, String
) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = arguments
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("roundtrip-tool-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let inURL = dir.appendingPathComponent("in")
    let outURL = dir.appendingPathComponent("out")
    try Data(input.utf8).write(to: inURL)
    _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
    p.standardInput = try FileHandle(forReadingFrom: inURL)
    let out = try FileHandle(forWritingTo: outURL)
    p.standardOutput = out
    p.standardError = out
    try p.run()
    await waitForExit(p, timeout: timeout)
    return (p.terminationStatus, (try? String(contentsOf: outURL, encoding: .utf8)) ?? "")
}

@Suite(
    .enabled(if: TestEnv.enabled, "needs the services of scripts/test-env.sh (ROUNDTRIP_INTEGRATION=1)"), .serialized)
struct ListenerTests {
    @Test func swaksDeliversToTheListener() async throws {
        let listener = try await ListenerProcess.start()
        defer {
            listener.terminate()
            listener.removeFiles()
        }
        let (status, output) = try await runTool(
            "/usr/bin/swaks",
            [
                "--server", "127.0.0.1:\(listener.port)", "--from", "", "--to", "postmaster@return.rt.test",
                "--helo", "client.rt.test", "--header", "Subject: swaks probe", "--body", "hello from swaks", "--tls",
            ])
        #expect(status == 0, "\(output)")
        #expect(output.contains("STARTTLS"))
        #expect(output.contains("250 2.0.0 Ok: queued as"))
        let messages = listener.newMessages
        #expect(messages.count == 1)
        #expect(messages.first?.contains("Subject: swaks probe") == true)
        #expect(messages.first?.contains("with ESMTPS (TLSv1.") == true)
        // Relay refused.
        let (relayStatus, relayOutput) = try await runTool(
            "/usr/bin/swaks",
            [
                "--server", "127.0.0.1:\(listener.port)", "--from", "a@b.example", "--to", "victim@elsewhere.example",
                "--helo", "client.rt.test",
            ])
        #expect(relayStatus != 0)
        #expect(relayOutput.contains("550 5.7.1"))
        // In our domain, but no report address: no token, a made-up tag, a name nobody listed.
        for to in [
            "roundtrip@return.rt.test", "roundtrip+swaks1@return.rt.test",
            "roundtrip+\(String(repeating: "a", count: 35))@return.rt.test", "alice@return.rt.test",
        ] {
            let (s, out) = try await runTool(
                "/usr/bin/swaks",
                [
                    "--server", "127.0.0.1:\(listener.port)", "--from", "", "--to", to, "--helo", "client.rt.test",
                ])
            #expect(s != 0, "\(to): \(out)")
            #expect(out.contains("550 5.1.1"), "\(to): \(out)")
        }
        #expect(await listener.stop() == 0)
    }

    @Test func opensslStartTLS() async throws {
        let listener = try await ListenerProcess.start()
        defer {
            listener.terminate()
            listener.removeFiles()
        }
        let input =
            "EHLO client.rt.test\nMAIL FROM:<>\nRCPT TO:<postmaster@return.rt.test>\nDATA\nSubject: over TLS\n\nbody\n.\nQUIT\n"
        let (status, output) = try await runTool(
            "/usr/bin/openssl",
            [
                "s_client", "-starttls", "smtp", "-name", "client.rt.test", "-connect", "127.0.0.1:\(listener.port)",
                "-crlf", "-quiet", "-ign_eof",
            ], input: input)
        #expect(status == 0, "\(output)")
        #expect(output.contains("250 2.0.0 Ok: queued as"))
        #expect(output.contains("221 2.0.0 Bye"))
        #expect(listener.newMessages.first?.contains("Subject: over TLS") == true)
    }

    @Test func badCertificateAndUnwritableStoreExit78AndPortInUseExits69() async throws {
        let listener = try await ListenerProcess.start()
        defer {
            listener.terminate()
            listener.removeFiles()
        }
        let busy = try await roundtrip(
            [
                "listen", "--bind", "127.0.0.1:\(listener.port)", "--domain", "return.rt.test", "--store",
                listener.store + "-2",
            ], timeout: 20)
        #expect(busy.status == 69, "\(busy.stderr)")
        let badCert = try await roundtrip([
            "listen", "--bind", "127.0.0.1:0", "--domain", "x.test", "--store", listener.store + "-3", "--tls-cert",
            "/nonexistent.pem", "--tls-key", "/nonexistent.key",
        ])
        #expect(badCert.status == 78, "\(badCert.stderr)")
        let badStore = try await roundtrip([
            "listen", "--bind", "127.0.0.1:0", "--domain", "x.test", "--store", "/proc/nope",
        ])
        #expect(badStore.status == 78, "\(badStore.stderr)")
        let usage = try await roundtrip(["listen", "--bind", "nonsense", "--store", "/tmp/x"])
        #expect(usage.status == 64)
    }

    /// Real Postfix relays a real success DSN to the listener.
    @Test func postfixDeliversADSNToTheListener() async throws {
        try await withFixedPorts {
            // The probe here is made by hand with the tag tok123, which is no probe
            // token: --accept roundtrip lets its report in (the gate is tested above).
            let listener = try await ListenerProcess.start(
                port: Int(TestEnv.value("ROUNDTRIP_TEST_RETURN_PORT")) ?? 2627,
                domain: TestEnv.value("ROUNDTRIP_TEST_RETURN_DOMAIN"), extra: ["--accept", "roundtrip"])
            defer {
                listener.terminate()
                listener.removeFiles()
            }
            let marker = "listener-\(UUID().uuidString)"
            let script = """
                import smtplib, sys
                s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=20)
                s.ehlo('client.rt.test')
                msg = b'From: <roundtrip+tok123@return.rt.test>\\r\\nTo: <alice@rt.test>\\r\\nSubject: probe %s\\r\\nMessage-ID: <%s@return.rt.test>\\r\\n\\r\\nprobe body\\r\\n' % (sys.argv[2].encode(), sys.argv[2].encode())
                s.sendmail('roundtrip+tok123@return.rt.test', ['alice@rt.test'], msg, mail_options=['RET=HDRS', 'ENVID=tok123'], rcpt_options=['NOTIFY=SUCCESS'])
                s.quit()
                print('sent')
                """
            let (status, output) = try await runTool(
                "/usr/bin/python3", ["-c", script, TestEnv.port(of: TestEnv.smtp), marker])
            #expect(status == 0, "\(output)")
            let deadline = Date().addingTimeInterval(20)
            var report: String?
            var flushed = false
            while Date() < deadline && report == nil {
                report = listener.newMessages.first {
                    $0.contains(marker) && $0.contains("Original-Envelope-Id: tok123")
                }
                if report == nil {
                    if !flushed, Date() > deadline.addingTimeInterval(-15) {
                        _ = try? await runTool(
                            "/usr/sbin/postqueue", ["-c", TestEnv.value("ROUNDTRIP_TEST_POSTFIX_CONFIG"), "-f"])
                        flushed = true
                    }
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            let dsn = try #require(report, "no DSN arrived; listener log:\n\(listener.log)")
            #expect(dsn.contains("multipart/report"))
            #expect(dsn.contains("report-type=delivery-status"))
            #expect(dsn.contains("Action: delivered"))
            #expect(dsn.contains("Return-Path: <>"))
            #expect(dsn.contains("Delivered-To: roundtrip+tok123@return.rt.test"))
            #expect(await listener.stop() == 0)
        }
    }

    /// scripts/crash-test.sh: SIGKILL mid-stream, every acknowledged message
    /// must be in STORE/new with its envelope.
    @Test func crashTestScript() async throws {
        let script = TestEnv.packageRoot.appendingPathComponent("scripts/crash-test.sh").path
        let (status, output) = try await runTool("/bin/bash", [script, TestEnv.binary.path], timeout: 60)
        #expect(status == 0, "\(output)")
        #expect(output.contains("crash-test: PASS"))
    }
}
