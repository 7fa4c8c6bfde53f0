/// Percentiles of round-trip latencies for the status page (nearest-rank method: the value
/// of the sample at rank ceil(p/100 × n), so every result is a latency that was measured).
public enum LatencyStats {
    /// The `p`th percentile (0 < p ≤ 100) of `values`; nil for no values. NaN and infinite
    /// values are ignored.
    public static func percentile(_ values: [Double], _ p: Double) -> Double? {
        let sorted = values.filter(\.isFinite).sorted()
        guard !sorted.isEmpty, p > 0, p <= 100 else { return nil }
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }
}
