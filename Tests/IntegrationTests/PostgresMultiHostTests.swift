import Foundation
import Testing

/// Issue 14, multi-host: two network namespaces joined by a veth pair. The
/// sender and the simulator live in host A, the listener and PostgreSQL in
/// host B (reachable from A over the veth); the round trip is proven through
/// the shared ledger: `send` and `status --wait` on A, `listen --ledger` on B.
/// Where namespaces cannot be made (not root, no iproute2), the test says so
/// and does nothing.
@Suite(.enabled(if: TestEnv.enabled, "needs PostgreSQL binaries and root (ROUNDTRIP_INTEGRATION=1)"), .serialized)
struct PostgresMultiHostTests {
    /// A process in a namespace, its output in a file.
    final class NamespacedProcess {
        let process = Process()
        let logPath: String

        init(netns: String, arguments: [String], logPath: String) throws {
            self.logPath = logPath
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            process.arguments = ["netns", "exec", netns, TestEnv.binary.path] + arguments
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
            process.standardOutput = FileHandle.nullDevice
            process.standardInput = FileHandle.nullDevice
            try process.run()
        }

        var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

        func terminate() {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
    }

    @Test func sendOnHostAListenOnHostBOneLedger() async throws {
        let tag = String(UUID().uuidString.prefix(6).lowercased())
        let (a, b) = ("rtA-\(tag)", "rtB-\(tag)")
        let subnet = "10.231.\(Int.random(in: 1...250))"
        let (addressA, addressB) = ("\(subnet).1", "\(subnet).2")
        do {
            try await OwnPostgres.sh(
                """
                ip netns add \(a) && ip netns add \(b) && \
                ip link add va-\(tag) type veth peer name vb-\(tag) && \
                ip link set va-\(tag) netns \(a) && ip link set vb-\(tag) netns \(b) && \
                ip -n \(a) addr add \(addressA)/24 dev va-\(tag) && ip -n \(b) addr add \(addressB)/24 dev vb-\(tag) && \
                ip -n \(a) link set lo up && ip -n \(b) link set lo up && \
                ip -n \(a) link set va-\(tag) up && ip -n \(b) link set vb-\(tag) up
                """)
        } catch {
            _ = try? await OwnPostgres.sh("ip netns del \(a); ip netns del \(b)")
            print("PostgresMultiHostTests: skipped, network namespaces cannot be made here: \(error)")
            return
        }
        defer { _ = Task { _ = try? await OwnPostgres.sh("ip netns del \(a); ip netns del \(b)") } }
        let pg = try await OwnPostgres(listen: addressB, netns: b)
        let work = "/tmp/roundtrip-netns-\(tag)"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        var processes: [NamespacedProcess] = []
        defer {
            for p in processes { p.terminate() }
            try? FileManager.default.removeItem(atPath: work)
        }
        let ledger = ["--ledger", pg.url(host: addressB), "--key-dir", work + "/key"]
        let listener = try NamespacedProcess(
            netns: b,
            arguments: [
                "listen", "--bind", "\(addressB):2525", "--domain", "r1.rt.test", "--store", work + "/store",
                "--hostname", "b.rt.test", "-v",
            ] + ledger, logPath: work + "/listen.log")
        processes.append(listener)
        let sim = try NamespacedProcess(
            netns: a,
            arguments: [
                "simulate", "--bind", "127.0.0.1:2525", "--domain", "sim.test", "--route",
                "r1.rt.test=\(addressB):2525",
                "--no-tls", "--store", work + "/sim", "--hostname", "a.rt.test", "-v",
            ], logPath: work + "/sim.log")
        processes.append(sim)
        let up = try await eventually(30) { listener.log.contains("smtp.listen=") && sim.log.contains("smtp.listen=") }
        #expect(up, "listener:\n\(listener.log)\nsimulator:\n\(sim.log)")
        let (sent, sendOutput) = try await runTool(
            "/usr/sbin/ip",
            [
                "netns", "exec", a, TestEnv.binary.path, "send", "--to", "success+mh@sim.test", "--from",
                "rt@r1.rt.test",
                "--server", "127.0.0.1:2525", "--deadline", "5m",
            ] + ledger, timeout: 120)
        #expect(sent == 0, "\(sendOutput)")
        let token = try #require(sendOutput.split(separator: "\n").first.map(String.init), "\(sendOutput)")
        let (status, statusOutput) = try await runTool(
            "/usr/sbin/ip",
            ["netns", "exec", a, TestEnv.binary.path, "status", token, "--wait", "90s", "--format", "json"] + ledger,
            timeout: 150)
        #expect(status == 0, "\(statusOutput)\nlistener:\n\(listener.log)")
        #expect(statusOutput.contains("delivered"), "\(statusOutput)")
        // The verdict came through host B's listener into the ledger on host B's database.
        #expect(listener.log.contains("report via"), "\(listener.log)")
        for p in processes { p.terminate() }
        await pg.remove()
    }
}
