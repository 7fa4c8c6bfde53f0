import DeliveryReports
import Foundation

/// What became of one recipient, with the facts that prove each direction.
public struct RecipientResult: Sendable, Hashable, Codable {
    public var address: String
    public var verdict: Verdict
    /// The server that took (or refused) the probe for this recipient.
    public var server: String?
    public var smtpReplyCode: Int?
    public var smtpEnhancedCode: String?
    public var smtpText: String?
    /// From the report: RFC 3464 Action, Status, Diagnostic-Code, Remote-MTA, Reporting-MTA.
    public var action: String?
    public var status: String?
    public var statusPseudo: Bool?
    public var diagnostic: String?
    public var remoteMTA: String?
    public var reportingMTA: String?
    public var reportKind: String?
    public var matchedKey: CorrelationKey?
    public var confidence: Confidence?
    public var reportSource: String?
    /// Submission accepted → report received.
    public var roundTripSeconds: Double?
    public var reportsReceived: Int
    /// Reports that named this recipient without an authenticated probe
    /// token (matched by address alone): shown, never counted.
    public var unconfirmedReports: Int = 0
    /// What is proven about the path out and the path back.
    public var outbound: String
    public var inbound: String
    /// What decided the verdict: `report` or `arrival` (nil while none did).
    public var proof: String?
    /// The probe found in the recipient's mailbox (`--arrival`).
    public var arrival: ArrivalEvidence?
    /// Submission accepted → the run saw the probe in the mailbox (this machine's clock).
    public var endToEndSeconds: Double?

    public init(address: String) {
        self.address = address
        self.verdict = .pending
        self.reportsReceived = 0
        self.outbound = "not submitted yet"
        self.inbound = VerdictWording.noReportYet
    }
}

/// The state of one probe's recipients as events arrive. Pure: time is
/// passed in. Verdicts change only as `VerdictRules` allow (the same rules
/// the ledger applies), and only on token-authenticated evidence.
public struct RunTracker: Sendable {
    public private(set) var recipients: [RecipientResult]
    private var acceptedAt: [String: Date] = [:]
    /// Lower-cased address → position, so a report for one of thousands of
    /// recipients is found without a scan.
    private let positions: [String: Int]
    /// How many recipients have no final verdict: `isComplete` without a scan.
    private var waiting: Int

    /// Whether a report is expected (false with `--no-report`: arrival alone decides).
    public let reportExpected: Bool

    public init(recipients: [String], reportExpected: Bool = true) {
        self.reportExpected = reportExpected
        self.recipients = recipients.map { RecipientResult(address: $0) }
        var positions: [String: Int] = [:]
        for (i, r) in recipients.enumerated() where positions[r.lowercased()] == nil { positions[r.lowercased()] = i }
        self.positions = positions
        self.waiting = self.recipients.count
    }

    /// Every verdict change goes through here, so `waiting` stays true.
    private mutating func set(_ i: Int, _ verdict: Verdict) {
        waiting += (verdict.isFinal ? 0 : 1) - (recipients[i].verdict.isFinal ? 0 : 1)
        recipients[i].verdict = verdict
    }

    private func index(of address: String) -> Int? {
        positions[address.lowercased()]
    }

    /// The server's answer at RCPT/DATA for `address`.
    public mutating func submitted(
        _ address: String, server: String?, accepted: Bool, replyCode: Int?, enhancedCode: String?,
        text: String?, dsnRequested: Bool, at: Date
    ) {
        guard let i = index(of: address) else { return }
        recipients[i].server = server
        recipients[i].smtpReplyCode = replyCode
        recipients[i].smtpEnhancedCode = enhancedCode
        recipients[i].smtpText = text
        let reply = VerdictWording.reply(code: replyCode, enhanced: enhancedCode, text: text)
        if !accepted {
            set(i, .rejected)
            (recipients[i].outbound, recipients[i].inbound) = VerdictWording.rejected(server: server, reply: reply)
        } else if !dsnRequested {
            acceptedAt[address.lowercased()] = at
            set(i, .dsnUnavailable)
            (recipients[i].outbound, recipients[i].inbound) = VerdictWording.acceptedWithoutDSN(
                server: server, reply: reply)
        } else {
            acceptedAt[address.lowercased()] = at
            recipients[i].outbound = VerdictWording.waiting(server: server, reply: reply)
        }
    }

    /// DSN was required and the server lacks it: nothing was sent.
    public mutating func markDSNUnavailable(_ address: String, server: String?) {
        guard let i = index(of: address) else { return }
        recipients[i].server = server
        set(i, .dsnUnavailable)
        recipients[i].outbound = "not sent: \(server ?? "the server") does not offer DSN (--require-dsn)"
        recipients[i].inbound = "not tested"
    }

