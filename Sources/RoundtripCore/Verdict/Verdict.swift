/// What the round trip proved for one recipient (docs/architecture.md §4).
public enum Verdict: String, Sendable, Hashable, Codable, CaseIterable {
    /// `Action: delivered`: both directions proven.
    case delivered
    /// `Action: relayed`: outbound proven to a hop without DSN; final delivery unproven.
    case relayed
    /// `Action: expanded`: delivered to an alias or list.
    case expanded
    /// `Action: delayed`: still trying; inbound proven. Keeps the run waiting.
    case delayed
    /// `Action: failed`: outbound failed with the reported reason; inbound proven.
    case failed
    /// Refused at RCPT or DATA: outbound failed at submission.
    case rejected
    /// The server does not offer DSN: accepted, but no receipt can be asked for.
    case dsnUnavailable = "dsn-unavailable"
    /// The probe arrived in the recipient's mailbox (`--arrival`) but no report
    /// came: outbound proven end to end, inbound unproven.
    case arrived
    /// Nothing by the deadline: inbound path or DSN generation broken.
    case timeout
    /// Waiting (not yet a verdict).
    case pending

    /// Whether the verdict is final (no more waiting needed).
    public var isFinal: Bool {
        switch self {
        case .pending, .delayed: return false
        default: return true
        }
    }

    public var meaning: String {
        switch self {
        case .delivered: return "delivered: outbound and inbound paths proven"
        case .relayed:
            return "relayed to a hop without DSN: outbound proven to that hop, inbound proven, final delivery unproven"
        case .expanded: return "expanded to an alias or list: both directions proven"
        case .delayed: return "delayed: the far end is still trying; inbound path proven"
        case .failed: return "failed after acceptance: outbound failed with the reported reason; inbound path proven"
        case .rejected: return "rejected at submission: outbound failed"
        case .dsnUnavailable: return "accepted, but the server offers no DSN: no receipt can be asked for"
        case .arrived:
            return "arrived in the recipient's mailbox: outbound proven end to end, inbound unproven (no report)"
        case .timeout: return "no report by the deadline: inbound path or DSN generation broken"
        case .pending: return "waiting for a report"
        }
    }
}

/// The run's exit status: the worst verdict (docs/architecture.md §4).
public enum RunExitStatus: Int32, Sendable, Hashable, Codable {
    /// All proven.
    case proven = 0
    /// failed or rejected.
    case failed = 1
    case timeout = 2
    /// relayed, delayed, dsn-unavailable, arrived, or an arrival concern (failure with --strict).
    case partial = 3
    /// Could not submit (connect, TLS, AUTH).
    case submissionFailed = 4
    case usage = 64
    /// An unexpected internal failure (EX_SOFTWARE), never "failed".
    case internalError = 70
    case configuration = 78

    public static func from(verdicts: [Verdict], strict: Bool) -> RunExitStatus {
        var worst = RunExitStatus.proven
        func rank(_ s: RunExitStatus) -> Int {
            switch s {
            case .proven: return 0
            case .partial: return 1
            case .timeout: return 2
            case .failed: return 3
            default: return 4
            }
        }
        for v in verdicts {
            let s: RunExitStatus
            switch v {
            case .delivered, .expanded: s = .proven
            case .failed, .rejected: s = .failed
            case .timeout, .pending: s = .timeout
            case .relayed, .delayed, .dsnUnavailable, .arrived: s = strict ? .failed : .partial
            }
            if rank(s) > rank(worst) { worst = s }
        }
        return worst
    }

    /// The worst of the verdicts and of the arrivals' concerns (Junk
    /// placement, `dkim=fail`, `dmarc=fail`): a concern is partial, a failure
    /// with `strict`.
    public static func from(recipients: [RecipientResult], strict: Bool) -> RunExitStatus {
        let byVerdict = from(verdicts: recipients.map(\.verdict), strict: strict)
        guard byVerdict == .proven || byVerdict == .partial,
            recipients.contains(where: { !($0.arrival?.concerns.isEmpty ?? true) })
        else { return byVerdict }
        return strict ? .failed : .partial
    }

    /// Nagios plugin status (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).
    public var nagios: Int32 {
        switch self {
        case .proven: return 0
        case .partial: return 1
        case .failed, .timeout, .submissionFailed: return 2
        case .usage, .configuration, .internalError: return 3
        }
    }
}
