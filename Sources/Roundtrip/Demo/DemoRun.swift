import Crypto
import Foundation
import Logging
import MailTransport
import NIOCore
import RoundtripCore
import SMTPCore

/// `roundtrip demo`: the whole round trip in one process on loopback, with
/// no configuration: the simulator plays the far end, our listener takes the
/// reports, and `verify` judges each recipient; the verdicts are compared
/// with the ones each simulated behaviour must produce.
public enum DemoRun {
    public struct Expectation: Sendable, Hashable {
        public var recipient: String
        public var expected: Verdict
        public var behaviour: String
    }

    public struct Outcome: Sendable {
        public var report: RunReport
        public var noDSNReport: RunReport
        public var expectations: [Expectation]
        public var actual: [String: Verdict]
        public var passed: Bool
    }

    static let simDomain = "sim.test"
    static let returnDomain = "return.demo.test"

    public static let expectations: [Expectation] = [
        .init(recipient: "success@sim.test", expected: .delivered, behaviour: "delivered, success DSN"),
        .init(recipient: "delay@sim.test", expected: .delivered, behaviour: "delayed DSN first, then delivered"),
        .init(recipient: "relay@sim.test", expected: .relayed, behaviour: "relayed to a hop without DSN"),
        .init(recipient: "unknown@sim.test", expected: .failed, behaviour: "accepted, then failed 5.1.1"),
        .init(recipient: "full@sim.test", expected: .failed, behaviour: "mailbox full 5.2.2"),
        .init(recipient: "legacy@sim.test", expected: .failed, behaviour: "a legacy (non-RFC-3464) bounce"),
        .init(recipient: "reject@sim.test", expected: .rejected, behaviour: "refused at RCPT 550 5.1.1"),
    ]
    public static let noDSNExpectation = Expectation(
        recipient: "success@sim.test", expected: .dsnUnavailable,
        behaviour: "a server without DSN in EHLO")

    /// Runs the demo; `say` prints each step as it happens.
    public static func run(
        workDirectory: String, delay: Duration = .seconds(2), deadline: Duration = .seconds(30),
        say: @escaping @Sendable (String) -> Void
    ) async throws -> Outcome {
        var quiet = Logger(label: "roundtrip.demo")
        quiet.logLevel = .warning
        let fm = FileManager.default
        try fm.createDirectory(atPath: workDirectory, withIntermediateDirectories: true)
        // The simulator's certificate comes from a CA the demo's client trusts: its STARTTLS
        // verifies like a well-run server's, with no warning.
        let certificates = try DemoCertificates.make(in: workDirectory, serverName: "mx.sim.test")

        // 1. Our report listener for the return domain, on a port it picks.
        let reports = PushFeed(name: "demo listener")
        let listenerPort = AsyncStream<Int>.makeStream()
        // The throwaway probe-token key: the listener takes only reports to
        // addresses that carry a token made with it.
        let key = try Ledger.loadOrCreateKey(directory: workDirectory)
        var listenerConfiguration = SMTPListenerConfiguration(
            host: "127.0.0.1", port: 0, hostname: "reports.demo.test", domains: [returnDomain],
            storeDirectory: workDirectory + "/listener-store")
        listenerConfiguration.recipientGate = ProbeToken.recipientGate(key: key)
        let listener = try SMTPListener(
            configuration: listenerConfiguration,
            logger: quiet,
            onServerRunning: { a in listenerPort.continuation.yield(a.port ?? 0) },
            onMessage: { m in
                guard let data = FileManager.default.contents(atPath: m.path) else { return }
                say(
                    "  <- report for \(m.envelope.rcptTo.joined(separator: ", ")) arrived at our listener (\(data.count) octets)"
                )
                reports.push(ReceivedMessage(source: m.path, bytes: Array(data), envelopeRecipients: m.envelope.rcptTo))
            }
        )

        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await withTaskCancellationHandler {
                    try await listener.run()
                } onCancel: {
                    listener.triggerShutdown()
                }
            }
            defer { group.cancelAll() }
            var portIterator = listenerPort.stream.makeAsyncIterator()
            guard let lport = await portIterator.next(), lport > 0 else {
                throw FeedError(description: "the demo listener did not start")
            }
            say("1. report listener for \(returnDomain) on 127.0.0.1:\(lport)")

