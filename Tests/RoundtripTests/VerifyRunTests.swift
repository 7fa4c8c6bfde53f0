import Crypto
import DeliveryReports
import Foundation
import MailCore
import MailTransport
import NIOConcurrencyHelpers
import SMTPCore
import TestSupport
import Testing

@testable import Roundtrip
@testable import RoundtripCore

/// A feed the test fills by hand.
final class ManualFeed: ReportFeed {
    let name = "manual"
    let box = NIOLockedValueBox<[ReceivedMessage]>([])
    let handled = NIOLockedValueBox<[String]>([])

    func push(_ m: ReceivedMessage) { box.withLockedValue { $0.append(m) } }

    func run(deliver: @escaping @Sendable (ReceivedMessage) async -> Void) async throws {
        while !Task.isCancelled {
            let batch = box.withLockedValue { b -> [ReceivedMessage] in
                defer { b = [] }
                return b
            }
            for m in batch { await deliver(m) }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    func markHandled(_ sources: [String]) async { handled.withLockedValue { $0 += sources } }
}

@Suite struct VerifyRunTests {
    let key = SymmetricKey(data: Array(repeating: UInt8(9), count: 32))

    static func server(_ line: String, _ tls: Bool) -> ScriptedSMTPServer.Step {
        let u = line.uppercased()
        if u.hasPrefix("EHLO") { return .send("250-mx.dest.example\r\n250-PIPELINING\r\n250 DSN\r\n") }
        if u.hasPrefix("MAIL") { return .send("250 2.1.0 Ok\r\n") }
        if u.hasPrefix("RCPT") {
            return u.contains("NOBODY@") ? .send("550 5.1.1 unknown\r\n") : .send("250 2.1.5 Ok\r\n")
        }
        if u == "DATA" { return .send("354 go\r\n") }
        if u == "." { return .send("250 2.0.0 queued\r\n") }
        if u == "QUIT" { return .sendThenClose("221 bye\r\n") }
        return .send("250 ok\r\n")
    }

    func config(port: Int, recipients: [String], deadline: Duration, clock: any Clock<Duration> = ContinuousClock())
        throws -> VerifyConfiguration
    {
        var dialog = SMTPCheckOptions(host: "", port: 0, heloName: "client.test")
        dialog.timeouts = SMTPTimeouts(all: .seconds(5))
        var c = VerifyConfiguration(
            builder: ProbeBuilder(
                from: try SMTPMailbox("rt@return.example"), recipients: try recipients.map { try SMTPMailbox($0) }),
            server: HostPort(host: "127.0.0.1", port: port), dialog: dialog, resolver: LibresolvResolver(),
            deadline: deadline, key: key
        )
        c.clock = clock
        return c
    }

    func dsn(
        token: ProbeToken, recipient: String, action: DeliveryAction, status: String, to: String? = nil,
        envid: Bool = true
    ) -> [UInt8] {
        RFC3464Builder(
            reportingMTA: "mx.dest.example", from: "MAILER-DAEMON@dest.example",
            to: to ?? "rt+\(token.value)@return.example",
            messageID: "\(UUID().uuidString)@dest.example",
            date: MessageDate(secondsSince1970: 1_800_000_000, zoneOffsetMinutes: 0),
            boundary: "b", originalEnvelopeID: envid ? token.value : nil,
            recipients: [
                .init(
                    finalRecipient: recipient, originalRecipient: recipient, action: action, status: StatusCode(status)!
                )
            ]
        )
        .build()
    }

    @Test func deliveredRejectedAndForged() async throws {
        try await ScriptedSMTPServer.with(script: Self.server) { server in
            let feed = ManualFeed()
            let token = VerifyRun.makeToken(key: key)
            let forger = VerifyRun.makeToken(key: SymmetricKey(data: Array(repeating: UInt8(1), count: 32)))
            // The reports are waiting before the run starts: a fast DSN can beat QUIT.
            feed.push(
                ReceivedMessage(
                    source: "forged",
                    bytes: dsn(token: forger, recipient: "a@dest.example", action: .failed, status: "5.1.1")))
            feed.push(
                ReceivedMessage(
                    source: "m1",
                    bytes: dsn(token: token, recipient: "a@dest.example", action: .delivered, status: "2.0.0"),
                    envelopeRecipients: ["rt+\(token.value)@return.example"]))
            let (report, probe, _) = try await VerifyRun.run(
                try config(
                    port: server.port, recipients: ["a@dest.example", "nobody@dest.example"], deadline: .seconds(5)),
                feeds: [feed], token: token)
            #expect(probe.token == token)
            #expect(report.recipients.map(\.verdict) == [.delivered, .rejected])
            #expect(report.recipients[0].matchedKey == .envelopeRecipient)
            #expect(report.recipients[1].smtpEnhancedCode == "5.1.1")
            #expect(report.forgedReports == 1)
            #expect(report.exitCode == RunExitStatus.failed.rawValue)
            #expect(feed.handled.withLockedValue { $0 } == ["m1"])
        }
    }

    @Test func delayedKeepsWaitingThenFinalReportEndsTheRun() async throws {
        try await ScriptedSMTPServer.with(script: Self.server) { server in
            let feed = ManualFeed()
            let token = VerifyRun.makeToken(key: key)
            feed.push(
                ReceivedMessage(
                    source: "d",
                    bytes: dsn(token: token, recipient: "a@dest.example", action: .delayed, status: "4.4.1")))
            let pusher = Task {
                try await Task.sleep(for: .milliseconds(400))
                feed.push(
                    ReceivedMessage(
                        source: "f",
                        bytes: dsn(
                            token: token, recipient: "a@dest.example", action: .failed, status: "5.4.7",
                            to: "other@x.example", envid: true)))
            }
            // The deadline never passes on this clock: the run can only end on the final report.
            let (report, _, _) = try await VerifyRun.run(
                try config(
                    port: server.port, recipients: ["a@dest.example"], deadline: .seconds(10),
                    clock: StoppedClock()),
                feeds: [feed], token: token)
            _ = try await pusher.value
            #expect(report.recipients[0].verdict == .failed)
            #expect(report.recipients[0].reportsReceived == 2)
            #expect(report.recipients[0].matchedKey == .envelopeID)
        }
    }

    @Test func nothingByTheDeadlineIsTimeoutAndDelayedStaysDelayed() async throws {
        try await ScriptedSMTPServer.with(script: Self.server) { server in
            let feed = ManualFeed()
            let token = VerifyRun.makeToken(key: key)
            feed.push(
                ReceivedMessage(
                    source: "d",
                    bytes: dsn(token: token, recipient: "b@dest.example", action: .delayed, status: "4.4.1")))
            // The deadline passes as soon as the run waits for it.
            let (report, _, _) = try await VerifyRun.run(
                try config(
                    port: server.port, recipients: ["a@dest.example", "b@dest.example"], deadline: .seconds(600),
                    clock: ExpiredClock()),
                feeds: [feed], token: token)
            #expect(report.recipients.map(\.verdict) == [.timeout, .delayed])
            #expect(report.exitCode == RunExitStatus.timeout.rawValue)
        }
    }

    @Test func unreachableServerIsExit4() async throws {
        let (report, _, _) = try await VerifyRun.run(
            try config(port: 1, recipients: ["a@dest.example"], deadline: .seconds(1)), feeds: [], token: nil)
        #expect(report.recipients[0].verdict == .rejected)
        #expect(report.exitCode == RunExitStatus.submissionFailed.rawValue)
        #expect(report.submissions.first?.failedStep == "connect")
    }
}

/// A clock whose time never moves: `sleep` returns only when cancelled.
struct StoppedClock: Clock {
    var now: ContinuousClock.Instant { ContinuousClock.now }
    var minimumResolution: Duration { .zero }
    func sleep(until deadline: ContinuousClock.Instant, tolerance: Duration?) async throws {
        while true { try await Task.sleep(for: .seconds(3600)) }
    }
}

/// A clock on which every deadline has already passed: `sleep` returns at once.
struct ExpiredClock: Clock {
    var now: ContinuousClock.Instant { ContinuousClock.now }
    var minimumResolution: Duration { .zero }
    func sleep(until deadline: ContinuousClock.Instant, tolerance: Duration?) async throws {
        try Task.checkCancellation()
    }
}
