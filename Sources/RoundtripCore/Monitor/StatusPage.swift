import Foundation

/// One finished probe of a route, as the status page draws it.
public struct StatusPoint: Sendable, Hashable {
    public var at: Date
    public var outcome: MonitorOutcome

    public init(at: Date, outcome: MonitorOutcome) {
        self.at = at
        self.outcome = outcome
    }
}

/// A route's finished probes in the page's window, oldest first.
public struct StatusRoute: Sendable, Hashable {
    public var name: String
    public var points: [StatusPoint]

    public init(name: String, points: [StatusPoint]) {
        self.name = name
        self.points = points.sorted { $0.at < $1.at }
    }
}

/// The status page of `roundtrip monitor` (`GET /`) and `roundtrip status --html`: one HTML
/// document, no script, no external resource, a row per route and an inline SVG chart of
/// its round-trip latency with failures marked. Every string from the configuration or the
/// ledger is escaped.
public struct StatusPage: Sendable {
    public var title: String
    public var generatedAt: Date
    /// The chart's time axis starts here (the window's start, or the oldest probe when later).
    public var windowStart: Date
    public var routes: [StatusRoute]

    public static let chartWidth = 640
    public static let chartHeight = 150

    public init(title: String = "roundtrip monitor", generatedAt: Date, windowStart: Date, routes: [StatusRoute]) {
        self.title = title
        self.generatedAt = generatedAt
        self.windowStart = windowStart
        self.routes = routes
    }

