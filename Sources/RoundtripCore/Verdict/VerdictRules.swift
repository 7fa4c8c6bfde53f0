import DeliveryReports

extension CorrelationKey {
    /// Whether the key carries a probe token whose HMAC verified: the VERP
    /// address the report was delivered to (envelope or `Delivered-To`),
    /// `Original-Envelope-Id`, the returned headers (`X-Roundtrip-Probe`,
    /// `Message-ID`, `Return-Path`) or a token quoted in the text. Only such
    /// evidence can have come from someone who saw the probe; a match by
    /// recipient address alone can be made by anyone who knows the address.
    public var isAuthenticated: Bool {
        switch self {
        case .envelopeRecipient, .deliveredTo, .envelopeID, .returnedHeaders, .text: return true
        case .recipient, .none: return false
        }
    }
}

/// The one set of rules by which a recipient's verdict changes, used alike by
/// the in-memory run (`RunTracker`, `verify`) and the ledger (`status`,
/// `listen --ledger`), so the same reports always give the same verdict.
///
/// - Only token-authenticated evidence decides (`CorrelationKey.isAuthenticated`);
///   a report matched by recipient alone is kept as unconfirmed evidence.
/// - Verdicts only move forward: a final verdict from a report is never
///   overwritten by a later `delayed`, and evidence (a report) beats the
///   absence of evidence (timeout, dsn-unavailable).
public enum VerdictRules {
    /// Verdicts a delivery report can give (`Action:` values).
    public static let reportVerdicts: Set<Verdict> = [.delivered, .relayed, .expanded, .delayed, .failed]

    /// The verdict an RFC 3464 `Action:` gives.
    public static func verdict(for action: DeliveryAction) -> Verdict {
        switch action {
        case .delivered: return .delivered
        case .relayed: return .relayed
        case .expanded: return .expanded
        case .delayed: return .delayed
        case .failed: return .failed
        }
    }

    /// Whether a report's verdict `new`, matched by `key`, replaces the stored `old`.
    ///
    /// - Evidence whose key is not authenticated replaces nothing.
    /// - `delayed` replaces only `pending`.
    /// - `relayed` replaces pending, delayed, timeout (a late report) and
    ///   dsn-unavailable (a report came although none was asked for).
    /// - `delivered`, `expanded` and `failed` replace all of those and `relayed`
    ///   (a later hop's report is more specific than "relayed").
    /// - Once `delivered`, `expanded`, `failed` or `rejected`, nothing changes:
    ///   the first final report wins.
    /// - A report replaces `arrived` as it replaces `timeout` (the arrival is
    ///   kept and applied again by `arrival(replaces:reportExpected:)`).
    public static func report(_ new: Verdict, replaces old: Verdict, key: CorrelationKey) -> Bool {
        guard key.isAuthenticated else { return false }
        switch new {
        case .delayed:
            return old == .pending
        case .relayed:
            return [.pending, .delayed, .timeout, .dsnUnavailable, .arrived].contains(old)
        case .delivered, .expanded, .failed:
            return [.pending, .delayed, .timeout, .dsnUnavailable, .relayed, .arrived].contains(old)
        case .rejected, .dsnUnavailable, .timeout, .pending, .arrived:
            return false
        }
    }

    /// Whether the submission's outcome `new` (rejected or dsn-unavailable) replaces `old`.
    /// A report that arrived before the DATA reply was recorded keeps its verdict.
    public static func submission(_ new: Verdict, replaces old: Verdict) -> Bool {
        switch new {
        case .rejected:
            return [.pending, .delayed, .dsnUnavailable].contains(old)
        case .dsnUnavailable:
            return old == .pending
        default:
            return false
        }
    }

    /// What the probe's arrival in the recipient's mailbox (token-authenticated,
    /// `verify --arrival`) makes of `old`; nil when it stays. Arrival proves the
    /// outbound direction end to end; only a report proves the inbound one.
    ///
    /// - `relayed` becomes `delivered`: the report proved the path back, the
    ///   arrival the final delivery the report could not.
    /// - `dsn-unavailable` and `timeout` become `arrived` (outbound proven,
    ///   inbound unproven), or `delivered` when no report is expected
    ///   (`--no-report`: a pure mailbox loop).
    /// - `pending` and `delayed` keep waiting for the report, or become
    ///   `delivered` when none is expected.
    /// - `delivered`, `expanded`, `failed`, `rejected` and `arrived` stay: the
    ///   first final verdict wins.
    public static func arrival(replaces old: Verdict, reportExpected: Bool) -> Verdict? {
        switch old {
        case .relayed: return .delivered
        case .dsnUnavailable, .timeout: return reportExpected ? .arrived : .delivered
        case .pending, .delayed: return reportExpected ? nil : .delivered
        case .delivered, .expanded, .failed, .rejected, .arrived: return nil
        }
    }

