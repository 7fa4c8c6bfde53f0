import Foundation
import TestSupport
import Testing

/// The three reproductions of the hostile-peers issue, against the real
/// binary: a forged report, a flood, a full disk.
@Suite(
    .enabled(if: TestEnv.enabled, "needs the services of scripts/test-env.sh (ROUNDTRIP_INTEGRATION=1)"), .serialized)
struct HostilePeersTests {
    /// Sends one message with Python's smtplib (the message from a file);
    /// prints `rcpt CODE` and, when accepted, `data CODE`.
    func smtp(port: Int, to: String, message: String) async throws -> (Int32, String) {
        let file = NSTemporaryDirectory() + "roundtrip-msg-\(UUID().uuidString)"
        try message.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let script = """
            import smtplib, sys
            s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=20)
            s.ehlo('attacker.example')
            s.mail('')
            code, text = s.rcpt(sys.argv[2])
            print('rcpt', code)
            if code == 250:
                try:
                    code, text = s.data(open(sys.argv[3], 'rb').read())
                except smtplib.SMTPDataError as e:
                    code = e.smtp_code
                print('data', code)
            s.quit()
            """
        return try await runTool("/usr/bin/python3", ["-c", script, String(port), to, file])
    }

    static func forgedDSN(recipient: String) -> String {
        """
        From: MAILER-DAEMON@sim.test\r
        To: roundtrip@return.rt.test\r
        Subject: Delivery Status Notification\r
        MIME-Version: 1.0\r
        Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r
        \r
        --b\r
        Content-Type: text/plain\r
        \r
        Your message was delivered.\r
        --b\r
        Content-Type: message/delivery-status\r
        \r
        Reporting-MTA: dns; mx.sim.test\r
        \r
        Final-Recipient: rfc822; \(recipient)\r
        Action: delivered\r
        Status: 2.0.0\r
        --b--\r

        """
    }

    /// Reproduction 1: `send --to nodsn@sim.test` (no report will come), a
    /// standing `listen --ledger`, and a stranger's tokenless DSN naming the
    /// recipient. The bare return address is refused at RCPT; through
    /// postmaster@ the report is stored, but it is unconfirmed evidence: the
    /// probe is not proven. A real report (success@) still proves its probe.
    @Test func aForgedReportDoesNotProveAProbe() async throws {
        let dir = NSTemporaryDirectory() + "roundtrip-forged-\(UUID().uuidString)"
        let ledger = dir + "/ledger.sqlite"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let listener = try await ListenerProcess.start(domain: "return.rt.test", extra: ["--ledger", ledger])
        defer {
            listener.terminate()
            listener.removeFiles()
        }
        let sim = try await SimulatorProcess.start([
            "--bind", "127.0.0.1:0", "--domain", "sim.test", "--route", "return.rt.test=127.0.0.1:\(listener.port)",
        ])
        defer {
            sim.terminate()
            sim.removeFiles()
        }
        let sent = try await roundtrip([
            "send", "--to", "nodsn@sim.test", "--from", "roundtrip@return.rt.test", "--server", "127.0.0.1:\(sim.port)",
            "--ledger", ledger, "--deadline", "60s",
        ])
        #expect(sent.status == 0, "\(sent.stdout)\(sent.stderr)")
        let token = String(sent.stdout.split(separator: "\n").first ?? "")

        let (_, bare) = try await smtp(
            port: listener.port, to: "roundtrip@return.rt.test", message: Self.forgedDSN(recipient: "nodsn@sim.test"))
        #expect(bare.contains("rcpt 550"), "\(bare)")
        let (_, viaPostmaster) = try await smtp(
            port: listener.port, to: "postmaster@return.rt.test", message: Self.forgedDSN(recipient: "nodsn@sim.test"))
        #expect(viaPostmaster.contains("data 250"), "\(viaPostmaster)")

        var doc: [String: Any] = [:]
        let deadline = Date().addingTimeInterval(15)
        repeat {
            try await Task.sleep(for: .milliseconds(200))
            let status = try await roundtrip(["status", token, "--ledger", ledger, "--format", "json"])
            doc = (try? JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any]) ?? [:]
        } while Date() < deadline
            && ((doc["recipients"] as? [[String: Any]])?.first?["unconfirmedReports"] as? Int ?? 0) == 0
        let rec = (doc["recipients"] as? [[String: Any]])?.first
        #expect(rec?["verdict"] as? String == "pending", "\(doc)\n\(listener.log)")
        #expect(rec?["unconfirmedReports"] as? Int == 1)
        let text = try await roundtrip(["status", token, "--ledger", ledger])
        #expect(!text.stdout.contains("PROVEN (exit 0)"))
        #expect(text.status != 0)
        #expect(text.stdout.contains("unconfirmed:"))

