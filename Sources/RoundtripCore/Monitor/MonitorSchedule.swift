/// When a monitor route's probes start (docs/monitor.md). Pure: times are seconds since the
/// monitor started, and the randomness comes in as a value in 0..<1.
///
/// Probes keep a fixed rhythm: slot k starts at k × interval plus its own random part of the
/// jitter, so the average rate is one probe per interval and routes with the same interval
/// do not all start at once. A route never overlaps itself: the next probe starts only after
/// the previous one finished; slots that passed meanwhile are skipped (counted, not stacked).
public struct MonitorSchedule: Sendable, Hashable {
    public var interval: Double
    public var jitter: Double

    public struct Next: Sendable, Hashable {
        /// The slot the next probe takes.
        public var slot: Int
        /// When it starts.
        public var start: Double
        /// Slots that passed while the previous probe was still running.
        public var skipped: Int
    }

    public enum Problem: Error, Hashable, CustomStringConvertible {
        case interval(Double)
        case jitter(Double)

        public var description: String {
            switch self {
            case .interval(let v): return "the interval must be at least 1 s (got \(v) s)"
            case .jitter(let v): return "the jitter must be at least 0 and less than the interval (got \(v) s)"
            }
        }
    }

    public init(interval: Double, jitter: Double = 0) throws {
        guard interval.isFinite, interval >= 1 else { throw Problem.interval(interval) }
        guard jitter.isFinite, jitter >= 0, jitter < interval else { throw Problem.jitter(jitter) }
        self.interval = interval
        self.jitter = jitter
    }

    /// When slot `slot` starts, with this draw's part of the jitter.
    public func start(slot: Int, random: Double) -> Double {
        Double(slot) * interval + jitter * Self.unit(random)
    }

    /// The next start after the probe of slot `slot` finished at `finished`.
    public func next(after slot: Int, finished: Double, random: Double) -> Next {
        let offset = jitter * Self.unit(random)
        var k = slot + 1
        if Double(k) * interval + offset < finished {
            k = max(k, Int(((finished - offset) / interval).rounded(.up)))
        }
        return Next(slot: k, start: Double(k) * interval + offset, skipped: k - slot - 1)
    }

    static func unit(_ r: Double) -> Double {
        guard r.isFinite else { return 0 }
        return min(max(r, 0), 0.999_999_999)
    }
}
