/// When a monitor route's probes start (docs/monitor.md). Pure: times are seconds on the
/// caller's clock and the randomness comes in as a value in 0..<1.
///
/// A route never overlaps itself: the next probe starts `interval` (plus up to `jitter`)
/// after the previous one started, but never before that probe finished. A probe that ran
/// past one or more of its slots skips them (they are counted, not stacked).
public struct MonitorSchedule: Sendable, Hashable {
    public var interval: Double
    public var jitter: Double

    public struct Next: Sendable, Hashable {
        /// When the next probe starts.
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

    /// The first probe's offset from the monitor's start: a random part of the jitter, so
    /// routes with the same interval do not all start at once.
    public func firstDelay(random: Double) -> Double {
        jitter * Self.unit(random)
    }

    /// The next start after a probe that started at `previousStart` and finished at `finished`.
    public func next(previousStart: Double, finished: Double, random: Double) -> Next {
        let offset = jitter * Self.unit(random)
        var slot = 1
        var skipped = 0
        // The first slot whose start (with this draw's jitter) is not before the finish.
        let late = finished - (previousStart + interval + offset)
        if late > 0 {
            skipped = Int((late / interval).rounded(.up))
            slot += skipped
        }
        return Next(start: previousStart + Double(slot) * interval + offset, skipped: skipped)
    }

    static func unit(_ r: Double) -> Double {
        guard r.isFinite else { return 0 }
        return min(max(r, 0), 0.999_999_999)
    }
}
