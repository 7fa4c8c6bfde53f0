import DeliveryReports
import Foundation
import Testing

/// A `roundtrip simulate` process: started on 127.0.0.1, its port read from its log.
final class SimulatorProcess {
    let process = Process()
    let directory: String
    let logPath: String
    private(set) var port = 0

    private init(arguments: [String]) throws {
        directory =
            FileManager.default.temporaryDirectory.appendingPathComponent("roundtrip-simulate-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        logPath = directory + "/simulate.log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process.executableURL = TestEnv.binary
        process.arguments =
            ["simulate", "--store", directory + "/store", "--hostname", "sim.rt.test", "-v"] + arguments
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
    }

    static func start(_ arguments: [String]) async throws -> SimulatorProcess {
        let s = try SimulatorProcess(arguments: arguments)
        try s.process.run()
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline && s.process.isRunning {
            if let p = Self.boundPort(in: s.log, noDSN: false),
                !s.expectsNoDSN || Self.boundPort(in: s.log, noDSN: true) != nil
            {
                s.port = p
                return s
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        s.terminate()
        throw ListenerProcessError(message: "the simulator did not start: \(s.log)")
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// The port in the `listening` line of the DSN listener or of the
    /// `--nodsn-bind` one (its lines carry `sim.listener=nodsn`).
    static func boundPort(in log: String, noDSN: Bool) -> Int? {
        log.split(separator: "\n").lazy.filter { $0.contains("sim.listener=nodsn") == noDSN }.compactMap {
            ListenerProcess.boundPort(in: String($0))
        }.first
    }

    var expectsNoDSN: Bool { process.arguments?.contains("--nodsn-bind") == true }

    func terminate() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    func stop() async -> Int32 {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        await waitForExit(process, timeout: 10)
        return process.terminationStatus
    }

    func removeFiles() {
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Reports in the `reports` Maildir of rt.test that mention `marker`.
private func reportsMaildir(containing marker: String) -> [[UInt8]] {
    let root = (TestEnv.env["ROUNDTRIP_TEST_MAILDIR_ROOT"] ?? "/tmp/roundtrip-test-env/mail") + "/rt.test/reports"
    var out: [[UInt8]] = []
    for sub in ["new", "cur"] {
        let dir = root + "/" + sub
        for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
            guard let data = FileManager.default.contents(atPath: dir + "/" + name) else { continue }
            if String(decoding: data, as: UTF8.self).contains(marker) { out.append(Array(data)) }
        }
    }
    return out
}

@Suite(
    .enabled(if: TestEnv.enabled, "needs the services of scripts/test-env.sh (ROUNDTRIP_INTEGRATION=1)"), .serialized)
struct SimulateTests {
    /// Postfix relays relay.rt.test to 127.0.0.1:2626 (passing DSN parameters on);
    /// the simulator's report goes back through Postfix into the reports Maildir.
    func roundTrip(localPart: String, notify: String) async throws -> (DeliveryReport, String) {
        let relayPort = TestEnv.value("ROUNDTRIP_TEST_RELAY_PORT")
        let relayDomain = TestEnv.value("ROUNDTRIP_TEST_RELAY_DOMAIN")
        // Port 2626 is shared with other suites' next-hop tests (FixedPortLock).
        return try await withFixedPorts {
            // The previous user of the port may still be closing it: retry briefly.
            var started: SimulatorProcess?
            for attempt in 0..<25 where started == nil {
                do {
                    started = try await SimulatorProcess.start([
                        "--bind", "127.0.0.1:\(relayPort)", "--domain", relayDomain, "--route",
                        "rt.test=\(TestEnv.smtp)",
                    ])
                } catch {
                    if attempt == 24 { throw error }
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
            let sim = try #require(started)
            defer {
                sim.terminate()
                sim.removeFiles()
            }
            let tag = "sim\(UUID().uuidString.prefix(8).lowercased())"
            let recipient = "\(localPart)+\(tag)@\(relayDomain)"
            let script = """
                import smtplib, sys
                s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=20)
                s.ehlo('client.rt.test')
                tag, rcpt, notify = sys.argv[2], sys.argv[3], sys.argv[4]
                msg = ('From: <reports+%s@rt.test>\\r\\nTo: <%s>\\r\\nSubject: simulate %s\\r\\nMessage-ID: <%s@rt.test>\\r\\n\\r\\nprobe body\\r\\n' % (tag, rcpt, tag, tag)).encode()
                s.sendmail('reports+%s@rt.test' % tag, [rcpt], msg, mail_options=['RET=HDRS', 'ENVID=' + tag], rcpt_options=['NOTIFY=' + notify, 'ORCPT=rfc822;' + rcpt.replace('+', '+2B')])
                s.quit()
                print('sent')
                """
            let (status, output) = try await runTool(
                "/usr/bin/python3", ["-c", script, TestEnv.port(of: TestEnv.smtp), tag, recipient, notify])
            #expect(status == 0, "\(output)")
            let deadline = Date().addingTimeInterval(30)
            var flushed = false
            var found: [UInt8]?
            while Date() < deadline && found == nil {
                found = reportsMaildir(containing: "Original-Envelope-Id: \(tag)").first
                if found == nil {
                    if !flushed, Date() > deadline.addingTimeInterval(-20) {
                        _ = try? await runTool(
                            "/usr/sbin/postqueue", ["-c", TestEnv.value("ROUNDTRIP_TEST_POSTFIX_CONFIG"), "-f"])
                        flushed = true
                    }
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            let bytes = try #require(found, "no report in the reports Maildir; simulator log:\n\(sim.log)")
            #expect(await sim.stop() == 0)
            return (try DeliveryReportParser.parse(bytes), recipient)
        }
    }

    @Test func postfixRelaysToTheSimulatorAndGetsAFailedReportBack() async throws {
        let (report, recipient) = try await roundTrip(localPart: "unknown", notify: "SUCCESS,FAILURE")
        #expect(report.kind == .rfc3464)
        let r = try #require(report.recipients.first)
        #expect(report.recipients.count == 1)
        #expect(r.address == recipient)
        #expect(r.action == .failed)
        #expect(r.status?.description == "5.1.1")
        #expect((r.originalRecipientDecoded ?? r.originalRecipient?.value) == recipient)
    }

    @Test func postfixRelaysToTheSimulatorAndGetsADeliveredReportBack() async throws {
        let (report, recipient) = try await roundTrip(localPart: "success", notify: "SUCCESS")
        let r = try #require(report.recipients.first)
        #expect(r.address == recipient)
        #expect(r.action == .delivered)
        #expect(r.status?.description == "2.0.0")
    }

    /// `roundtrip verify` submits straight to the simulator; the reports come
    /// back through Postfix into the reports Maildir, where verify finds them.
    @Test func verifyAgainstTheSimulator() async throws {
        let sim = try await SimulatorProcess.start([
            "--bind", "127.0.0.1:0", "--nodsn-bind", "127.0.0.1:0", "--domain", "sim.test", "--route",
            "rt.test=\(TestEnv.smtp)",
        ])
        defer {
            sim.terminate()
            sim.removeFiles()
        }
        let maildir = TestEnv.value("ROUNDTRIP_TEST_MAILDIR_ROOT") + "/rt.test/reports"
        let ledger = sim.directory + "/ledger.sqlite"
        func verify(_ to: String, server: String) async throws -> (Int32, String?, String?) {
            let r = try await roundtrip(
                [
                    "verify", "--from", "reports@rt.test", "--server", server, "--maildir", maildir, "--to", to,
                    "--deadline", "20s", "--ledger", ledger, "--format", "json",
                ], timeout: 60)
            let doc = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
            let rec = (doc?["recipients"] as? [[String: Any]])?.first
            return (r.status, rec?["verdict"] as? String, rec?["status"] as? String)
        }
        let tag = UUID().uuidString.prefix(8).lowercased()
        let server = "127.0.0.1:\(sim.port)"
        let failed = try await verify("unknown+\(tag)@sim.test", server: server)
        #expect(failed.0 == 1 && failed.1 == "failed" && failed.2 == "5.1.1", "\(failed)")
        let delivered = try await verify("success+\(tag)@sim.test", server: server)
        #expect(delivered.0 == 0 && delivered.1 == "delivered", "\(delivered)")
        let relayed = try await verify("relay+\(tag)@sim.test", server: server)
        #expect(relayed.0 == 3 && relayed.1 == "relayed", "\(relayed)")
        let rejected = try await verify("reject+\(tag)@sim.test", server: server)
        #expect(rejected.0 == 1 && rejected.1 == "rejected", "\(rejected)")
        let noDSNPort = try #require(SimulatorProcess.boundPort(in: sim.log, noDSN: true), "\(sim.log)")
        let unavailable = try await verify("success+\(tag)@sim.test", server: "127.0.0.1:\(noDSNPort)")
        #expect(unavailable.0 == 3 && unavailable.1 == "dsn-unavailable", "\(unavailable)")
        #expect(await sim.stop() == 0)
    }

    @Test func usageAndBindErrors() async throws {
        let help = try await roundtrip(["simulate", "--help"])
        #expect(help.status == 0)
        for word in [
            "success", "unknown", "reject", "full", "delay", "relay", "nodsn", "slow", "legacy", "NOTIFY=NEVER",
            "--nodsn-bind",
        ] {
            #expect(help.stdout.contains(word), "\(word) missing from --help")
        }
        #expect(try await roundtrip(["simulate", "--route", "nonsense"]).status == 64)
        #expect(try await roundtrip(["simulate", "--bind", TestEnv.smtp, "--no-tls"]).status == 69)
        #expect(
            try await roundtrip(["simulate", "--bind", "127.0.0.1:0", "--store", "/proc/roundtrip-no"]).status == 78)
    }
}
