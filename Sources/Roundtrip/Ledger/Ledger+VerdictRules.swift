import RoundtripCore

/// How a recipient's verdict may change. Verdicts only move forward: a
/// final verdict from a report is never overwritten by a later `delayed`,
/// and evidence (a report) beats the absence of evidence (timeout,
/// dsn-unavailable).
enum VerdictRules {
    /// Verdicts a delivery report can give (`Action:` values).
    static let reportVerdicts: Set<Verdict> = [.delivered, .relayed, .expanded, .delayed, .failed]

    /// Whether a report's verdict `new` replaces the stored `old`.
    ///
    /// - `delayed` replaces only `pending`.
    /// - `relayed` replaces pending, delayed, timeout (a late report) and
    ///   dsn-unavailable (a report came although none was asked for).
    /// - `delivered`, `expanded` and `failed` replace all of those and `relayed`
    ///   (a later hop's report is more specific than "relayed").
    /// - Once `delivered`, `expanded`, `failed` or `rejected`, nothing changes:
    ///   the first final report wins.
    static func report(_ new: Verdict, replaces old: Verdict) -> Bool {
        switch new {
        case .delayed:
            return old == .pending
        case .relayed:
            return [.pending, .delayed, .timeout, .dsnUnavailable].contains(old)
        case .delivered, .expanded, .failed:
            return [.pending, .delayed, .timeout, .dsnUnavailable, .relayed].contains(old)
        case .rejected, .dsnUnavailable, .timeout, .pending:
            return false
        }
    }

    /// Whether the submission's outcome `new` (rejected or dsn-unavailable) replaces `old`.
    /// A report that arrived before the DATA reply was recorded keeps its verdict.
    static func submission(_ new: Verdict, replaces old: Verdict) -> Bool {
        switch new {
        case .rejected:
            return [.pending, .delayed, .dsnUnavailable].contains(old)
        case .dsnUnavailable:
            return old == .pending
        default:
            return false
        }
    }

    /// At the deadline only `pending` becomes `timeout`. A `delayed`
    /// recipient stays delayed: a report proved the inbound path, so calling
    /// it a timeout ("inbound path or DSN generation broken") would be false.
    static func expiry(replaces old: Verdict) -> Bool {
        old == .pending
    }
}
