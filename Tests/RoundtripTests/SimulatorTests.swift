import DeliveryReports
import Foundation
import Logging
import MailTransport
import NIOConcurrencyHelpers
import NIOCore
import SMTPCore
import Testing

@testable import Roundtrip

/// Runs a Simulator for `sim.test` and a receiving SMTPListener for
/// `rt.test` on 127.0.0.1:0, reports routed to the receiver.
private final class SimulatorHarness: Sendable {
    let received = NIOLockedValueBox<[StoredMessage]>([])
    let outcomes = NIOLockedValueBox<[SimulatorReportOutcome]>([])
    let directory: String

    init() {
        directory = (NSTemporaryDirectory() as NSString).appendingPathComponent("rt-sim-test-\(UUID().uuidString)")
    }

    /// Runs `body` with (simulator port, no-DSN port) while both servers run.
    func run(
        delay: Duration = .milliseconds(300), slow: Duration = .milliseconds(200),
        _ body: @Sendable (Int, Int) async throws -> Void
    ) async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (receiverPorts, receiverPort) = AsyncStream.makeStream(of: Int.self)
        let receiver = try SMTPListener(
            configuration: SMTPListenerConfiguration(
                host: "127.0.0.1", port: 0, hostname: "return.test", domains: ["rt.test"],
                storeDirectory: directory + "/receiver", tls: .disabled
            ),
            logger: Logger(label: "test.receiver"),
            onServerRunning: { receiverPort.yield($0.port ?? 0) },
            onMessage: { [received] m in received.withLockedValue { $0.append(m) } }
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await receiver.run() }
            var port = 0
            for await p in receiverPorts {
                port = p
                break
            }
            let (simPorts, simPort) = AsyncStream.makeStream(of: (Int, Bool).self)
            let simulator = try Simulator(
                configuration: SimulatorConfiguration(
                    host: "127.0.0.1", port: 0, noDSNPort: 0, hostname: "sim.example", domains: ["sim.test"],
                    storeDirectory: directory + "/sim",
                    routes: [
                        "rt.test": HostPort(host: "127.0.0.1", port: port),
                        "closed.test": HostPort(host: "127.0.0.1", port: 1),
                    ], delay: delay, slowReplyDelay: slow, reportAttempts: 2,
                    retryBackoff: .milliseconds(100), tls: .selfSigned, clientTimeouts: SMTPTimeouts(all: .seconds(10))
                ),
                logger: Logger(label: "test.simulator"),
                onServerRunning: { simPort.yield(($0.port ?? 0, true)) },
                onNoDSNServerRunning: { simPort.yield(($0.port ?? 0, false)) },
                onReport: { [outcomes] o in outcomes.withLockedValue { $0.append(o) } }
            )
            group.addTask { try await simulator.run() }
            var dsn = 0
            var plain = 0
            for await (p, isDSN) in simPorts {
                if isDSN { dsn = p } else { plain = p }
                if dsn != 0 && plain != 0 { break }
            }
            do {
                try await body(dsn, plain)
            } catch {
                simulator.triggerShutdown()
                receiver.triggerShutdown()
                throw error
            }
            simulator.triggerShutdown()
            receiver.triggerShutdown()
            try await group.waitForAll()
        }
    }

    /// Waits until `count` reports arrived (or the timeout), returns them parsed.
    func reports(count: Int, timeout: Duration = .seconds(20)) async throws -> [(
        StoredMessage, [UInt8], DeliveryReport
    )] {
        let end = ContinuousClock.now + timeout
        while received.withLockedValue({ $0.count }) < count && ContinuousClock.now < end {
            try await Task.sleep(for: .milliseconds(50))
        }
        return try received.withLockedValue { $0 }.map { m in
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: m.path)))
            return (m, bytes, try DeliveryReportParser.parse(bytes))
        }
    }
}

