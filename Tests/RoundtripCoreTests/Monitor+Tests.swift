import Foundation
import TestRandom
import Testing

@testable import RoundtripCore

#if canImport(FoundationXML)
    import FoundationXML
#endif

@Suite struct MonitorScheduleTests {
    @Test func refusesIntervalsAndJittersThatCannotWork() {
        #expect(throws: MonitorSchedule.Problem.interval(0.5)) { try MonitorSchedule(interval: 0.5) }
        #expect(throws: MonitorSchedule.Problem.self) { try MonitorSchedule(interval: .nan) }
        #expect(throws: MonitorSchedule.Problem.self) { try MonitorSchedule(interval: 10, jitter: .infinity) }
        #expect(throws: MonitorSchedule.Problem.jitter(-1)) { try MonitorSchedule(interval: 10, jitter: -1) }
        #expect(throws: MonitorSchedule.Problem.jitter(10)) { try MonitorSchedule(interval: 10, jitter: 10) }
        #expect((try? MonitorSchedule(interval: 1, jitter: 0.999)) != nil)
    }

    @Test func aProbeThatEndsInTimeKeepsTheRhythm() throws {
        let s = try MonitorSchedule(interval: 60)
        #expect(s.start(slot: 0, random: 0.9) == 0)
        #expect(s.next(after: 0, finished: 3, random: 0.7) == .init(slot: 1, start: 60, skipped: 0))
        #expect(s.next(after: 1, finished: 60, random: 0) == .init(slot: 2, start: 120, skipped: 0))
        #expect(s.next(after: 7, finished: 421, random: 0) == .init(slot: 8, start: 480, skipped: 0))
    }

    @Test func jitterIsARandomPartOfEachSlotNotADrift() throws {
        let s = try MonitorSchedule(interval: 60, jitter: 10)
        #expect(s.start(slot: 0, random: 0.5) == 5)
        #expect(s.next(after: 0, finished: 6, random: 0).start == 60)
        #expect(s.next(after: 0, finished: 6, random: 0.5).start == 65)
        // Slot 10 starts in [600, 610) whatever the earlier draws were.
        #expect(s.next(after: 9, finished: 545, random: 0.99).start < 610)
        #expect(s.next(after: 9, finished: 545, random: 0).start == 600)
        // Out-of-range draws are clamped, never a start outside the slot.
        #expect(s.next(after: 0, finished: 1, random: 7).start < 70)
        #expect(s.next(after: 0, finished: 1, random: -3).start == 60)
        #expect(s.start(slot: 0, random: .infinity) == 0)
    }

    @Test func aProbeStillWaitingSkipsSlotsInsteadOfStacking() throws {
        let s = try MonitorSchedule(interval: 10)
        #expect(s.next(after: 0, finished: 10.5, random: 0) == .init(slot: 2, start: 20, skipped: 1))
        #expect(s.next(after: 0, finished: 35, random: 0) == .init(slot: 4, start: 40, skipped: 3))
        #expect(s.next(after: 0, finished: 40, random: 0) == .init(slot: 4, start: 40, skipped: 3))
        #expect(s.next(after: 3, finished: 40.1, random: 0) == .init(slot: 5, start: 50, skipped: 1))
    }

    /// Properties over random schedules: the next start is never before the finish, on its
    /// slot (k × interval plus a part of the jitter), at most one slot after the finish, and
    /// the skipped slots are exactly the ones between.
    @Test func randomSchedulesNeverOverlapAndNeverDrift() throws {
        var rng = SeededGenerator(seed: 13)
        for _ in 0..<5000 {
            let interval = Double.random(in: 1...3600, using: &rng)
            let jitter = Double.random(in: 0..<interval, using: &rng)
            let s = try MonitorSchedule(interval: interval, jitter: jitter)
            let slot = Int.random(in: 0...10000, using: &rng)
            let started = s.start(slot: slot, random: Double.random(in: 0..<1, using: &rng))
            let finished = started + Double.random(in: 0...(interval * 20), using: &rng)
            let r = Double.random(in: 0..<1, using: &rng)
            let n = s.next(after: slot, finished: finished, random: r)
            #expect(n.start >= finished - 1e-6 * interval)
            #expect(n.slot > slot)
            #expect(n.skipped == n.slot - slot - 1)
            #expect(abs(n.start - (Double(n.slot) * interval + jitter * r)) < 1e-6 * Double(n.slot + 1) * interval)
            #expect(n.skipped == 0 || n.start - interval < finished)
        }
    }
}

@Suite struct LatencyStatsTests {
    @Test func nearestRank() {
        let v: [Double] = [15, 20, 35, 40, 50]
        #expect(LatencyStats.percentile(v, 50) == 35)
        #expect(LatencyStats.percentile(v, 95) == 50)
        #expect(LatencyStats.percentile(v, 100) == 50)
        #expect(LatencyStats.percentile(v, 1) == 15)
        #expect(LatencyStats.percentile([3, 1, 2], 50) == 2)
        #expect(LatencyStats.percentile([7], 95) == 7)
    }

