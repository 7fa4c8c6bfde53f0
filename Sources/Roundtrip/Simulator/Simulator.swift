import DeliveryReports
import Foundation
import Logging
import MailCore
import MailTransport
import NIOConcurrencyHelpers
import NIOCore
import SMTPCore
import ServiceLifecycle

/// Everything the simulator needs; see docs/simulate.md.
public struct SimulatorConfiguration: Sendable {
    /// Address and port of the DSN-capable listener (port 0 picks one).
    public var host: String
    public var port: Int
    /// Optional second listener that never advertises DSN (`--nodsn-bind`).
    public var noDSNHost: String?
    public var noDSNPort: Int?
    /// Our name: greeting, EHLO, `Reporting-MTA: dns; …`, report Message-IDs.
    public var hostname: String
    /// Domains we accept mail for (any local part except `reject`).
    public var domains: [String]
    /// The listener's MessageStore directory (the no-DSN listener uses `nodsn/` inside it).
    public var storeDirectory: String
    /// Reports for these sender domains go to this host:port instead of the MX.
    public var routes: [String: HostPort]
    /// Used for MX lookups of sender domains without a route.
    public var resolver: any MXResolver
    /// Wait before sending each report.
    public var latency: Duration
    /// When the final report of a `delay` recipient follows the `delayed` one.
    public var delay: Duration
    /// How long each reply waits once a `slow` recipient was accepted.
    public var slowReplyDelay: Duration
    /// Delivery attempts per report (first try included), with doubling backoff.
    public var reportAttempts: Int
    public var retryBackoff: Duration
    /// STARTTLS offered by the listeners.
    public var tls: ListenerTLSSource
    /// The timeouts of the report submissions.
    public var clientTimeouts: SMTPTimeouts

    public init(
        host: String = "127.0.0.1", port: Int = 0, noDSNHost: String? = nil, noDSNPort: Int? = nil, hostname: String,
        domains: [String],
        storeDirectory: String, routes: [String: HostPort] = [:], resolver: any MXResolver = LibresolvResolver(),
        latency: Duration = .zero, delay: Duration = .seconds(5), slowReplyDelay: Duration = .seconds(2),
        reportAttempts: Int = 4,
        retryBackoff: Duration = .seconds(1), tls: ListenerTLSSource = .selfSigned,
        clientTimeouts: SMTPTimeouts = SMTPTimeouts(all: .seconds(30))
    ) {
        self.host = host
        self.port = port
        self.noDSNHost = noDSNHost
        self.noDSNPort = noDSNPort
        self.hostname = hostname
        self.domains = domains
        self.storeDirectory = storeDirectory
        self.routes = Dictionary(routes.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { _, b in b })
        self.resolver = resolver
        self.latency = latency
        self.delay = delay
        self.slowReplyDelay = slowReplyDelay
        self.reportAttempts = max(1, reportAttempts)
        self.retryBackoff = retryBackoff
        self.tls = tls
        self.clientTimeouts = clientTimeouts
    }
}

/// A report the simulator sent (or gave up on), for logs, tests and `demo`.
public struct SimulatorReportOutcome: Sendable, Hashable {
    /// The stored message the report is about.
    public var messageName: String
    public var event: PlannedReport.Event
    /// The envelope recipient of the report (the original reverse path).
    public var to: String
    public var recipients: [String]
    /// The report's bytes (CRLF).
    public var report: [UInt8]
    public var delivered: Bool
    public var attempts: Int
    /// The last error when not delivered.
    public var error: String?
}

/// The test MTA behind `roundtrip simulate`: an `SMTPListener` advertising
/// DSN that answers by the recipient's local part and sends real RFC 3464
/// reports (or a legacy bounce) back to the envelope sender over SMTP.
///
/// A swift-service-lifecycle `Service`: run it in a `ServiceGroup`, or call
/// `run()` in a task and `triggerShutdown()` to stop. Reports still waiting
/// (latency, `delay`) are dropped at shutdown; one being sent is finished.
public final class Simulator: Service, Sendable {
    public let configuration: SimulatorConfiguration
    /// The DSN-capable listener; its `store` holds everything accepted.
    public let listener: SMTPListener
    /// The listener without DSN, if `noDSNPort` is set.
    public let noDSNListener: SMTPListener?
    private let logger: Logger
    private let onReport: @Sendable (SimulatorReportOutcome) -> Void
    private let jobs: AsyncStream<StoredMessage>
    private let jobsContinuation: AsyncStream<StoredMessage>.Continuation
    private let counter = NIOLockedValueBox<UInt64>(0)

