import Crypto
import DeliveryReports
import Foundation
import MailCore
import MailTransport
import RoundtripCore
import SMTPCore

/// Everything `verify` needs to know.
public struct VerifyConfiguration: Sendable {
    public var builder: ProbeBuilder
    /// Submit everything here instead of the recipients' MX.
    public var server: HostPort?
    /// The dialog settings: TLS, AUTH, EHLO name, timeouts (host and port are set per attempt).
    public var dialog: SMTPCheckOptions
    public var resolver: any MXResolver
    public var mxPort: Int
    public var requireDSN: Bool
    public var deadline: Duration
    public var strict: Bool
    public var key: SymmetricKey
    /// Where the run is recorded for `status` and other processes.
    public var ledger: (any LedgerStore)?
    /// false for `send`: submit, record, and return without waiting.
    public var waitForReports = true
    /// The clock the deadline runs on (tests inject one that they control).
    public var clock: any Clock<Duration> = ContinuousClock()
    /// false with `--no-report` (a pure mailbox loop): an arrival alone proves the recipient.
    public var reportExpected = true
    /// `--arrival-authserv-id`: whose `Authentication-Results` count (default: the topmost field's).
    public var trustedAuthservID: String?

    public init(
        builder: ProbeBuilder, server: HostPort?, dialog: SMTPCheckOptions, resolver: any MXResolver, mxPort: Int = 25,
        requireDSN: Bool = false, deadline: Duration = .seconds(600), strict: Bool = false, key: SymmetricKey,
        ledger: (any LedgerStore)? = nil
    ) {
        self.builder = builder
        self.server = server
        self.dialog = dialog
        self.resolver = resolver
        self.mxPort = mxPort
        self.requireDSN = requireDSN
        self.deadline = deadline
        self.strict = strict
        self.key = key
        self.ledger = ledger
    }
}

/// Progress while waiting, for the live line on a terminal.
public struct VerifyProgress: Sendable {
    public var waitingFor: Int
    public var total: Int
    /// Recipients whose probe was seen in their mailbox (`--arrival`).
    public var arrived: Int = 0
    public var secondsLeft: Double
}

/// The round trip: build the probe, submit it, wait for reports on the
/// feeds, correlate, and judge each recipient (docs/architecture.md §4).
public enum VerifyRun {
    enum Event: Sendable {
        case message(ReceivedMessage)
        case feedFailed(String)
        case arrival(ArrivalSighting)
        case arrivalFailed(String)
        /// The probe's recipients as the ledger has them (no feed of our own: a standing
        /// `roundtrip listen --ledger` fills it), after each change.
        case ledger([RecipientResult])
        case deadline
        case tick
    }

    public static func makeToken(key: SymmetricKey, now: Date = Date()) -> ProbeToken {
        var rng = SystemRandomNumberGenerator()
        return ProbeToken.make(createdAt: UInt32(clamping: Int(now.timeIntervalSince1970)), key: key, using: &rng)
    }

