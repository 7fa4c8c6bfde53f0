import Foundation
import Testing

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// A `roundtrip monitor` process for a test: its config file, ledger and log in a folder of
/// its own; the metrics port read from its log.
final class MonitorProcess {
    let process = Process()
    let directory: String
    let logPath: String
    var ledger: String { directory + "/ledger.sqlite" }
    private(set) var metricsPort = 0

    init(config: String, arguments: [String] = []) throws {
        directory =
            FileManager.default.temporaryDirectory.appendingPathComponent("roundtrip-monitor-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        logPath = directory + "/monitor.log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let configPath = directory + "/monitor.toml"
        try config.replacingOccurrences(of: "@DIR@", with: directory).write(
            toFile: configPath, atomically: true, encoding: .utf8)
        process.executableURL = TestEnv.binary
        process.arguments = ["monitor", "--config", configPath, "-v"] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["XDG_DATA_HOME"] = directory + "/data"
        process.environment = environment
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
    }

    /// Starts the monitor and waits until it serves its page and metrics.
    func start() async throws {
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline && process.isRunning {
            if let range = log.range(of: "metrics and status page on http://") {
                let rest = log[range.upperBound...].prefix { $0 != "/" }
                if let colon = rest.lastIndex(of: ":"), let p = Int(rest[rest.index(after: colon)...]) {
                    metricsPort = p
                    return
                }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        terminate()
        throw ListenerProcessError(message: "the monitor did not start: \(log)")
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func get(_ path: String) async throws -> String {
        let (status, body) = try await runTool(
            "/usr/bin/curl", ["-fsS", "--max-time", "30", "http://127.0.0.1:\(metricsPort)\(path)"], timeout: 60)
        guard status == 0 else { throw ListenerProcessError(message: "GET \(path): \(body)") }
        return body
    }

    func metrics() async throws -> Samples { Samples(text: try await get("/metrics")) }

    func terminate() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    func removeFiles() { try? FileManager.default.removeItem(atPath: directory) }
}

/// Samples of the Prometheus text format: `name{label="value",...} number`.
struct Samples {
    struct Sample {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    var all: [Sample] = []

    init(text: String) {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                continue
            }
            let series = line[..<space]
            var labels: [String: String] = [:]
            var name = String(series)
            if let brace = series.firstIndex(of: "{") {
                name = String(series[..<brace])
                let body = series[series.index(after: brace)..<(series.lastIndex(of: "}") ?? series.endIndex)]
                for pair in body.split(separator: ",") {
                    let kv = pair.split(separator: "=", maxSplits: 1)
                    if kv.count == 2 { labels[String(kv[0])] = String(kv[1].dropFirst().dropLast()) }
                }
            }
            all.append(Sample(name: name, labels: labels, value: value))
        }
    }

    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        all.first { s in s.name == name && labels.allSatisfy { k, v in s.labels[k] == v } }?.value
    }

    func sum(_ name: String, _ labels: [String: String] = [:]) -> Double {
        all.filter { s in s.name == name && labels.allSatisfy { k, v in s.labels[k] == v } }.map(\.value).reduce(0, +)
    }
}

/// Each chart's `data-points` and its drawn marks, by route, from the page parsed as XML.
final class ChartFacts: NSObject, XMLParserDelegate {
    var declared: [String: Int] = [:]
    var marks: [String: Int] = [:]
    var scripts = 0
    private var current: String?

    func parser(
        _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
        attributes: [String: String] = [:]
    ) {
        if name == "script" { scripts += 1 }
        if name == "svg", let r = attributes["data-route"] {
            current = r
            declared[r] = Int(attributes["data-points"] ?? "")
            marks[r] = 0
        } else if let r = current, name == "circle" || name == "rect", attributes["class"]?.hasPrefix("point") == true {
            marks[r, default: 0] += 1
        }
    }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        if name == "svg" { current = nil }
    }

    static func parse(_ html: String) -> (ChartFacts, Bool, String) {
        let facts = ChartFacts()
        let parser = XMLParser(data: Data(html.utf8))
        parser.delegate = facts
        let ok = parser.parse()
        return (facts, ok, parser.parserError.map { "\($0)" } ?? "")
    }
}

/// `roundtrip monitor` end to end: routes through `roundtrip simulate` and the test Postfix,
/// reports back to the monitor's one listener, metrics scraped by a real Prometheus
/// (scripts/test-env-prometheus.sh), the page parsed and rendered by headless Chromium.
@Suite(
    .enabled(if: TestEnv.enabled, "needs the services of scripts/test-env.sh (ROUNDTRIP_INTEGRATION=1)"), .serialized)
struct MonitorTests {
    var returnPort: String { TestEnv.value("ROUNDTRIP_TEST_RETURN_PORT") }
    /// scripts/test-env-prometheus.sh: Prometheus on 2691 scrapes the monitor on 2690.
    static let prometheus = "127.0.0.1:2691"
    static let monitorMetrics = "127.0.0.1:2690"