    /// The behaviours by local part, for the session's recipient policy.
    public static let recipientPolicy = SMTPServerSession.RecipientPolicy([
        "reject": .refuseUnknownUser, "slow": .acceptWithSlowReplies,
    ])

    /// - Parameters:
    ///   - onServerRunning: the DSN listener's bound address (port 0 → the real port).
    ///   - onReport: called after each report was delivered or given up.
    /// - Throws: `SMTPListenerError` (`.configuration`).
    public init(
        configuration: SimulatorConfiguration, logger: Logger = Logger(label: "roundtrip.simulate"),
        onServerRunning: @escaping @Sendable (SocketAddress) -> Void = { _ in },
        onNoDSNServerRunning: @escaping @Sendable (SocketAddress) -> Void = { _ in },
        onReport: @escaping @Sendable (SimulatorReportOutcome) -> Void = { _ in }
    ) throws {
        self.configuration = configuration
        self.logger = logger
        self.onReport = onReport
        let (jobs, continuation) = AsyncStream.makeStream(of: StoredMessage.self)
        self.jobs = jobs
        self.jobsContinuation = continuation
        var main = SMTPListenerConfiguration(
            host: configuration.host, port: configuration.port, hostname: configuration.hostname,
            domains: configuration.domains,
            storeDirectory: configuration.storeDirectory, tls: configuration.tls, shutdownGracePeriod: .seconds(5)
        )
        main.advertiseDSN = true
        main.recipientPolicy = Self.recipientPolicy
        main.slowReplyDelay = .nanoseconds(Self.nanoseconds(configuration.slowReplyDelay))
        self.listener = try SMTPListener(configuration: main, logger: logger, onServerRunning: onServerRunning) {
            message in
            continuation.yield(message)
        }
        if let port = configuration.noDSNPort {
            var plain = main
            plain.host = configuration.noDSNHost ?? configuration.host
            plain.port = port
            plain.advertiseDSN = false
            plain.storeDirectory = (configuration.storeDirectory as NSString).appendingPathComponent("nodsn")
            var plainLogger = logger
            plainLogger[metadataKey: "sim.listener"] = "nodsn"
            self.noDSNListener = try SMTPListener(
                configuration: plain, logger: plainLogger, onServerRunning: onNoDSNServerRunning)
        } else {
            self.noDSNListener = nil
        }
    }

    /// The DSN listener's bound address once running.
    public var localAddress: SocketAddress? { listener.localAddress }
    public var noDSNLocalAddress: SocketAddress? { noDSNListener?.localAddress }

    /// Graceful shutdown: the listeners stop, pending reports are dropped.
    public func triggerShutdown() {
        listener.triggerShutdown()
        noDSNListener?.triggerShutdown()
    }