    @Test func emptyOrNonsense() {
        #expect(LatencyStats.percentile([], 50) == nil)
        #expect(LatencyStats.percentile([.nan, .infinity], 50) == nil)
        #expect(LatencyStats.percentile([1, .nan, 2], 100) == 2)
        #expect(LatencyStats.percentile([1, 2], 0) == nil)
        #expect(LatencyStats.percentile([1, 2], 101) == nil)
    }

    @Test func aPercentileIsAlwaysAMeasuredValueAndMonotonic() {
        var rng = SeededGenerator(seed: 5)
        for _ in 0..<500 {
            let v = (0..<Int.random(in: 1...50, using: &rng)).map { _ in Double.random(in: 0...3600, using: &rng) }
            let p50 = LatencyStats.percentile(v, 50)!
            let p95 = LatencyStats.percentile(v, 95)!
            #expect(v.contains(p50) && v.contains(p95))
            #expect(p50 <= p95)
            #expect(Double(v.filter { $0 <= p95 }.count) >= 0.95 * Double(v.count))
        }
    }
}

@Suite struct MonitorOutcomeTests {
    @Test func theWorstRecipientDecides() {
        let o = MonitorOutcome(verdicts: [.delivered, .timeout], roundTripSeconds: [1.5, nil], strict: false)
        #expect(o.verdict == .timeout)
        #expect(!o.proven)
        #expect(o.roundTripSeconds == 1.5)
        let ok = MonitorOutcome(verdicts: [.delivered, .expanded], roundTripSeconds: [1, 2.5], strict: false)
        #expect(ok.verdict == .expanded && ok.proven && ok.roundTripSeconds == 2.5)
        #expect(
            MonitorOutcome(verdicts: [.failed, .rejected], roundTripSeconds: [], strict: false).verdict == .rejected)
        #expect(MonitorOutcome(verdicts: [], roundTripSeconds: [], strict: false).proven == false)
    }

    @Test func provenIsExitStatusZero() {
        for v in Verdict.allCases {
            for strict in [false, true] {
                let o = MonitorOutcome(verdicts: [v], roundTripSeconds: [nil], strict: strict)
                #expect(o.verdict == v)
                #expect(o.proven == (RunExitStatus.from(verdicts: [v], strict: strict) == .proven))
            }
        }
        // The rank orders verdicts as the exit statuses do.
        func rank(_ s: RunExitStatus) -> Int { [.proven: 0, .partial: 1, .timeout: 2, .failed: 3][s] ?? 4 }
        for a in Verdict.allCases {
            for b in Verdict.allCases {
                let sa = rank(RunExitStatus.from(verdicts: [a], strict: false))
                let sb = rank(RunExitStatus.from(verdicts: [b], strict: false))
                if sa < sb { #expect(MonitorOutcome.verdictRank(a) < MonitorOutcome.verdictRank(b)) }
            }
        }
    }

    @Test func arrivalSecondsAreTheSlowestRecipients() {
        let o = MonitorOutcome(
            verdicts: [.delivered, .delivered], roundTripSeconds: [1, 2], arrivalSeconds: [0.5, nil, .infinity, 0.7],
            strict: false)
        #expect(o.arrivalSeconds == 0.7)
        #expect(MonitorOutcome(verdicts: [.delivered], roundTripSeconds: [1], strict: false).arrivalSeconds == nil)
        #expect(MonitorMetricNames.arrival == "roundtrip_arrival_seconds")
    }

    @Test func directions() {
        #expect(DirectionState.outbound(.delivered) == .proven && DirectionState.inbound(.delivered) == .proven)
        #expect(DirectionState.outbound(.failed) == .failed && DirectionState.inbound(.failed) == .proven)
        #expect(DirectionState.outbound(.timeout) == .unknown && DirectionState.inbound(.timeout) == .failed)
        #expect(DirectionState.inbound(.rejected) == .untested && DirectionState.outbound(.rejected) == .rejected)
        #expect(DirectionState.inbound(.dsnUnavailable) == .untested)
        // Arrived: the probe is in the mailbox, no report came back.
        #expect(DirectionState.outbound(.arrived) == .proven && DirectionState.inbound(.arrived) == .unknown)
        for v in Verdict.allCases
        where v.isFinal && v != .rejected && v != .dsnUnavailable && v != .timeout && v != .arrived {
            #expect(DirectionState.inbound(v) == .proven, "a report came back for \(v)")
        }
    }

    @Test func metricNamesAndLabels() {
        #expect(MonitorMetricNames.latencyBuckets.first == 0.1 && MonitorMetricNames.latencyBuckets.last == 3600)
        #expect(MonitorMetricNames.latencyBuckets == MonitorMetricNames.latencyBuckets.sorted())
        #expect(
            MonitorMetricNames.probeLabels(route: "a", verdict: .dsnUnavailable).map(\.1) == ["a", "dsn-unavailable"])
        for n in [
            MonitorMetricNames.probes, MonitorMetricNames.roundTrip, MonitorMetricNames.lastProven,
            MonitorMetricNames.routeUp, MonitorMetricNames.skipped, MonitorMetricNames.reportsUnmatched,
            MonitorMetricNames.reportsForged,
        ] {
            #expect(n.range(of: "^roundtrip_[a-z_]+$", options: .regularExpression) != nil)
        }
    }
}