    /// Where the test leaves what a person looks at (the rendered page).
    static var outputDirectory: String {
        TestEnv.packageRoot.appendingPathComponent("artifacts/monitor").path
    }

    @Test func routesMetricsPrometheusAndThePage() async throws {
        try await withFixedPorts {
            let sim = try await SimulatorProcess.start([
                "--bind", "127.0.0.1:0", "--domain", "sim.test", "--route", "return.rt.test=127.0.0.1:\(returnPort)",
            ])
            defer { sim.terminate() }
            let monitor = try MonitorProcess(
                config: """
                    [monitor]
                    metrics = "\(Self.monitorMetrics)"
                    ledger = "@DIR@/ledger.sqlite"
                    listen = "127.0.0.1:\(returnPort)"
                    domain = "return.rt.test"
                    helo = "monitor.rt.test"

                    [[monitor.route]]
                    name = "sim-success"
                    to = "success@sim.test"
                    from = "roundtrip@return.rt.test"
                    server = "127.0.0.1:\(sim.port)"
                    interval = "2s"
                    jitter = "500ms"
                    deadline = "60s"

                    [[monitor.route]]
                    name = "sim-unknown"
                    to = "unknown@sim.test"
                    from = "roundtrip@return.rt.test"
                    server = "127.0.0.1:\(sim.port)"
                    interval = "2s"
                    deadline = "60s"

                    [[monitor.route]]
                    name = "postfix"
                    to = "alice@rt.test"
                    from = "roundtrip@return.rt.test"
                    server = "\(TestEnv.smtp)"
                    interval = "3s"
                    deadline = "60s"
                    """)
            defer {
                monitor.terminate()
                monitor.removeFiles()
            }
            try await monitor.start()
            #expect(monitor.metricsPort == 2690)
            let routes = ["sim-success", "sim-unknown", "postfix"]

            // A few intervals: every route has finished at least three probes.
            var m = try await monitor.metrics()
            let until = Date().addingTimeInterval(180)
            while Date() < until, routes.contains(where: { m.sum("roundtrip_probes_total", ["route": $0]) < 3 }) {
                try await Task.sleep(for: .milliseconds(500))
                m = try await monitor.metrics()
            }
            for r in routes {
                #expect(m.sum("roundtrip_probes_total", ["route": r]) >= 3, "\(r)\n\(monitor.log.suffix(3000))")
            }
            #expect(
                m.sum("roundtrip_probes_total", ["route": "sim-success"])
                    == m.value("roundtrip_probes_total", ["route": "sim-success", "verdict": "delivered"]))
            #expect(
                m.sum("roundtrip_probes_total", ["route": "sim-unknown"])
                    == m.value("roundtrip_probes_total", ["route": "sim-unknown", "verdict": "failed"]))
            #expect(
                m.sum("roundtrip_probes_total", ["route": "postfix"])
                    == m.value("roundtrip_probes_total", ["route": "postfix", "verdict": "delivered"]))
            #expect(m.value("roundtrip_route_up", ["route": "sim-success"]) == 1)
            #expect(m.value("roundtrip_route_up", ["route": "sim-unknown"]) == 0)
            #expect(m.value("roundtrip_route_up", ["route": "postfix"]) == 1)
            // Every probe came back (a failure report too): one histogram observation each.
            for r in routes {
                #expect(
                    m.value("roundtrip_round_trip_seconds_count", ["route": r])
                        == m.sum("roundtrip_probes_total", ["route": r]))
                #expect(m.value("roundtrip_round_trip_seconds_bucket", ["route": r, "le": "3600.0"]) != nil)
            }
            let now = Date().timeIntervalSince1970
            let proven = try #require(m.value("roundtrip_last_proven_timestamp_seconds", ["route": "sim-success"]))
            #expect(proven > now - 120 && proven <= now + 1)
            #expect(m.value("roundtrip_last_proven_timestamp_seconds", ["route": "sim-unknown"]) == nil)
            #expect(m.value("roundtrip_reports_unmatched_total") == 0)
            #expect(m.value("roundtrip_reports_forged_total") == 0)
            #expect(try await monitor.get("/healthz") == "ok\n")
            // The listener's own counters: a session and a stored message per report at least.
            let reports = routes.map { m.sum("roundtrip_probes_total", ["route": $0]) }.reduce(0, +)
            #expect((m.value("roundtrip_listener_sessions_total") ?? 0) >= reports)
            #expect((m.value("roundtrip_listener_messages_total") ?? 0) >= reports)

            // Prometheus scraped the same values.
            func query(_ q: String) async throws -> [String: Double] {
                let (status, body) = try await runTool(
                    "/usr/bin/curl", ["-fsS", "--max-time", "10", "http://\(Self.prometheus)/api/v1/query?query=\(q)"])
                guard status == 0, let doc = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
                    let data = doc["data"] as? [String: Any], let result = data["result"] as? [[String: Any]]
                else { throw ListenerProcessError(message: "Prometheus: \(body)") }
                var out: [String: Double] = [:]
                for r in result {
                    let metric = r["metric"] as? [String: String] ?? [:]
                    let key = [metric["route"], metric["verdict"]].compactMap { $0 }.joined(separator: "/")
                    if let v = (r["value"] as? [Any])?.last as? String { out[key] = Double(v) }
                }
                return out
            }
            let exposed = try await monitor.metrics()
            var seen: [String: Double] = [:]
            var up: [String: Double] = [:]
            let scraped = Date().addingTimeInterval(60)
            func caughtUp() -> Bool {
                exposed.all.filter { $0.name == "roundtrip_probes_total" }.allSatisfy {
                    (seen["\($0.labels["route"] ?? "")/\($0.labels["verdict"] ?? "")"] ?? -1) >= $0.value
                } && up.count == 3
            }
            repeat {
                try await Task.sleep(for: .milliseconds(500))
                seen = try await query("roundtrip_probes_total")
                up = try await query("roundtrip_route_up")
            } while Date() < scraped && !caughtUp()
            #expect(caughtUp(), "Prometheus saw \(seen) \(up)")
            let later = try await monitor.metrics()
            for s in later.all where s.name == "roundtrip_probes_total" {
                let key = "\(s.labels["route"] ?? "")/\(s.labels["verdict"] ?? "")"
                #expect((seen[key] ?? .infinity) <= s.value, "\(key)")
            }
            #expect(up == ["sim-success": 1, "sim-unknown": 0, "postfix": 1])

            // The page: valid, one chart per route with a mark per finished probe.
            let before = try await monitor.metrics()
            let html = try await monitor.get("/")
            try await Task.sleep(for: .seconds(1))
            let after = try await monitor.metrics()
            let (facts, ok, error) = ChartFacts.parse(html)
            #expect(ok, "\(error)\n\(html)")
            #expect(facts.scripts == 0)
            #expect(Set(facts.declared.keys) == Set(routes))
            for r in routes {
                let points = try #require(facts.marks[r])
                #expect(facts.declared[r] == points)
                #expect(Double(points) >= before.sum("roundtrip_probes_total", ["route": r]), "\(r)")
                #expect(Double(points) <= after.sum("roundtrip_probes_total", ["route": r]), "\(r)")
            }

            // SIGTERM: a clean stop.
            kill(monitor.process.processIdentifier, SIGTERM)
            await waitForExit(monitor.process, timeout: 60)
            #expect(monitor.process.terminationStatus == 0, "\(monitor.log.suffix(2000))")

            // The same page from the ledger, for a CI artifact, rendered once in Chromium.
            try FileManager.default.createDirectory(atPath: Self.outputDirectory, withIntermediateDirectories: true)
            let file = Self.outputDirectory + "/status.html"
            let written = try await roundtrip(["status", "--html", file, "--ledger", monitor.ledger])
            #expect(written.status == 0, "\(written.stderr)")
            let page = try String(contentsOfFile: file, encoding: .utf8)
            let (fromLedger, parsed, _) = ChartFacts.parse(page)
            #expect(parsed)
            for r in routes { #expect(fromLedger.marks[r] ?? 0 >= facts.marks[r] ?? 0) }
            let png = Self.outputDirectory + "/status.png"
            try? FileManager.default.removeItem(atPath: png)
            let (status, output) = try await runTool(
                "/usr/bin/chromium",
                [
                    "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1100,900",
                    "--user-data-dir=\(monitor.directory)/chromium", "--screenshot=\(png)", "file://\(file)",
                ], timeout: 120)
            #expect(status == 0, "\(output)")
            let bytes = try #require(FileManager.default.contents(atPath: png))
            #expect(bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]))
            #expect(bytes.count > 10_000)
        }
    }

    /// SIGTERM while a probe waits for a report that never comes (`nodsn`): the monitor stops
    /// within the grace period and the ledger keeps the probe.
    @Test func sigtermDuringAProbe() async throws {
        let sim = try await SimulatorProcess.start(["--bind", "127.0.0.1:0", "--domain", "sim.test"])
        defer { sim.terminate() }
        let monitor = try MonitorProcess(
            config: """
                [monitor]
                metrics = "127.0.0.1:0"
                ledger = "@DIR@/ledger.sqlite"
                maildir = "@DIR@/reports"
                grace = "2s"

                [[monitor.route]]
                name = "never-answers"
                to = "nodsn@sim.test"
                from = "roundtrip@return.rt.test"
                server = "127.0.0.1:\(sim.port)"
                interval = "1m"
                deadline = "10m"
                """)
        defer {
            monitor.terminate()
            monitor.removeFiles()
        }
        for sub in ["new", "cur", "tmp"] {
            try FileManager.default.createDirectory(
                atPath: monitor.directory + "/reports/" + sub, withIntermediateDirectories: true)
        }
        try await monitor.start()
        let until = Date().addingTimeInterval(60)
        while Date() < until && !monitor.log.contains("submitted; waiting") {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(monitor.log.contains("submitted; waiting"), "\(monitor.log)")
        let sent = Date()
        kill(monitor.process.processIdentifier, SIGTERM)
        await waitForExit(monitor.process, timeout: 60)
        let took = Date().timeIntervalSince(sent)
        #expect(monitor.process.terminationStatus == 0, "\(monitor.log.suffix(2000))")
        // 2 s of grace, and room for a loaded machine; far from the 10 min deadline.
        #expect(took >= 2 && took < 30, "stopped after \(took) s")
        #expect(monitor.log.contains("recorded as interrupted"), "\(monitor.log.suffix(2000))")
        let status = try await roundtrip(["status", "--ledger", monitor.ledger, "--format", "json"])
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
        let probes = doc["probes"] as? [[String: Any]] ?? []
        #expect(probes.count == 1, "\(status.stdout)")
        let recipient = (probes.first?["recipients"] as? [[String: Any]])?.first
        #expect(recipient?["address"] as? String == "nodsn@sim.test")
        #expect(recipient?["verdict"] as? String == "pending")
    }
}
