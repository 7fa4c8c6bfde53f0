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
    /// What is proven about the path out and the path back.
    public var outbound: String
    public var inbound: String

    public init(address: String) {
        self.address = address
        self.verdict = .pending
        self.reportsReceived = 0
        self.outbound = "not submitted yet"
        self.inbound = "no report yet"
    }
}

/// The state of one probe's recipients as events arrive. Pure: time is
/// passed in. Final verdicts are never replaced by a later `delayed`.
public struct RunTracker: Sendable {
    public private(set) var recipients: [RecipientResult]
    private var acceptedAt: [String: Date] = [:]
    /// Lower-cased address → position, so a report for one of thousands of
    /// recipients is found without a scan.
    private let positions: [String: Int]

    public init(recipients: [String]) {
        self.recipients = recipients.map { RecipientResult(address: $0) }
        var positions: [String: Int] = [:]
        for (i, r) in recipients.enumerated() where positions[r.lowercased()] == nil { positions[r.lowercased()] = i }
        self.positions = positions
    }

    private func index(of address: String) -> Int? {
        positions[address.lowercased()]
    }

    /// The server's answer at RCPT/DATA for `address`.
    public mutating func submitted(_ address: String, server: String?, accepted: Bool, replyCode: Int?, enhancedCode: String?,
                                   text: String?, dsnRequested: Bool, at: Date) {
        guard let i = index(of: address) else { return }
        recipients[i].server = server
        recipients[i].smtpReplyCode = replyCode
        recipients[i].smtpEnhancedCode = enhancedCode
        recipients[i].smtpText = text
        let reply = [replyCode.map(String.init), enhancedCode, text].compactMap { $0 }.joined(separator: " ")
        if !accepted {
            recipients[i].verdict = .rejected
            recipients[i].outbound = "refused at submission by \(server ?? "the server"): \(reply)"
            recipients[i].inbound = "not tested (nothing was sent)"
        } else if !dsnRequested {
            recipients[i].verdict = .dsnUnavailable
            recipients[i].outbound = "accepted by \(server ?? "the server") (\(reply)); no DSN could be requested"
            recipients[i].inbound = "not tested: the server does not offer DSN"
        } else {
            acceptedAt[address.lowercased()] = at
            recipients[i].outbound = "accepted by \(server ?? "the server") (\(reply)); waiting for the report"
        }
    }

    /// DSN was required and the server lacks it: nothing was sent.
    public mutating func markDSNUnavailable(_ address: String, server: String?) {
        guard let i = index(of: address) else { return }
        recipients[i].server = server
        recipients[i].verdict = .dsnUnavailable
        recipients[i].outbound = "not sent: \(server ?? "the server") does not offer DSN (--require-dsn)"
        recipients[i].inbound = "not tested"
    }

    /// The probe could not be submitted for `address` (connect, TLS, AUTH).
    public mutating func notSubmitted(_ address: String, reason: String) {
        guard let i = index(of: address) else { return }
        recipients[i].verdict = .rejected
        recipients[i].outbound = "not submitted: \(reason)"
        recipients[i].inbound = "not tested"
    }

    /// A report correlated with this probe. Returns the addresses it updated.
    @discardableResult
    public mutating func received(_ report: DeliveryReport, correlation: Correlation, source: String, at: Date) -> [String] {
        guard report.kind.isReport else { return [] }
        var updated: [String] = []
        // Only needed for the single-recipient fallback below.
        let waiting = report.recipients.count == 1
            ? recipients.indices.filter { !recipients[$0].verdict.isFinal || recipients[$0].verdict == .delayed } : []
        for r in report.recipients {
            let candidates = [r.finalRecipient?.value, r.originalRecipientDecoded, r.originalRecipient?.value].compactMap { $0 }
            var target = candidates.compactMap { index(of: $0) }.first
            // A single-recipient report for a single waiting recipient: the
            // address may have been rewritten by forwarding.
            if target == nil, report.recipients.count == 1, waiting.count == 1 { target = waiting[0] }
            guard let i = target else { continue }
            let verdict: Verdict
            switch r.action {
            case .delivered: verdict = .delivered
            case .relayed: verdict = .relayed
            case .expanded: verdict = .expanded
            case .delayed: verdict = .delayed
            case .failed: verdict = .failed
            }
            recipients[i].reportsReceived += 1
            // Monotonic: a delayed report never replaces a final verdict.
            if verdict == .delayed && recipients[i].verdict.isFinal && recipients[i].verdict != .dsnUnavailable { continue }
            if recipients[i].verdict == .rejected { continue }
            recipients[i].verdict = verdict
            recipients[i].action = r.actionRaw ?? r.action.rawValue
            recipients[i].status = r.status?.description
            recipients[i].statusPseudo = r.status == nil ? nil : r.statusIsPseudo
            recipients[i].diagnostic = r.diagnostic
            recipients[i].remoteMTA = r.remoteMTA?.value
            recipients[i].reportingMTA = report.reportingMTA?.value
            recipients[i].reportKind = report.kind.name
            recipients[i].matchedKey = correlation.key
            recipients[i].confidence = correlation.confidence
            recipients[i].reportSource = source
            if let sent = acceptedAt[recipients[i].address.lowercased()] {
                recipients[i].roundTripSeconds = max(0, at.timeIntervalSince(sent))
            }
            let reporter = report.reportingMTA?.value ?? "the far end"
            let status = r.status.map { " \($0)" } ?? ""
            switch verdict {
            case .delivered, .expanded:
                recipients[i].outbound = "\(verdict.rawValue) at \(reporter)\(status)"
            case .relayed:
                recipients[i].outbound = "relayed by \(reporter) to a hop without DSN; final delivery unproven"
            case .delayed:
                recipients[i].outbound = "delayed at \(reporter)\(status): \(r.diagnostic ?? "still trying")"
            case .failed:
                recipients[i].outbound = "failed at \(reporter)\(status): \(r.diagnostic ?? "no diagnostic")"
            default: break
            }
            recipients[i].inbound = "report received via \(source) (matched by \(correlation.key.rawValue), \(correlation.confidence?.rawValue ?? "no") confidence)"
            updated.append(recipients[i].address)
        }
        return updated
    }

    /// Whether nothing more needs to be waited for.
    public var isComplete: Bool { recipients.allSatisfy { $0.verdict.isFinal } }

    /// The deadline passed: whoever still waits gets `timeout`; `delayed` stays
    /// (the inbound path is proven).
    public mutating func deadlinePassed() {
        for i in recipients.indices where recipients[i].verdict == .pending {
            recipients[i].verdict = .timeout
            recipients[i].inbound = "no report by the deadline: the inbound path or DSN generation is broken"
        }
    }

    public var verdicts: [Verdict] { recipients.map(\.verdict) }
}