    public func run() async throws {
        let jobs = self.jobs
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask {
                defer { self.jobsContinuation.finish() }
                try await withThrowingDiscardingTaskGroup { listeners in
                    listeners.addTask { try await self.listener.run() }
                    if let n = self.noDSNListener {
                        listeners.addTask { try await n.run() }
                    }
                }
            }
            group.addTask {
                await withDiscardingTaskGroup { reports in
                    for await message in jobs {
                        reports.addTask { await self.process(message) }
                    }
                    // The listeners stopped: reports still waiting are dropped.
                    reports.cancelAll()
                }
            }
        }
    }

    // MARK: reports

    /// The recipients of a stored message as the planner sees them.
    public static func simulatedRecipients(_ envelope: ReceivedEnvelope) -> [SimulatedRecipient] {
        envelope.recipients.map { r in
            let local = r.address.lastIndex(of: "@").map { String(r.address[..<$0]) } ?? r.address
            return SimulatedRecipient(
                address: r.address,
                behaviour: SimulatedBehaviour.forLocalPart(
                    local.trimmingCharacters(in: CharacterSet(charactersIn: "\""))),
                notify: notify(r.notify), originalRecipient: r.originalRecipient
            )
        }
    }

    static func notify(_ text: String?) -> SimulatedNotify {
        guard let text else { return .absent }
        let words = Set(text.uppercased().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        if words.contains("NEVER") { return .never }
        return .conditions(
            success: words.contains("SUCCESS"), failure: words.contains("FAILURE"), delay: words.contains("DELAY"))
    }

    private func process(_ message: StoredMessage) async {
        let envelope = message.envelope
        let plans = SimulatedReports.plan(
            nullSender: envelope.mailFrom.isEmpty, retFull: envelope.ret?.uppercased() == "FULL",
            recipients: Self.simulatedRecipients(envelope), reportingMTA: configuration.hostname
        )
        guard !plans.isEmpty else {
            logger.debug("no report", metadata: ["sim.message": "\(message.name)"])
            return
        }
        let bytes: [UInt8]
        do {
            bytes = Self.withoutStoreTrace(Array(try Data(contentsOf: URL(fileURLWithPath: message.path))))
        } catch {
            logger.error(
                "cannot read the stored message", metadata: ["sim.message": "\(message.name)", "error": "\(error)"])
            return
        }
        await withDiscardingTaskGroup { group in
            for plan in plans {
                group.addTask {
                    do {
                        var wait = self.configuration.latency
                        if plan.timing == .afterDelay { wait += self.configuration.delay }
                        if wait > .zero { try await Task.sleep(for: wait) }
                    } catch {
                        self.logger.info(
                            "report dropped at shutdown",
                            metadata: ["sim.message": "\(message.name)", "sim.event": "\(plan.event)"])
                        return
                    }
                    let report = self.build(plan, message: message, original: bytes)
                    await self.send(report, plan: plan, message: message)
                }
            }
        }
    }

    /// The report for one plan (pure apart from the clock and the id counter).
    func build(_ plan: PlannedReport, message: StoredMessage, original: [UInt8]) -> [UInt8] {
        let envelope = message.envelope
        let n = counter.withLockedValue { value -> UInt64 in
            value += 1
            return value
        }
        let now = MessageDate(secondsSince1970: Int64(Date().timeIntervalSince1970), zoneOffsetMinutes: 0)
        let id = "\(message.name).\(plan.event.rawValue).\(n)@\(configuration.hostname)"
        let headerEnd = Self.headerSection(of: original)
        if plan.event == .legacyBounce {
            return SimulatedReports.legacyBounce(
                reportingMTA: configuration.hostname, to: envelope.mailFrom, messageID: id, date: now,
                recipients: plan.recipients,
                returnedHeader: headerEnd
            )
        }
        var recipients = plan.recipients
        if plan.event == .delayed {
            let until = MessageDate(secondsSince1970: now.secondsSince1970 + 5 * 86400, zoneOffsetMinutes: 0)
            for i in recipients.indices {
                recipients[i].lastAttemptDate = now
                recipients[i].willRetryUntil = until
            }
        }
        let subject: String
        switch plan.event {
        case .delivered: subject = "Successful Mail Delivery Report"
        case .relayed: subject = "Mail Relayed Report"
        case .delayed: subject = "Delayed Mail (still being retried)"
        case .failed, .legacyBounce: subject = "Undelivered Mail Returned to Sender"
        }
        var builder = RFC3464Builder(
            reportingMTA: configuration.hostname,
            from: "MAILER-DAEMON@\(configuration.hostname) (Mail Delivery System)", to: envelope.mailFrom,
            subject: subject, messageID: id, date: now, boundary: "=_roundtrip-sim-\(message.name)-\(n)",
            originalEnvelopeID: envelope.envelopeID,
            arrivalDate: MessageDate(
                secondsSince1970: Int64(envelope.receivedAt.timeIntervalSince1970), zoneOffsetMinutes: 0),
            recipients: recipients, returnedHeader: headerEnd
        )
        if plan.returned == .fullMessage { builder.returnedMessage = original }
        return builder.build()
    }

    /// The stored message without the fields the store put on top
    /// (`X-Roundtrip-Envelope:` with its folded lines, `Return-Path:`,
    /// `Delivered-To:`: the envelope and final-delivery trace, not part of what
    /// we received); our `Received:` stays, as in a real MTA's returned message.
    static func withoutStoreTrace(_ message: [UInt8]) -> [UInt8] {
        let trace = ["X-Roundtrip-Envelope:", "Return-Path:", "Delivered-To:"].map { Array($0.utf8) }
        var start = 0
        while trace.contains(where: { message[start...].starts(with: $0) }) {
            // The field and its continuation lines (starting with white space).
            repeat {
                guard let lf = message[start...].firstIndex(of: 0x0A) else { return [] }
                start = lf + 1
            } while start < message.count && (message[start] == 0x20 || message[start] == 0x09)
        }
        return Array(message[start...])
    }

    static func headerSection(of message: [UInt8]) -> [UInt8] {
        var i = 0
        while i + 3 < message.count {
            if message[i] == 0x0D && message[i + 1] == 0x0A && message[i + 2] == 0x0D && message[i + 3] == 0x0A {
                return Array(message[..<(i + 2)])
            }
            i += 1
        }
        return message
    }

    private func send(_ report: [UInt8], plan: PlannedReport, message: StoredMessage) async {
        let to = message.envelope.mailFrom
        var outcome = SimulatorReportOutcome(
            messageName: message.name, event: plan.event, to: to, recipients: plan.recipients.map(\.finalRecipient),
            report: report,
            delivered: false, attempts: 0, error: nil
        )
        defer { onReport(outcome) }
        let mailbox: SMTPMailbox
        do {
            mailbox = try SMTPMailbox(to)
        } catch {
            outcome.error = "the reverse path \(to.debugDescription) is not a mailbox: \(error)"
            logger.error(
                "report not sent", metadata: ["sim.message": "\(message.name)", "error": "\(outcome.error ?? "")"])
            return
        }
        let envelope = SubmissionEnvelope(reversePath: .null, recipients: [.init(mailbox: mailbox)], message: report)
        var options = SMTPCheckOptions(
            host: "", port: 25, heloName: configuration.hostname, tls: TLSPolicy(starttls: .auto, verify: .off),
            sendData: true,
            timeouts: configuration.clientTimeouts
        )
        options.refusedRecipientIsFailure = true
        let server = configuration.routes[mailbox.domain.lowercased()]
        var backoff = configuration.retryBackoff
        for attempt in 1...configuration.reportAttempts {
            outcome.attempts = attempt
            let groups = await Submitter.submit(
                envelope, base: options, server: server, resolver: configuration.resolver)
            if let error = groups.first?.routingError {
                outcome.error = error.description
            } else if let final = groups.first?.attempts.last {
                if final.report.passed {
                    outcome.delivered = true
                    outcome.error = nil
                    logger.info(
                        "report sent",
                        metadata: [
                            "sim.message": "\(message.name)", "sim.event": "\(plan.event.rawValue)", "sim.to": "\(to)",
                            "sim.server": "\(final.route.target.display)",
                        ]
                    )
                    return
                }
                outcome.error =
                    final.report.steps.last.map {
                        "\($0.step.rawValue): \($0.replyCode.map(String.init) ?? "") \($0.text ?? $0.note ?? "")"
                    }
                    ?? "failed"
            } else {
                outcome.error = "no route"
            }
            logger.warning(
                "report delivery failed",
                metadata: [
                    "sim.message": "\(message.name)", "sim.attempt": "\(attempt)", "error": "\(outcome.error ?? "")",
                ]
            )
            if attempt < configuration.reportAttempts {
                do { try await Task.sleep(for: backoff) } catch { return }
                backoff *= 2
            }
        }
        logger.error("report given up", metadata: ["sim.message": "\(message.name)", "sim.to": "\(to)"])
    }

    static func nanoseconds(_ d: Duration) -> Int64 {
        let c = d.components
        return c.seconds * 1_000_000_000 + c.attoseconds / 1_000_000_000
    }
}