    public func render() -> String {
        var html = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8"/>
            <meta name="viewport" content="width=device-width, initial-scale=1"/>
            <title>\(Self.escape(title))</title>
            <style>\(Self.css)</style>
            </head>
            <body>
            <h1>\(Self.escape(title))</h1>
            <p class="meta">Generated \(Self.timestamp(generatedAt)); window from \(Self.timestamp(windowStart)). Latency is the round trip: submission to the report's arrival.</p>

            """
        if routes.isEmpty {
            html += "<p>No probes in the window.</p>\n"
        } else {
            html += """
                <table>
                <thead><tr><th>route</th><th>last verdict</th><th>outbound</th><th>inbound</th><th>age</th><th>latency now</th><th>p50</th><th>p95</th><th>probes</th></tr></thead>
                <tbody>

                """
            for route in routes { html += row(route) }
            html += "</tbody>\n</table>\n"
            for route in routes { html += chart(route) }
        }
        html += "</body>\n</html>\n"
        return html
    }

    func row(_ route: StatusRoute) -> String {
        let name = Self.escape(route.name)
        guard let last = route.points.last else {
            return "<tr><td>\(name)</td><td colspan=\"8\">no finished probe yet</td></tr>\n"
        }
        let v = last.outcome.verdict
        let out = DirectionState.outbound(v)
        let back = DirectionState.inbound(v)
        let latencies = route.points.compactMap(\.outcome.roundTripSeconds)
        let failures = route.points.filter { !$0.outcome.proven }.count
        return """
            <tr><td><a href="#route-\(Self.anchor(route.name))">\(name)</a></td>\
            <td class="\(last.outcome.proven ? "ok" : "bad")">\(Self.escape(v.rawValue))</td>\
            <td class="\(out.tone)">\(out.rawValue)</td><td class="\(back.tone)">\(back.rawValue)</td>\
            <td>\(Self.age(generatedAt.timeIntervalSince(last.at)))</td>\
            <td>\(Self.seconds(last.outcome.roundTripSeconds))</td>\
            <td>\(Self.seconds(LatencyStats.percentile(latencies, 50)))</td>\
            <td>\(Self.seconds(LatencyStats.percentile(latencies, 95)))</td>\
            <td>\(route.points.count)\(failures > 0 ? " (\(failures) not proven)" : "")</td></tr>

            """
    }

    /// The chart: x is time from the route's oldest probe in the window (the window's start at
    /// the latest) to `generatedAt`, y the latency from 0 to the largest in the window; a proven
    /// probe is a dot on the line, a probe that was not proven is a red mark on the top edge (its
    /// latency, when it had one, in its tooltip).
    func chart(_ route: StatusRoute) -> String {
        let w = Double(Self.chartWidth)
        let h = Double(Self.chartHeight)
        let (left, right, top, bottom) = (8.0, 8.0, 22.0, 20.0)
        let start = max(windowStart, route.points.first?.at ?? windowStart)
        let span = max(generatedAt.timeIntervalSince(start), 1)
        let highest = max(route.points.compactMap(\.outcome.roundTripSeconds).max() ?? 1, 0.001) * 1.1
        func x(_ d: Date) -> Double {
            left + (w - left - right) * min(max(d.timeIntervalSince(start) / span, 0), 1)
        }
        func y(_ s: Double) -> Double { h - bottom - (h - top - bottom) * min(max(s, 0) / highest, 1) }
        let c = Self.coordinate
        var line: [String] = []
        var marks = ""
        for p in route.points {
            let tip = Self.escape(
                "\(Self.timestamp(p.at)): \(p.outcome.verdict.rawValue), \(Self.seconds(p.outcome.roundTripSeconds))")
            if p.outcome.proven, let s = p.outcome.roundTripSeconds {
                line.append("\(c(x(p.at))),\(c(y(s)))")
                marks +=
                    "<circle class=\"point ok\" cx=\"\(c(x(p.at)))\" cy=\"\(c(y(s)))\" r=\"3\"><title>\(tip)</title></circle>\n"
            } else {
                marks +=
                    "<rect class=\"point fail\" x=\"\(c(x(p.at) - 3))\" y=\"\(c(top - 12))\" width=\"6\" height=\"6\"><title>\(tip)</title></rect>\n"
            }
        }
        let name = Self.escape(route.name)
        return """
            <section id="route-\(Self.anchor(route.name))">
            <h2>\(name)</h2>
            <svg xmlns="http://www.w3.org/2000/svg" class="chart" width="\(Self.chartWidth)" height="\(Self.chartHeight)" viewBox="0 0 \(Self.chartWidth) \(Self.chartHeight)" role="img" aria-label="round-trip latency of \(name)" data-route="\(name)" data-points="\(route.points.count)">
            <rect class="frame" x="0.5" y="0.5" width="\(Self.chartWidth - 1)" height="\(Self.chartHeight - 1)"/>
            <line class="grid" x1="\(c(left))" y1="\(c(y(highest / 1.1)))" x2="\(c(w - right))" y2="\(c(y(highest / 1.1)))"/>
            <line class="grid" x1="\(c(left))" y1="\(c(h - bottom))" x2="\(c(w - right))" y2="\(c(h - bottom))"/>
            <text class="axis" x="\(c(left))" y="\(c(y(highest / 1.1) - 3))">\(Self.seconds(highest / 1.1))</text>
            <text class="axis" x="\(c(left))" y="\(c(h - 6))">\(Self.clock(start))</text>
            <text class="axis" x="\(c(w - right))" y="\(c(h - 6))" text-anchor="end">\(Self.clock(generatedAt))</text>
            <polyline class="line" points="\(line.joined(separator: " "))"/>
            \(marks)</svg>
            </section>

            """
    }

    // MARK: - Formatting

    static let css = """
        body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}\
        table{border-collapse:collapse}th,td{padding:.3em .7em;border-bottom:1px solid #ddd;text-align:left}\
        .ok{color:#176f2c}.warn{color:#9a6700}.bad{color:#b42318;font-weight:bold}.none{color:#777}\
        .meta{color:#555}.chart{background:#fafafa}.frame{fill:none;stroke:#ccc}\
        .line{fill:none;stroke:#1f6feb;stroke-width:1.5}circle.point{fill:#1f6feb}rect.point{fill:#b42318}\
        .axis{font-size:11px;fill:#555}.grid{stroke:#e3e3e3}h2{font-size:1.1em;margin:1.2em 0 .3em}
        """

    /// Escapes text for HTML element content and attribute values.
    public static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                // Control characters other than tab and newline are not allowed in HTML text.
                if c.value < 0x20 && c != "\t" && c != "\n" || (0x7F...0x9F).contains(c.value) {
                    out += "\u{FFFD}"
                } else {
                    out.unicodeScalars.append(c)
                }
            }
        }
        return out
    }

    /// A fragment identifier made of [a-z0-9-] only (the name itself is shown escaped).
    static func anchor(_ name: String) -> String {
        var out = ""
        for b in name.lowercased().utf8 {
            if (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) {
                out.unicodeScalars.append(UnicodeScalar(b))
            } else {
                out += "-" + String(b, radix: 16)
            }
        }
        return out
    }

    static func coordinate(_ v: Double) -> String {
        String(format: "%.1f", v.isFinite ? v : 0)
    }

    static func seconds(_ s: Double?) -> String {
        guard let s, s.isFinite else { return "–" }
        if s < 10 { return String(format: "%.2f s", s) }
        if s < 120 { return String(format: "%.1f s", s) }
        return String(format: "%.1f min", s / 60)
    }

    static func age(_ s: TimeInterval) -> String {
        let v = max(0, s)
        if v < 120 { return "\(Int(v)) s" }
        if v < 7200 { return "\(Int(v / 60)) min" }
        if v < 172_800 { return "\(Int(v / 3600)) h" }
        return "\(Int(v / 86400)) d"
    }

    /// "2026-12-04 10:49 UTC": the chart's time axis.
    static func clock(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withFullDate, .withDashSeparatorInDate, .withTime, .withColonSeparatorInTime]
        let text = f.string(from: d)
        return text.replacingOccurrences(of: "T", with: " ").prefix(16) + " UTC"
    }

    static func timestamp(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: d)
    }
}