    /// At the deadline only `pending` becomes `timeout`. A `delayed`
    /// recipient stays delayed: a report proved the inbound path, so calling
    /// it a timeout ("inbound path or DSN generation broken") would be false.
    public static func expiry(replaces old: Verdict) -> Bool {
        old == .pending
    }
}

/// The sentences that say what is proven about each direction, written once
/// for `verify` (from the run) and `status` (from the ledger).
public enum VerdictWording {
    /// The outbound sentence once a report decided `verdict`.
    public static func outbound(_ verdict: Verdict, reporter: String?, status: String?, diagnostic: String?) -> String {
        let reporter = reporter ?? "the far end"
        let status = status.map { " \($0)" } ?? ""
        switch verdict {
        case .delivered, .expanded:
            return "\(verdict.rawValue) at \(reporter)\(status)"
        case .relayed:
            return "relayed by \(reporter) to a hop without DSN; final delivery unproven"
        case .delayed:
            return "delayed at \(reporter)\(status): \(diagnostic ?? "still trying")"
        case .failed:
            return "failed at \(reporter)\(status): \(diagnostic ?? "no diagnostic")"
        case .rejected, .dsnUnavailable, .timeout, .pending, .arrived:
            return verdict.meaning
        }
    }

    /// The outbound sentence once an arrival decided the verdict.
    public static func arrival(_ e: ArrivalEvidence) -> String {
        var s = "arrived in \(e.folder)\(e.junk ? " (Junk)" : "") of \(e.mailbox)"
        if let a = e.authentication {
            var parts: [String] = []
            if let spf = a.spf { parts.append("spf=\(spf)") }
            for d in a.dkim { parts.append("dkim=\(d.result)\(d.domain.map { " (\($0))" } ?? "")") }
            if let dmarc = a.dmarc { parts.append("dmarc=\(dmarc)") }
            if !parts.isEmpty { s += ": " + parts.joined(separator: " ") + " by \(a.authservID)" }
        }
        return s
    }

    /// The inbound sentence when an arrival decided the verdict and no report came.
    public static func arrivalInbound(reportExpected: Bool) -> String {
        reportExpected ? "no report: the inbound path is unproven" : "not tested (--no-report)"
    }

    /// The inbound sentence once an authenticated report arrived.
    public static func inbound(source: String?, key: CorrelationKey?, confidence: Confidence?) -> String {
        "report received via \(source ?? "?") (matched by \(key?.rawValue ?? "?"), \(confidence?.rawValue ?? "no") confidence)"
    }

    /// The server's reply as one line: `250 2.1.5 Ok`.
    public static func reply(code: Int?, enhanced: String?, text: String?) -> String {
        [code.map(String.init), enhanced, text].compactMap { $0 }.joined(separator: " ")
    }

    public static func rejected(server: String?, reply: String) -> (outbound: String, inbound: String) {
        ("refused at submission by \(server ?? "the server"): \(reply)", "not tested (nothing was sent)")
    }

    public static func acceptedWithoutDSN(server: String?, reply: String) -> (outbound: String, inbound: String) {
        (
            "accepted by \(server ?? "the server") (\(reply)); no DSN could be requested",
            "not tested: the server does not offer DSN"
        )
    }

    public static func waiting(server: String?, reply: String) -> String {
        "accepted by \(server ?? "the server") (\(reply)); waiting for the report"
    }

    public static let noReportYet = "no report yet"
    public static let timeoutInbound = "no report by the deadline: the inbound path or DSN generation is broken"

    /// The note for reports that named the recipient without a valid token.
    public static func unconfirmed(_ count: Int) -> String {
        "\(count) report(s) named this recipient without a valid probe token: unconfirmed, not counted"
    }
}