/// Sends one message to the simulator.
private func submit(
    port: Int, from: String = "reports+t1@rt.test", rcpts: [(String, RcptParameters)], ret: DSNReturn? = .headers,
    envid: String? = "env-1", body: String = "probe body"
) async throws -> SubmissionGroup {
    let message = Array(
        "From: <\(from)>\r\nTo: x@sim.test\r\nSubject: simulator probe\r\nMessage-ID: <probe-1@rt.test>\r\n\r\n\(body)\r\n"
            .utf8)
    let reverse: ReversePath = from.isEmpty ? .null : .mailbox(try SMTPMailbox(from))
    let envelope = SubmissionEnvelope(
        reversePath: reverse,
        mailParameters: MailParameters(ret: ret, envelopeID: try envid.map { try EnvelopeID($0) }),
        recipients: try rcpts.map { .init(mailbox: try SMTPMailbox($0.0), parameters: $0.1) }, message: message
    )
    let options = SMTPCheckOptions(
        host: "", port: 0, heloName: "client.test", tls: TLSPolicy(starttls: .auto, verify: .off), sendData: true,
        timeouts: SMTPTimeouts(all: .seconds(10)))
    let groups = await Submitter.submit(
        envelope, base: options, server: HostPort(host: "127.0.0.1", port: port), resolver: LibresolvResolver())
    return try #require(groups.first)
}

private func notify(_ s: String) throws -> RcptParameters {
    RcptParameters(notify: try DSNNotify(parsing: s))
}

/// Sisimai (libsisimai-perl) as an independent reader: "address action status" per line.
private func sisimai(_ bytes: [UInt8]) async throws -> [String] {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("rt-sim-\(UUID().uuidString).eml")
    try Data(bytes).write(to: file)
    defer { try? FileManager.default.removeItem(at: file) }
    let out = FileManager.default.temporaryDirectory.appendingPathComponent("rt-sim-\(UUID().uuidString).out")
    _ = FileManager.default.createFile(atPath: out.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: out) }
    let handle = try FileHandle(forWritingTo: out)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/perl")
    process.arguments = [
        "-MSisimai", "-e",
        #"for (@{Sisimai->make($ARGV[0], delivered=>1) || []}) { print $_->recipient->address, " ", $_->action, " ", $_->deliverystatus, "\n" }"#,
        file.path,
    ]
    process.standardOutput = handle
    process.standardError = FileHandle.nullDevice
    let exited = AsyncStream<Void> { continuation in
        process.terminationHandler = { _ in
            continuation.yield()
            continuation.finish()
        }
    }
    try process.run()
    for await _ in exited { break }
    try handle.close()
    let text = try String(contentsOf: out, encoding: .utf8)
    return text.split(separator: "\n").map(String.init)
}

private let sisimaiAvailable = FileManager.default.fileExists(atPath: "/usr/share/perl5/Sisimai.pm")

@Suite("Simulator in-process: reports arrive and parse", .serialized)
struct SimulatorTests {
    @Test("unknown: one failed 5.1.1 report with ENVID, ORCPT, headers; Sisimai agrees")
    func unknown() async throws {
        let h = SimulatorHarness()
        try await h.run { port, _ in
            var p = try notify("SUCCESS,FAILURE")
            p.originalRecipient = try OriginalRecipient(address: "unknown+a1@sim.test")
            let g = try await submit(port: port, rcpts: [("unknown+a1@sim.test", p)])
            #expect(g.attempts.last?.report.passed == true)
            let reports = try await h.reports(count: 1)
            let (m, bytes, r) = try #require(reports.first)
            #expect(reports.count == 1)
            #expect(m.envelope.mailFrom == "")
            #expect(m.envelope.rcptTo == ["reports+t1@rt.test"])
            #expect(r.kind == .rfc3464)
            #expect(r.originalEnvelopeID == "env-1")
            #expect(r.reportingMTA?.value == "sim.example")
            #expect(r.arrivalDate != nil)
            let rr = try #require(r.recipients.first)
            #expect(rr.address == "unknown+a1@sim.test")
            #expect(rr.action == .failed)
            #expect(rr.status?.description == "5.1.1")
            #expect(rr.originalRecipient?.value == "unknown+a1@sim.test")
            #expect(rr.diagnostic?.contains("550 5.1.1") == true)
            #expect(r.returnedHeaders?.source == .rfc822Headers)
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(!text.contains("probe body"))
            #expect(text.contains("Message-ID: <probe-1@rt.test>"))
            // The store's final-delivery trace is not returned.
            #expect(!text.contains("Delivered-To: unknown+a1@sim.test"))
            #expect(!text.contains("Return-Path: <reports+t1@rt.test>"))
            if sisimaiAvailable {
                #expect(try await sisimai(bytes) == ["unknown+a1@sim.test failed 5.1.1"])
            }
        }
    }

