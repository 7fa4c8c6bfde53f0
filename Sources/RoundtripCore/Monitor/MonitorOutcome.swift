/// What one monitor probe proved, as the metrics and the status page count it (docs/monitor.md).
public struct MonitorOutcome: Sendable, Hashable {
    /// The probe's verdict: the recipients' worst (`verdictRank`), the `verdict` label of
    /// `roundtrip_probes_total`.
    public var verdict: Verdict
    /// Every recipient proven (exit status 0): `roundtrip_route_up` is 1.
    public var proven: Bool
    /// Until the last report came back; nil when no recipient has a round-trip time.
    public var roundTripSeconds: Double?
    /// Submission → the probe seen in the recipient's mailbox (`arrival`); nil without one.
    public var arrivalSeconds: Double?

    public init(verdicts: [Verdict], roundTripSeconds: [Double?], arrivalSeconds: [Double?] = [], strict: Bool) {
        self.verdict = verdicts.max(by: { Self.verdictRank($0) < Self.verdictRank($1) }) ?? .pending
        self.proven = !verdicts.isEmpty && RunExitStatus.from(verdicts: verdicts, strict: strict) == .proven
        self.roundTripSeconds = roundTripSeconds.compactMap { $0 }.filter(\.isFinite).max()
        self.arrivalSeconds = arrivalSeconds.compactMap { $0 }.filter(\.isFinite).max()
    }

    /// How bad a verdict is for the route, worst highest: the exit statuses' order (failed
    /// over timeout over partial over proven), and within one status the less final first.
    public static func verdictRank(_ v: Verdict) -> Int {
        switch v {
        case .delivered: return 0
        case .expanded: return 1
        case .relayed: return 2
        case .delayed: return 3
        case .arrived: return 4
        case .dsnUnavailable: return 5
        case .pending: return 6
        case .timeout: return 7
        case .failed: return 8
        case .rejected: return 9
        }
    }
}

/// The direction words of the status page: what a verdict says about the way out (our
/// submission to the recipient) and the way back (the report to us).
public enum DirectionState: String, Sendable, Hashable, CaseIterable {
    case proven, relayed, delayed, failed, rejected, unknown, waiting
    /// Nothing came back that could prove it (no DSN asked for, or the submission failed).
    case untested = "not tested"

    /// "ok", "warn", "bad" or "none": the page's colour class.
    public var tone: String {
        switch self {
        case .proven: return "ok"
        case .relayed, .delayed, .waiting: return "warn"
        case .failed, .rejected, .unknown: return "bad"
        case .untested: return "none"
        }
    }

    public static func outbound(_ v: Verdict) -> DirectionState {
        switch v {
        case .delivered, .expanded, .arrived: return .proven
        case .relayed: return .relayed
        case .delayed: return .delayed
        case .failed: return .failed
        case .rejected: return .rejected
        case .dsnUnavailable, .timeout: return .unknown
        case .pending: return .waiting
        }
    }

    public static func inbound(_ v: Verdict) -> DirectionState {
        switch v {
        case .delivered, .expanded, .relayed, .delayed, .failed: return .proven
        case .timeout: return .failed
        // Arrival proved the way out; the report that would prove the way back never came.
        case .arrived: return .unknown
        case .rejected, .dsnUnavailable: return .untested
        case .pending: return .waiting
        }
    }
}

/// The names, labels and buckets of the monitor's Prometheus metrics: fixed, documented in
/// docs/monitor.md, used once here.
public enum MonitorMetricNames {
    public static let probes = "roundtrip_probes_total"
    public static let roundTrip = "roundtrip_round_trip_seconds"
    public static let arrival = "roundtrip_arrival_seconds"
    public static let lastProven = "roundtrip_last_proven_timestamp_seconds"
    public static let routeUp = "roundtrip_route_up"
    public static let skipped = "roundtrip_probes_skipped_total"
    public static let reportsUnmatched = "roundtrip_reports_unmatched_total"
    public static let reportsForged = "roundtrip_reports_forged_total"

    /// Round-trip buckets in seconds: mail takes from a tenth of a second to an hour.
    public static let latencyBuckets: [Double] = [
        0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600,
    ]

    public static func routeLabels(_ route: String) -> [(String, String)] { [("route", route)] }

    public static func probeLabels(route: String, verdict: Verdict) -> [(String, String)] {
        [("route", route), ("verdict", verdict.rawValue)]
    }
}