        // The control: the simulator's real report for success@ proves its probe.
        let real = try await roundtrip([
            "send", "--to", "success@sim.test", "--from", "roundtrip@return.rt.test", "--server",
            "127.0.0.1:\(sim.port)",
            "--ledger", ledger, "--deadline", "60s",
        ])
        let realToken = String(real.stdout.split(separator: "\n").first ?? "")
        let proven = try await roundtrip(["status", realToken, "--wait", "30s", "--ledger", ledger], timeout: 60)
        #expect(proven.status == 0, "\(proven.stdout)\(proven.stderr)\n\(listener.log)")
    }

    /// Reproduction 3: 45 MB of pipelined EHLO offered without reading. The
    /// listener stays small (the session ends after 100 junk commands, and
    /// reading stops while replies back up) and serves others meanwhile.
    @Test func anEHLOFloodDoesNotGrowTheListener() async throws {
        let listener = try await ListenerProcess.start(domain: "return.rt.test")
        defer {
            listener.terminate()
            listener.removeFiles()
        }
        let pid = listener.process.processIdentifier
        let peak = PeakRSS(pid: pid)
        let sampler = Task { await peak.sample(until: { Task.isCancelled }) }
        var offered = 0
        for _ in 0..<4 {
            offered += try await floodWithoutReading(port: listener.port, seconds: 2, limit: 45 * 1024 * 1024 / 4)
            let (status, out) = try await runTool(
                "/usr/bin/swaks",
                [
                    "--server", "127.0.0.1:\(listener.port)", "--to", "postmaster@return.rt.test",
                    "--from", "", "--helo", "other.rt.test",
                ])
            #expect(status == 0, "another client was not served: \(out)")
        }
        sampler.cancel()
        _ = await sampler.value
        let maxKB = await peak.maxKB
        print(
            "HostilePeersTests: \(offered) octets of pipelined EHLO offered in 4 × 2 s; the listener's peak RSS \(maxKB) kB"
        )
        #expect(offered > 1_000_000)
        #expect(maxKB > 0 && maxKB < 100 * 1024, "peak RSS \(maxKB) kB after \(offered) octets of EHLO")
        #expect(await listener.stop() == 0)
    }

    /// A store on a small tmpfs: below --min-free DATA gets 452; with
    /// --min-free 0 a message that does not fit gets 451, and no partial
    /// file is left in new/ or tmp/.
    @Test func aFullDiskRefusesCleanly() async throws {
        guard getuid() == 0 else {
            print("HostilePeersTests.aFullDiskRefusesCleanly: skipped: mounting a tmpfs needs root")
            return
        }
        let mount = NSTemporaryDirectory() + "roundtrip-tmpfs-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: mount, withIntermediateDirectories: true)
        let (mounted, why) = try await runTool("/bin/mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", mount])
        guard mounted == 0 else {
            print("HostilePeersTests.aFullDiskRefusesCleanly: skipped: cannot mount a tmpfs here: \(why)")
            return
        }
        defer {
            _ = Task { _ = try? await runTool("/bin/umount", [mount]) }
        }
        let big = "Subject: filler\r\n\r\n" + String(repeating: String(repeating: "x", count: 998) + "\r\n", count: 600)
        for (minFree, expected) in [("1048576", "452"), ("0", "451")] {
            let store = mount + "/store-\(minFree)"
            let listener = try await ListenerProcess.start(
                domain: "return.rt.test", store: store, extra: ["--min-free", minFree, "--max-size", "4000000"])
            defer {
                listener.terminate()
                listener.removeFiles()
                try? FileManager.default.removeItem(atPath: store)
            }
            var outcomes: [String] = []
            for _ in 0..<4 {
                let (_, out) = try await smtp(port: listener.port, to: "postmaster@return.rt.test", message: big)
                outcomes.append(out.split(separator: "\n").last.map(String.init) ?? out)
            }
            #expect(
                outcomes.contains("data \(expected)") || outcomes.contains { $0.contains(expected) },
                "\(minFree): \(outcomes)\n\(listener.log)")
            let new = (try? FileManager.default.contentsOfDirectory(atPath: store + "/new")) ?? []
            let accepted = outcomes.filter { $0 == "data 250" }.count
            #expect(new.count == accepted, "\(new) vs \(outcomes)")
            for f in new {
                let size = (try? FileManager.default.attributesOfItem(atPath: store + "/new/" + f)[.size] as? Int) ?? 0
                #expect(size > big.utf8.count, "a partial file in new/: \(f) has \(size) octets")
            }
            let tmp = ((try? FileManager.default.contentsOfDirectory(atPath: store + "/tmp")) ?? []).filter {
                !$0.hasPrefix(".")
            }
            #expect(tmp.isEmpty, "left in tmp/: \(tmp)")
            #expect(await listener.stop() == 0)
        }
        _ = try? await runTool("/bin/umount", [mount])
    }
}

/// The highest VmRSS of a process, sampled every 50 ms.
actor PeakRSS {
    let pid: Int32
    private(set) var maxKB = 0
    init(pid: Int32) { self.pid = pid }

    func sample(until stop: @Sendable () -> Bool) async {
        while !stop() {
            if let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
                let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
                let kb = Int(line.split(separator: " ").dropFirst().first ?? "")
            {
                maxKB = max(maxKB, kb)
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }
}