    /// The probe could not be submitted for `address` (connect, TLS, AUTH).
    public mutating func notSubmitted(_ address: String, reason: String) {
        guard let i = index(of: address) else { return }
        set(i, .rejected)
        recipients[i].outbound = "not submitted: \(reason)"
        recipients[i].inbound = "not tested"
    }

    /// A report correlated with this probe. Returns the addresses whose
    /// verdict it changed.
    @discardableResult
    public mutating func received(_ report: DeliveryReport, correlation: Correlation, source: String, at: Date)
        -> [String]
    {
        evidence(in: report, correlation: correlation, source: source).filter { apply($0, at: at) }.map(\.address)
    }

    /// What `report` says about this probe's recipients.
    public func evidence(in report: DeliveryReport, correlation: Correlation, source: String) -> [ReportEvidence] {
        ReportEvidence.from(
            report, correlation: correlation, source: source,
            recipient: { index(of: $0).map { recipients[$0].address } },
            soleWaiting: { waiting == 1 ? recipients.first { !$0.verdict.isFinal }?.address : nil })
    }

    /// Applies one piece of evidence by `VerdictRules`; true when it changed the verdict.
    @discardableResult
    public mutating func apply(_ e: ReportEvidence, at: Date) -> Bool {
        guard let i = index(of: e.address) else { return false }
        recipients[i].reportsReceived += 1
        guard e.isAuthenticated else {
            recipients[i].unconfirmedReports += 1
            return false
        }
        guard VerdictRules.report(e.verdict, replaces: recipients[i].verdict, key: e.key) else { return false }
        set(i, e.verdict)
        recipients[i].action = e.action
        recipients[i].status = e.status
        recipients[i].statusPseudo = e.statusPseudo
        recipients[i].diagnostic = e.diagnostic
        recipients[i].remoteMTA = e.remoteMTA
        recipients[i].reportingMTA = e.reportingMTA
        recipients[i].reportKind = e.reportKind
        recipients[i].matchedKey = e.key
        recipients[i].confidence = e.confidence
        recipients[i].reportSource = e.source
        if let sent = acceptedAt[recipients[i].address.lowercased()] {
            recipients[i].roundTripSeconds = max(0, at.timeIntervalSince(sent))
        }
        recipients[i].outbound = e.outbound
        recipients[i].inbound = e.inbound
        recipients[i].proof = "report"
        // An arrival seen before the report still proves the final delivery.
        if let a = recipients[i].arrival { applyArrival(a, at: i) }
        return true
    }

    /// The probe found in a recipient's mailbox. The first arrival is kept;
    /// true when it changed the verdict (`VerdictRules.arrival`).
    @discardableResult
    public mutating func arrived(_ e: ArrivalEvidence) -> Bool {
        guard let i = index(of: e.address), recipients[i].arrival == nil else { return false }
        recipients[i].arrival = e
        if let sent = acceptedAt[recipients[i].address.lowercased()] {
            // Our own clock at both ends: the Received: time has one-second
            // resolution and the receiver's clock.
            recipients[i].endToEndSeconds = max(0, e.observedAt.timeIntervalSince(sent))
        }
        return applyArrival(e, at: i)
    }

    @discardableResult
    private mutating func applyArrival(_ e: ArrivalEvidence, at i: Int) -> Bool {
        guard let v = VerdictRules.arrival(replaces: recipients[i].verdict, reportExpected: reportExpected) else {
            return false
        }
        let hadReport = recipients[i].proof == "report"
        set(i, v)
        recipients[i].proof = "arrival"
        recipients[i].outbound = VerdictWording.arrival(e)
        if !hadReport { recipients[i].inbound = VerdictWording.arrivalInbound(reportExpected: reportExpected) }
        return true
    }

    /// Whether nothing more needs to be waited for.
    public var isComplete: Bool { waiting == 0 }

    /// How many recipients still wait for a final verdict.
    public var waitingCount: Int { waiting }

    /// The deadline passed: whoever still waits gets `timeout`; `delayed` stays
    /// (the inbound path is proven).
    public mutating func deadlinePassed() {
        for i in recipients.indices where recipients[i].verdict == .pending {
            set(i, .timeout)
            recipients[i].inbound = VerdictWording.timeoutInbound
            if let a = recipients[i].arrival { applyArrival(a, at: i) }
        }
    }

    public var verdicts: [Verdict] { recipients.map(\.verdict) }
}