            // 2. The simulator: the far end, sending its reports to our listener.
            let simPorts = AsyncStream<(String, Int)>.makeStream()
            let sim = try Simulator(
                configuration: SimulatorConfiguration(
                    host: "127.0.0.1", port: 0, noDSNHost: "127.0.0.1", noDSNPort: 0, hostname: "mx.sim.test",
                    domains: [simDomain],
                    storeDirectory: workDirectory + "/simulator-store",
                    routes: [returnDomain: HostPort(host: "127.0.0.1", port: lport)], delay: delay,
                    tls: .files(certificate: certificates.certificateFile, key: certificates.keyFile)
                ),
                logger: quiet,
                onServerRunning: { a in simPorts.continuation.yield(("dsn", a.port ?? 0)) },
                onNoDSNServerRunning: { a in simPorts.continuation.yield(("nodsn", a.port ?? 0)) },
                onReport: { o in
                    say(
                        "  -> simulator sent a \(o.event) report for \(o.recipients.joined(separator: ", ")) to \(o.to)\(o.delivered ? "" : " (not delivered: \(o.error ?? "?"))")"
                    )
                }
            )
            group.addTask {
                try await withTaskCancellationHandler {
                    try await sim.run()
                } onCancel: {
                    sim.triggerShutdown()
                }
            }
            var ports: [String: Int] = [:]
            var simIterator = simPorts.stream.makeAsyncIterator()
            while ports.count < 2, let (kind, port) = await simIterator.next() { ports[kind] = port }
            guard let simPort = ports["dsn"], let noDSNPort = ports["nodsn"], simPort > 0, noDSNPort > 0 else {
                throw FeedError(description: "the simulator did not start")
            }
            say(
                "2. simulator (a DSN-speaking test MTA for \(simDomain)) on 127.0.0.1:\(simPort), and one without DSN on 127.0.0.1:\(noDSNPort)"
            )

            // 3. verify, with a throwaway ledger and key.
            let ledger = try await Ledger.open(path: workDirectory + "/ledger.sqlite")
            var dialog = SMTPCheckOptions(host: "", port: 0, heloName: "client.demo.test")
            dialog.tls = TLSPolicy(starttls: .auto, verify: .auto, caFile: certificates.caFile)
            dialog.timeouts = SMTPTimeouts(all: .seconds(20))
            let from = try SMTPMailbox("roundtrip@\(returnDomain)")
            let config = VerifyConfiguration(
                builder: ProbeBuilder(from: from, recipients: try expectations.map { try SMTPMailbox($0.recipient) }),
                server: HostPort(host: "127.0.0.1", port: simPort), dialog: dialog, resolver: LibresolvResolver(),
                deadline: deadline,
                key: key, ledger: ledger
            )
            say(
                "3. verify: one probe to \(expectations.count) recipients, each a simulated behaviour; waiting up to \(deadline.components.seconds) s"
            )
            let (report, probe, _) = try await VerifyRun.run(
                config, feeds: [reports], log: { line in say("   \(line)") })
            say("   probe \(probe.token.value) from \(probe.returnPath)")

            var noDSN = config
            noDSN.builder = ProbeBuilder(from: from, recipients: [try SMTPMailbox(noDSNExpectation.recipient)])
            noDSN.server = HostPort(host: "127.0.0.1", port: noDSNPort)
            say("4. verify against the server without DSN")
            let (noDSNReport, _, _) = try await VerifyRun.run(noDSN, feeds: [], log: { line in say("   \(line)") })

            var actual: [String: Verdict] = [:]
            for r in report.recipients { actual[r.address] = r.verdict }
            let noDSNVerdict = noDSNReport.recipients.first?.verdict
            let passed =
                expectations.allSatisfy { actual[$0.recipient] == $0.expected }
                && noDSNVerdict == noDSNExpectation.expected
            return Outcome(
                report: report, noDSNReport: noDSNReport, expectations: expectations, actual: actual, passed: passed)
        }
    }
}