    public static func run(
        _ config: VerifyConfiguration,
        feeds: [any ReportFeed],
        arrivals: [ArrivalWatch] = [],
        token: ProbeToken? = nil,
        progress: (@Sendable (VerifyProgress) -> Void)? = nil,
        log: @escaping @Sendable (String) -> Void = { _ in }
    ) async throws -> (RunReport, Probe, [SubmissionGroup]) {
        let started = Date()
        let token = token ?? makeToken(key: config.key, now: started)
        let probe = try config.builder.build(
            token: token, date: rfc5322Date(started), time: Int64(started.timeIntervalSince1970))
        let recorder = LedgerRecorder(ledger: config.ledger, log: log)
        let deadlineDate = started.addingTimeInterval(Double(config.deadline.components.seconds))
        // Recorded before submission: a DSN can arrive within milliseconds.
        await recorder.probe(probe, createdAt: started, deadline: deadlineDate)
        let (events, continuation) = AsyncStream<Event>.makeStream(bufferingPolicy: .unbounded)

        return try await withThrowingTaskGroup(of: Void.self) { group in
            // Feeds start before the submission: a fast report can arrive before QUIT.
            for feed in feeds {
                group.addTask {
                    do {
                        try await feed.run { continuation.yield(.message($0)) }
                    } catch is CancellationError {
                    } catch {
                        if !Task.isCancelled { continuation.yield(.feedFailed("\(feed.name): \(error)")) }
                    }
                }
            }
            // The recipients' mailboxes are watched from the start too (the
            // first search also finds a probe that arrived before the watch began).
            for watch in arrivals {
                group.addTask {
                    do {
                        try await watch.run(token: token.value, since: started) {
                            continuation.yield(.arrival($0))
                        }
                    } catch is CancellationError {
                    } catch {
                        if !Task.isCancelled { continuation.yield(.arrivalFailed("\(watch.name): \(error)")) }
                    }
                }
            }
            defer {
                group.cancelAll()
                continuation.finish()
            }

            // Every feed must be able to receive before the probe goes out.
            for feed in feeds {
                do {
                    try await feed.waitUntilReady()
                } catch {
                    continuation.finish()
                    throw FeedError(description: "\(error)")
                }
            }
            var tracker = RunTracker(
                recipients: probe.recipients.map(\.mailbox.description), reportExpected: config.reportExpected)
            var submissions: [SubmissionSummary] = []
            var warnings: [String] = []
            log("probe \(token.value): submitting to \(config.server?.display ?? "the recipients' MX")")
            let envelope = SubmissionEnvelope(
                reversePath: .mailbox(probe.returnPath), mailParameters: probe.mailParameters,
                recipients: probe.recipients.map { .init(mailbox: $0.mailbox, parameters: $0.parameters) },
                message: probe.message, requireDSN: config.requireDSN
            )
            let groups = await Submitter.submit(
                envelope, base: config.dialog, server: config.server, resolver: config.resolver,
                mxPort: config.mxPort)
            var anySubmitted = false
            var submissionFailure = false
            for g in groups {
                let addresses = g.recipients.map(\.mailbox.description)
                if let e = g.routingError {
                    submissions.append(
                        SubmissionSummary(
                            target: g.domain ?? "?", recipients: addresses, error: e.message,
                            failedStep: e.step.rawValue))
                    for a in addresses { tracker.notSubmitted(a, reason: e.message) }
                    continue
                }
                for attempt in g.attempts {
                    let r = attempt.report
                    let tls = r.tls.map { "\($0.protocolVersion ?? "TLS"), certificate \($0.verification.rawValue)" }
                    submissions.append(
                        SubmissionSummary(
                            target: attempt.route.target.display, address: r.address,
                            mxPreference: attempt.route.mxPreference,
                            dsnAdvertised: r.dsn, dsnRequested: r.dsnRequested, tls: tls, recipients: addresses,
                            error: r.failedStep == nil ? nil : r.error, failedStep: r.failedStep?.rawValue
                        ))
                    warnings += r.warnings.map { "\(attempt.route.target.display): \($0)" }
                }
                guard let final = g.final?.report ?? g.attempts.last?.report else { continue }
                await recorder.session(token: token.value, group: g)
                let server = g.final?.route.target.display ?? g.attempts.last?.route.target.display
                if final.failureKind == .dsnUnavailable {
                    for a in addresses { tracker.markDSNUnavailable(a, server: server) }
                    continue
                }
                let acceptedAt = final.acceptedAt.map { started.addingTimeInterval($0) } ?? Date()
                let messageTaken = (final.dataReplyCode ?? 0) / 100 == 2
                var outcomes: [String: RecipientOutcome] = [:]
                for o in final.recipients where outcomes[o.address.lowercased()] == nil {
                    outcomes[o.address.lowercased()] = o
                }
                var recorded: [LedgerSubmission] = []
                let dataReply = final.dataReplyCode.map { ($0, final.dataReplyText) }
                for a in addresses {
                    if let outcome = outcomes[a.lowercased()] {
                        let accepted = outcome.accepted && messageTaken
                        tracker.submitted(
                            a, server: server, accepted: accepted, replyCode: outcome.replyCode,
                            enhancedCode: outcome.enhancedCode,
                            text: outcome.text, dsnRequested: final.dsnRequested, at: acceptedAt)
                        if accepted { anySubmitted = true }
                        recorded.append(
                            LedgerRecorder.submission(
                                outcome: outcome, messageTaken: messageTaken, dataReply: dataReply))
                    } else {
                        submissionFailure = true
                        tracker.notSubmitted(a, reason: final.error ?? "the transaction did not complete")
                    }
                }
                await recorder.submissions(token: token.value, recorded)
            }
            if config.waitForReports {
                log("submitted; waiting up to \(Int(config.deadline.components.seconds)) s for reports")
            }

            // Wait for reports until every recipient has a final verdict or the deadline passes.
            let deadlineAt = ContinuousClock.now + config.deadline
            let clock = config.clock
            group.addTask {
                do {
                    try await clock.sleep(for: config.deadline)
                    continuation.yield(.deadline)
                } catch {}
            }
            if progress != nil {
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .seconds(1))
                        continuation.yield(.tick)
                    }
                }
            }
            // No feed of our own: a standing `roundtrip listen --ledger` (or another process)
            // fills the ledger with the reports; its verdicts (which include the arrivals this
            // run records there) decide, watched alongside the recipients' mailboxes.
            let ledgerSource =
                feeds.isEmpty && config.waitForReports && config.reportExpected && anySubmitted ? config.ledger : nil
            if let ledger = ledgerSource {
                log("no report feed of our own: waiting for the ledger \(ledger.location) to be filled")
                let strict = config.strict
                group.addTask {
                    do {
                        var seen: LedgerRevision?
                        while !Task.isCancelled && Date() < deadlineDate {
                            let revision = try await ledger.revision(token: token.value)
                            if revision != seen, let d = try await ledger.probe(token: token.value) {
                                seen = revision
                                continuation.yield(.ledger(StatusQuery.runReport(d, strict: strict).recipients))
                            }
                            _ = try await ledger.waitForUpdate(token: token.value, since: revision, until: deadlineDate)
                        }
                    } catch is CancellationError {
                    } catch {
                        guard !Task.isCancelled else { return }
                        continuation.yield(.feedFailed("the ledger \(ledger.location): \(error)"))
                    }
                }
            }
            let sources = feeds.count + (ledgerSource == nil ? 0 : 1)
            var fromLedger: [RecipientResult]?
            let correlator = Correlator(key: config.key)
            let pending = [PendingProbe(token: token, recipients: probe.recipients.map(\.mailbox.description))]
            var unmatched = 0
            var forged = 0
            var handled: [String] = []
            var feedFailures: [String] = []
            var arrivalFailures: [String] = []
            var arrivedSources: [String] = []
            var arrivedMailboxes = Set<String>()
            // Done when every verdict is final and every watched mailbox showed
            // the probe (or no recipient could still arrive).
            func done() -> Bool {
                if ledgerSource != nil {
                    guard let fromLedger, fromLedger.allSatisfy({ $0.verdict.isFinal }) else { return false }
                } else {
                    guard tracker.isComplete else { return false }
                }
                guard arrivedMailboxes.count + arrivalFailures.count < arrivals.count else { return true }
                return !tracker.recipients.contains { $0.arrival == nil && ![.rejected, .failed].contains($0.verdict) }
            }
            let watching = sources > 0 || !arrivals.isEmpty
            func allSourcesFailed() -> Bool {
                feedFailures.count == sources && arrivalFailures.count == arrivals.count
            }
            if config.waitForReports && watching && anySubmitted && !done() {
                waiting: for await event in events {
                    switch event {
                    case .deadline:
                        break waiting
                    case .feedFailed(let why):
                        log("report feed failed: \(why)")
                        feedFailures.append(why)
                        warnings.append("the report feed failed: \(why)")
                        if allSourcesFailed() { break waiting }
                        continue
                    case .arrivalFailed(let why):
                        log("arrival watch failed: \(why)")
                        arrivalFailures.append(why)
                        warnings.append("the arrival watch failed: \(why)")
                        if allSourcesFailed() { break waiting }
                        if done() { break waiting }
                        continue
                    case .ledger(let recipients):
                        fromLedger = recipients
                        if done() { break waiting }
                        continue
                    case .arrival(let a):
                        guard
                            let e = ArrivalEvidence.from(
                                a.bytes, token: token, key: config.key,
                                recipients: tracker.recipients.map(\.address), mailbox: a.mailbox,
                                mailboxUser: a.mailboxUser, folder: a.folder, junk: a.junk,
                                internalDate: a.internalDate, source: a.source,
                                trustedAuthservID: config.trustedAuthservID, observedAt: a.seenAt)
                        else {
                            log(
                                "arrival in \(a.source): not this probe (token not authenticated) or no recipient of it"
                            )
                            continue
                        }
                        arrivedMailboxes.insert(a.mailbox)
                        arrivedSources.append(a.source)
                        let changed = tracker.arrived(e)
                        await recorder.arrival(token: token.value, evidence: e, reportExpected: config.reportExpected)
                        log(
                            "arrival of \(e.address) in \(e.folder)\(e.junk ? " (Junk)" : "") via \(a.mailbox)\(changed ? "; verdict now \(tracker.recipients.first { $0.address == e.address }?.verdict.rawValue ?? "?")" : "")"
                        )
                        if done() { break waiting }
                        continue
                    case .tick:
                        let left = ContinuousClock.now.duration(to: deadlineAt)
                        progress?(
                            VerifyProgress(
                                waitingFor: fromLedger.map { $0.filter { !$0.verdict.isFinal }.count }
                                    ?? tracker.waitingCount, total: tracker.recipients.count,
                                arrived: tracker.recipients.filter { $0.arrival != nil }.count,
                                secondsLeft: max(0, Double(left.components.seconds))))
                        continue
                    case .message(let m):
                        guard let report = try? DeliveryReportParser.parse(m.bytes) else {
                            unmatched += 1
                            _ = await recorder.report(m, parsed: nil, forged: false)
                            continue
                        }
                        let text = String(decoding: m.bytes.prefix(1 << 20), as: UTF8.self)
                        let c = correlator.correlate(
                            report, envelopeRecipients: m.envelopeRecipients, pending: pending, text: text)
                        let id = await recorder.report(m, parsed: report, forged: c.isForged)
                        if c.token == token {
                            let evidence = tracker.evidence(in: report, correlation: c, source: m.source)
                            let updated = evidence.filter { tracker.apply($0, at: m.receivedAt) }.map(\.address)
                            if !updated.isEmpty { handled.append(m.source) }
                            await recorder.match(id, token: token.value, correlation: c)
                            await recorder.attach(id, token: token.value, evidence: evidence, at: m.receivedAt)
                            log(
                                "report via \(m.source): \(report.kind.name), matched by \(c.key.rawValue); updated \(updated.joined(separator: ", "))"
                            )
                        } else if c.isForged {
                            forged += 1
                            log("report via \(m.source) carries a forged token; ignored")
                        } else {
                            unmatched += 1
                        }
                        if done() { break waiting }
                    }
                }
            }
            // The ledger's verdicts as they stand at the end, past their deadline expired there.
            var ledgerRecipients: [RecipientResult]?
            if let ledger = ledgerSource {
                do {
                    if fromLedger?.allSatisfy({ $0.verdict.isFinal }) != true {
                        _ = try await ledger.expire(now: Date())
                    }
                    if let d = try await ledger.probe(token: token.value) {
                        ledgerRecipients = StatusQuery.runReport(d, strict: config.strict).recipients
                    }
                } catch {
                    log("reading the ledger failed: \(error)")
                    ledgerRecipients = fromLedger
                }
            }
            if config.waitForReports && !tracker.isComplete && ledgerRecipients == nil {
                tracker.deadlinePassed()
                await recorder.expire()
            }
            for feed in feeds { await feed.markHandled(handled) }
            for watch in arrivals { await watch.remove(arrivedSources) }
            // send: a probe still waiting for its report counts as sent.
            var results = tracker.recipients
            if let fromLedger = ledgerRecipients {
                var byAddress: [String: RecipientResult] = [:]
                for r in fromLedger { byAddress[r.address.lowercased()] = r }
                for i in results.indices {
                    if let r = byAddress[results[i].address.lowercased()], r.verdict != .pending {
                        var merged = r
                        merged.roundTripSeconds = r.roundTripSeconds ?? results[i].roundTripSeconds
                        // Measured by this run on its own clock; the ledger keeps no such figure.
                        merged.endToEndSeconds = r.endToEndSeconds ?? results[i].endToEndSeconds
                        results[i] = merged
                    } else if results[i].verdict == .pending {
                        results[i].verdict = .timeout
                        results[i].inbound = "no report by the deadline: the inbound path or DSN generation is broken"
                    }
                }
            }
            let verdicts = results.map(\.verdict)
            let judged = config.waitForReports ? verdicts : verdicts.map { $0 == .pending ? .delivered : $0 }
            var status =
                config.waitForReports
                ? RunExitStatus.from(recipients: results, strict: config.strict)
                : RunExitStatus.from(verdicts: judged, strict: config.strict)
            if !anySubmitted && submissionFailure && verdicts.allSatisfy({ $0 == .rejected }) {
                status = .submissionFailed
            } else if watching && allSourcesFailed() && status == .timeout {
                // Nowhere to read reports from: not a verdict about the mail path.
                status = .configuration
            }
            let report = RunReport(
                token: token.value, returnPath: probe.returnPath.description, messageID: probe.messageID,
                startedAt: started,
                finishedAt: Date(), deadlineSeconds: Double(config.deadline.components.seconds), strict: config.strict,
                submissions: submissions, recipients: results, unmatchedReports: unmatched, forgedReports: forged,
                warnings: warnings, exitCode: status.rawValue
            )
            return (report, probe, groups)
        }
    }

    static func rfc5322Date(_ date: Date) -> String {
        MessageDate(secondsSince1970: Int64(date.timeIntervalSince1970.rounded(.down)), zoneOffsetMinutes: 0).rfc5322
    }
}
