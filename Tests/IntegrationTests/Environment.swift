import Foundation
import Testing

/// The services `scripts/test-env.sh` started, read from its environment.
/// When ROUNDTRIP_INTEGRATION=1 they are expected up: an unreachable server
/// is a failure, not a skip.
enum TestEnv {
    static let env = ProcessInfo.processInfo.environment
    static var enabled: Bool { env["ROUNDTRIP_INTEGRATION"] == "1" }

    static func value(_ key: String) -> String {
        guard let v = env[key], !v.isEmpty else {
            Issue.record("\(key) is not set: run the tests through scripts/run-tests.sh")
            return ""
        }
        return v
    }

    static var smtp: String { value("ROUNDTRIP_TEST_SMTP") }
    static var smtpNoDSN: String { value("ROUNDTRIP_TEST_SMTP_NODSN") }
    static var submission: String { value("ROUNDTRIP_TEST_SUBMISSION") }
    static var submissions: String { value("ROUNDTRIP_TEST_SUBMISSIONS") }
    static var dns: String { value("ROUNDTRIP_TEST_DNS") }
    static var ca: String { value("ROUNDTRIP_TEST_CA") }
    static var otherCA: String { value("ROUNDTRIP_TEST_OTHER_CA") }
    static var user: String { value("ROUNDTRIP_TEST_USER") }
    static var passwordFile: String { value("ROUNDTRIP_TEST_PASSWORD_FILE") }

    static func port(of hostPort: String) -> String {
        String(hostPort.split(separator: ":").last ?? "")
    }

    /// The package root, from this file's path.
    static let packageRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    static var binary: URL {
        let candidates = [".build/debug/roundtrip", ".build/release/roundtrip"].map {
            packageRoot.appendingPathComponent($0)
        }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }
}

struct RunResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Waits for a child process without blocking a thread of the cooperative
/// pool (blocking those starves every other test on a 2-core machine).
func waitForExit(_ process: Process, timeout: TimeInterval = 120) async {
    let exited = AsyncStream<Void> { continuation in
        process.terminationHandler = { _ in
            continuation.yield()
            continuation.finish()
        }
        if !process.isRunning {
            continuation.yield()
            continuation.finish()
        }
    }
    await withTaskGroup(of: Void.self) { group in
        group.addTask { for await _ in exited { return } }
        group.addTask {
            try? await Task.sleep(for: .seconds(timeout))
            if process.isRunning { process.terminate() }
        }
        await group.next()
        group.cancelAll()
    }
    process.waitUntilExit()
}

/// Runs the built `roundtrip` binary, as a user would.
func roundtrip(_ arguments: [String], environment: [String: String] = [:], timeout: TimeInterval = 60) async throws
    -> RunResult
{
    let process = Process()
    process.executableURL = TestEnv.binary
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    env["NO_COLOR"] = "1"
    for (k, v) in environment { env[k] = v }
    process.environment = env
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("roundtrip-run-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let outURL = dir.appendingPathComponent("out")
    let errURL = dir.appendingPathComponent("err")
    _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    process.standardOutput = try FileHandle(forWritingTo: outURL)
    process.standardError = try FileHandle(forWritingTo: errURL)
    process.standardInput = FileHandle.nullDevice
    try process.run()
    await waitForExit(process, timeout: timeout)
    let stdoutData = (try? Data(contentsOf: outURL)) ?? Data()
    let stderrData = (try? Data(contentsOf: errURL)) ?? Data()
    return RunResult(
        status: process.terminationStatus, stdout: String(decoding: stdoutData, as: UTF8.self),
        stderr: String(decoding: stderrData, as: UTF8.self))
}

/// Postfix routes `relay.rt.test` to 127.0.0.1:2626 and `return.rt.test` to
/// 127.0.0.1:2627: tests that listen there, in any suite, take turns.
actor FixedPortLock {
    static let shared = FixedPortLock()
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func acquire() async {
        if !busy {
            busy = true
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    func release() {
        if waiters.isEmpty { busy = false } else { waiters.removeFirst().resume() }
    }
}

/// Runs `body` while no other test uses the fixed ports 2626/2627.
func withFixedPorts<T>(_ body: () async throws -> T) async throws -> T {
    await FixedPortLock.shared.acquire()
    do {
        let result = try await body()
        await FixedPortLock.shared.release()
        return result
    } catch {
        await FixedPortLock.shared.release()
        throw error
    }
}