@Suite struct StatusPageTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func point(_ ago: TimeInterval, _ v: Verdict, _ rt: Double?) -> StatusPoint {
        StatusPoint(
            at: now.addingTimeInterval(-ago),
            outcome: MonitorOutcome(verdicts: [v], roundTripSeconds: [rt], strict: false))
    }

    func page(_ routes: [StatusRoute]) -> StatusPage {
        StatusPage(generatedAt: now, windowStart: now.addingTimeInterval(-86400), routes: routes)
    }

    /// Parses the page as XML: every element closed, attributes quoted, entities known.
    func parse(_ html: String) throws -> PageFacts {
        let facts = PageFacts()
        let parser = XMLParser(data: Data(html.utf8))
        parser.delegate = facts
        #expect(parser.parse(), "\(parser.parserError.map { "\($0)" } ?? "")")
        return facts
    }

    @Test func aRowAndAChartPerRoute() throws {
        let html = page([
            StatusRoute(
                name: "gmail", points: [point(600, .delivered, 2), point(300, .timeout, nil), point(10, .delivered, 4)]),
            StatusRoute(name: "m365", points: [point(50, .failed, 8)]),
            StatusRoute(name: "new", points: []),
        ]).render()
        let facts = try parse(html)
        #expect(facts.svgPoints == ["gmail": 3, "m365": 1, "new": 0])
        #expect(facts.marks == ["gmail": 3, "m365": 1, "new": 0])
        #expect(facts.count("tr") == 4)
        #expect(facts.count("script") == 0)
        // Nothing loaded from elsewhere: the only URL is the SVG namespace.
        #expect(!html.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "").contains("://"))
        #expect(html.contains("<td>10 s</td>"))  // age of the last probe
        #expect(html.contains("<td>4.00 s</td><td>2.00 s</td><td>4.00 s</td>"))  // now, p50, p95
        #expect(html.contains("3 (1 not proven)"))
        #expect(html.contains("class=\"bad\">failed</td>"))
        #expect(html.contains("no finished probe yet"))
        // The time axis spans the route's own history: its oldest probe is on the left edge.
        #expect(html.contains("<rect class=\"point fail\" x=\"5.0\""))
        #expect(html.contains("<circle class=\"point ok\" cx=\"8.0\""))
    }

    @Test func everyStringIsEscaped() throws {
        let evil = "<script>alert(1)</script>\"'&\u{1}"
        let html = StatusPage(
            title: evil, generatedAt: now, windowStart: now.addingTimeInterval(-60),
            routes: [StatusRoute(name: evil, points: [point(5, .delivered, 1)])]
        ).render()
        #expect(!html.contains("<script"))
        #expect(!html.contains("\u{1}"))
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;"))
        let facts = try parse(html)
        #expect(facts.svgPoints[evil.replacingOccurrences(of: "\u{1}", with: "\u{FFFD}")] == 1)
        #expect(StatusPage.anchor(evil).allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" })
    }

    @Test func emptyPage() throws {
        let html = page([]).render()
        _ = try parse(html)
        #expect(html.contains("No probes in the window"))
    }

    @Test func randomHistoriesAlwaysParse() throws {
        var rng = SeededGenerator(seed: 21)
        for _ in 0..<50 {
            let routes = (0..<Int.random(in: 1...5, using: &rng)).map { i in
                StatusRoute(
                    name: "r\(i)",
                    points: (0..<Int.random(in: 0...40, using: &rng)).map { _ in
                        point(
                            Double.random(in: 0...90000, using: &rng), Verdict.allCases.randomElement(using: &rng)!,
                            Bool.random(using: &rng) ? Double.random(in: 0...4000, using: &rng) : nil)
                    })
            }
            let facts = try parse(page(routes).render())
            for r in routes { #expect(facts.marks[r.name] == r.points.count) }
        }
    }
}

/// What the XML parser saw: elements by name, and each chart's `data-points` and marks.
final class PageFacts: NSObject, XMLParserDelegate {
    var elements: [String: Int] = [:]
    var svgPoints: [String: Int] = [:]
    var marks: [String: Int] = [:]
    var currentRoute: String?

    func count(_ name: String) -> Int { elements[name] ?? 0 }

    func parser(
        _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
        attributes: [String: String] = [:]
    ) {
        elements[name, default: 0] += 1
        if name == "svg", let route = attributes["data-route"] {
            currentRoute = route
            svgPoints[route] = Int(attributes["data-points"] ?? "")
            marks[route] = 0
        }
        if let r = currentRoute, name == "circle" || name == "rect", attributes["class"]?.hasPrefix("point") == true {
            marks[r, default: 0] += 1
        }
    }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        if name == "svg" { currentRoute = nil }
    }
}