    @Test("RET=FULL returns the whole message in the failure report")
    func retFull() async throws {
        let h = SimulatorHarness()
        try await h.run { port, _ in
            _ = try await submit(port: port, rcpts: [("full@sim.test", RcptParameters())], ret: .full, envid: nil)
            let (_, bytes, r) = try #require(try await h.reports(count: 1).first)
            #expect(r.originalEnvelopeID == nil)
            #expect(r.recipients.first?.status?.description == "5.2.2")
            #expect(r.recipients.first?.action == .failed)
            #expect(r.returnedHeaders?.source == .rfc822Message)
            #expect(String(decoding: bytes, as: UTF8.self).contains("probe body"))
            if sisimaiAvailable {
                #expect(try await sisimai(bytes) == ["full@sim.test failed 5.2.2"])
            }
        }
    }

    @Test("success and relay with SUCCESS; NEVER, no NOTIFY and nodsn get nothing; reject is refused at RCPT")
    func mixed() async throws {
        let h = SimulatorHarness()
        try await h.run { port, _ in
            let g = try await submit(
                port: port,
                rcpts: [
                    ("success+1@sim.test", try notify("SUCCESS")), ("Relay@sim.test", try notify("SUCCESS,FAILURE")),
                    ("success+2@sim.test", try notify("NEVER")), ("success+3@sim.test", RcptParameters()),
                    ("nodsn@sim.test", try notify("SUCCESS,FAILURE,DELAY")),
                    ("reject+9@sim.test", try notify("FAILURE")),
                ])
            let refused = g.attempts.last?.report.recipients.filter { !$0.accepted }.map(\.address)
            #expect(refused == ["reject+9@sim.test"])
            let reports = try await h.reports(count: 2)
            try await Task.sleep(for: .milliseconds(500))
            let all = try await h.reports(count: 2)
            #expect(all.count == 2)
            var seen: [String] = []
            for (_, bytes, r) in reports {
                for rr in r.recipients {
                    seen.append("\(rr.address) \(rr.action.rawValue) \(rr.status?.description ?? "-")")
                }
                if sisimaiAvailable {
                    let s = try await sisimai(bytes)
                    #expect(
                        s == r.recipients.map { "\($0.address) \($0.action.rawValue) \($0.status?.description ?? "-")" }
                    )
                }
            }
            #expect(Set(seen) == ["success+1@sim.test delivered 2.0.0", "Relay@sim.test relayed 2.0.0"])
        }
    }

    @Test("delay: delayed 4.4.1 at once, delivered after --delay-seconds")
    func delay() async throws {
        let h = SimulatorHarness()
        try await h.run(delay: .milliseconds(500)) { port, _ in
            _ = try await submit(port: port, rcpts: [("delay+z@sim.test", try notify("SUCCESS,DELAY"))])
            let reports = try await h.reports(count: 2)
            #expect(reports.count == 2)
            let events = reports.map {
                "\($0.2.recipients.first?.action.rawValue ?? "-") \($0.2.recipients.first?.status?.description ?? "-")"
            }
            #expect(events == ["delayed 4.4.1", "delivered 2.0.0"])
            #expect(reports.first?.2.recipients.first?.willRetryUntil != nil)
            if sisimaiAvailable, let first = reports.first {
                // Sisimai 4.25 reads `delayed` as its own action.
                let s = try await sisimai(first.1)
                #expect(s.first?.hasPrefix("delay+z@sim.test delayed 4.4.1") == true)
            }
        }
    }

    @Test("legacy: a Postfix-style text bounce our parser and Sisimai read as failed 5.1.1")
    func legacy() async throws {
        let h = SimulatorHarness()
        try await h.run { port, _ in
            _ = try await submit(port: port, rcpts: [("legacy+q@sim.test", RcptParameters())])
            let (_, bytes, r) = try #require(try await h.reports(count: 1).first)
            #expect(r.kind == .legacy(family: "postfix"))
            #expect(r.recipients.first?.address == "legacy+q@sim.test")
            #expect(r.recipients.first?.action == .failed)
            #expect(r.recipients.first?.status?.description == "5.1.1")
            if sisimaiAvailable {
                #expect(try await sisimai(bytes) == ["legacy+q@sim.test failed 5.1.1"])
            }
        }
    }

    @Test("null sender: never a report")
    func nullSender() async throws {
        let h = SimulatorHarness()
        try await h.run { port, _ in
            let g = try await submit(
                port: port, from: "", rcpts: [("unknown@sim.test", RcptParameters())], ret: nil, envid: nil)
            #expect(g.attempts.last?.report.passed == true)
            try await Task.sleep(for: .milliseconds(700))
            #expect(h.received.withLockedValue { $0.count } == 0)
        }
    }

    @Test("slow: replies wait, the message still gets its delivered report")
    func slow() async throws {
        let h = SimulatorHarness()
        try await h.run(slow: .milliseconds(300)) { port, _ in
            let start = ContinuousClock.now
            _ = try await submit(port: port, rcpts: [("slow@sim.test", try notify("SUCCESS"))])
            // RCPT, DATA, end of data, QUIT: at least 3 delayed replies.
            #expect(ContinuousClock.now - start >= .milliseconds(900))
            let (_, _, r) = try #require(try await h.reports(count: 1).first)
            #expect(r.recipients.first?.action == .delivered)
        }
    }

    @Test("the no-DSN listener does not advertise DSN; DSN parameters are dropped by the client")
    func noDSN() async throws {
        let h = SimulatorHarness()
        try await h.run { _, plain in
            let g = try await submit(port: plain, rcpts: [("unknown@sim.test", try notify("SUCCESS,FAILURE"))])
            let ehlo = g.attempts.last?.report.capabilities.map(\.keyword) ?? []
            #expect(!ehlo.isEmpty)
            #expect(!ehlo.contains("DSN"))
        }
    }

    @Test("an unreachable return route: retried, given up, no crash")
    func unreachable() async throws {
        let h = SimulatorHarness()
        try await h.run { port, _ in
            _ = try await submit(port: port, from: "x@closed.test", rcpts: [("unknown@sim.test", RcptParameters())])
            let end = ContinuousClock.now + .seconds(20)
            while h.outcomes.withLockedValue({ $0.isEmpty }) && ContinuousClock.now < end {
                try await Task.sleep(for: .milliseconds(50))
            }
            let o = try #require(h.outcomes.withLockedValue { $0.first })
            #expect(o.delivered == false)
            #expect(o.attempts == 2)
        }
    }
}

@Suite struct SimulatorStoreTraceTests {
    /// The returned message starts at the sender's own fields: the store's envelope (folded over
    /// several lines) and trace fields are cut, the listener's `Received:` and everything after stay.
    @Test func storeFieldsAreCutTheRestStays() {
        let stored =
            "X-Roundtrip-Envelope: {\"a\":1,\r\n\t\"b\":2}\r\nReturn-Path: <r@x.test>\r\nDelivered-To: u@sim.test\r\n"
            + "Received: from c\r\n\tby sim\r\nSubject: hi\r\nDelivered-To: kept@sim.test\r\n\r\nbody\r\n"
        let cut = String(decoding: Simulator.withoutStoreTrace(Array(stored.utf8)), as: UTF8.self)
        #expect(cut == "Received: from c\r\n\tby sim\r\nSubject: hi\r\nDelivered-To: kept@sim.test\r\n\r\nbody\r\n")
        #expect(Simulator.withoutStoreTrace(Array("Subject: x\r\n\r\n".utf8)) == Array("Subject: x\r\n\r\n".utf8))
    }
}
