import Crypto
import Foundation
import Logging
import NIOCore
import Roundtrip
import RoundtripCore
import ServiceLifecycle

/// One monitored route: `verify`'s run on a schedule.
public struct MonitorRoute: Sendable {
    public var name: String
    public var schedule: MonitorSchedule
    /// The route's verify settings; its ledger is the monitor's.
    public var verify: VerifyConfiguration

    public init(name: String, schedule: MonitorSchedule, verify: VerifyConfiguration) {
        self.name = name
        self.schedule = schedule
        self.verify = verify
    }
}

/// Everything `roundtrip monitor` runs (docs/monitor.md).
public struct MonitorConfiguration: Sendable {
    public var routes: [MonitorRoute]
    public var ledger: any LedgerStore
    public var key: SymmetricKey
    /// The one receipt every route's reports come back through.
    public var receipt: [any ReportFeed]
    /// Where `/metrics`, `/` and `/healthz` are served.
    public var httpHost: String
    public var httpPort: Int
    /// Probes older than this are pruned from the ledger (seconds).
    public var retention: TimeInterval
    /// How often pruning runs (seconds).
    public var pruneInterval: TimeInterval = 3600
    /// After SIGTERM, how long probes still waiting for their reports may take.
    public var grace: Duration
    /// The status page's window (seconds).
    public var pageWindow: TimeInterval = 86400

    public init(
        routes: [MonitorRoute], ledger: any LedgerStore, key: SymmetricKey, receipt: [any ReportFeed], httpHost: String,
        httpPort: Int, retention: TimeInterval = 30 * 86400, grace: Duration = .seconds(30)
    ) {
        self.routes = routes
        self.ledger = ledger
        self.key = key
        self.receipt = receipt
        self.httpHost = httpHost
        self.httpPort = httpPort
        self.retention = retention
        self.grace = grace
    }
}

/// The HTTP server could not start (exit 69 when it cannot bind).
public struct MonitorHTTPError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public var cannotBind: Bool
}

/// `roundtrip monitor` as a swift-service-lifecycle `Service`: the shared receipt feeding
/// the ledger (as `listen --ledger` does), one loop per route running `VerifyRun` with no
/// feed of its own (it reads its verdicts from the ledger), pruning, and the HTTP server.
///
/// On graceful shutdown no probe starts; a probe still waiting gets `grace` to finish, then
/// stops waiting and is recorded as interrupted (`monitor.interrupted`; the probe stays in
/// the ledger).
public final class MonitorService: Service, Sendable {
    public let configuration: MonitorConfiguration
    public let metrics: MonitorMetrics
    let logger: Logger
    let onHTTPRunning: @Sendable (SocketAddress) -> Void

    public init(
        configuration: MonitorConfiguration, metrics: MonitorMetrics = MonitorMetrics(),
        logger: Logger = Logger(label: "roundtrip.monitor"),
        onHTTPRunning: @escaping @Sendable (SocketAddress) -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.metrics = metrics
        self.logger = logger
        self.onHTTPRunning = onHTTPRunning
    }

    enum Ended: Sendable {
        case routes, background
    }

    public func run() async throws {
        let ready = AsyncStream<Result<SocketAddress, MonitorHTTPError>>.makeStream()
        let onHTTPRunning = self.onHTTPRunning
        let http = MonitorHTTP.application(
            monitor: self, host: configuration.httpHost, port: configuration.httpPort, logger: logger,
            onRunning: { address in
                onHTTPRunning(address)
                ready.continuation.yield(.success(address))
            })
        // The receipt runs outside the graceful shutdown's reach (a detached task inherits no
        // task-locals): the listener must keep taking reports while waiting probes use their
        // grace. It ends when the routes have ended.
        let feeds = configuration.receipt
        let receipt = Task.detached {
            try await withThrowingDiscardingTaskGroup { group in
                for feed in feeds { group.addTask { try await self.runReceipt(feed) } }
            }
        }
        defer { receipt.cancel() }
        try await withThrowingTaskGroup(of: Ended.self) { group in
            group.addTask {
                do { try await http.run() } catch is CancellationError {} catch {
                    let e = MonitorHTTP.describe(
                        error, host: self.configuration.httpHost, port: self.configuration.httpPort)
                    ready.continuation.yield(.failure(e))
                    throw e
                }
                return .background
            }
            group.addTask {
                try await withTaskCancellationHandler {
                    try await receipt.value
                } onCancel: {
                    receipt.cancel()
                }
                return .background
            }
            group.addTask {
                await self.pruneLoop()
                return .background
            }
            // Nothing is sent before the reports can come back and the page can be read.
            for feed in configuration.receipt { try await feed.waitUntilReady() }
            for await r in ready.stream {
                switch r {
                case .success(let address):
                    logger.info("metrics and status page on http://\(MonitorHTTP.display(address))/")
                case .failure(let e): throw e
                }
                break
            }
            logger.info(
                "monitoring \(configuration.routes.count) route(s); reports via \(configuration.receipt.map(\.name).joined(separator: ", "))"
            )
            let routes = configuration.routes
            group.addTask {
                await withDiscardingTaskGroup { group in
                    for route in routes { group.addTask { await self.runRoute(route) } }
                }
                return .routes
            }
            // The routes end on graceful shutdown (after their grace); a failing receipt or
            // server ends everything. The HTTP server stops by itself at shutdown: not an end.
            while let ended = try await group.next() {
                if case .routes = ended { break }
            }
            group.cancelAll()
        }
    }

    // MARK: - Routes

    func runRoute(_ route: MonitorRoute) async {
        let clock = ContinuousClock()
        let origin = clock.now
        func elapsed() -> Double {
            let d = origin.duration(to: clock.now)
            return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        }
        var slot = 0
        var start = route.schedule.start(slot: 0, random: Double.random(in: 0..<1))
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let wake = origin + .milliseconds(Int64(start * 1000))
            do {
                try await cancelWhenGracefulShutdown {
                    try await Task.sleep(until: wake, clock: clock)
                }
            } catch {
                return
            }
            if Task.isShuttingDownGracefully { return }
            await probe(route)
            if Task.isShuttingDownGracefully || Task.isCancelled { return }
            let next = route.schedule.next(after: slot, finished: elapsed(), random: Double.random(in: 0..<1))
            if next.skipped > 0 {
                metrics.skipped(route: route.name, count: next.skipped)
                logger.warning(
                    "route \(route.name): the probe was still waiting for its report at \(next.skipped) scheduled start(s); skipped them"
                )
            }
            slot = next.slot
            start = next.start
        }
    }

    enum ProbeEnd: Sendable {
        case finished(RunReport?)
        case graceOver
        case notShuttingDown
    }

    /// One round trip of `route`; nil when it was interrupted.
    func probe(_ route: MonitorRoute) async {
        let ledger = configuration.ledger
        let token = VerifyRun.makeToken(key: configuration.key)
        do {
            try await ledger.recordMonitorRoute(token: token.value, route: route.name)
        } catch {
            logger.error("route \(route.name): cannot record the probe in the ledger: \(error)")
            return
        }
        let grace = configuration.grace
        let logger = self.logger
        let name = route.name
        let end: ProbeEnd = await withTaskGroup(of: ProbeEnd.self) { group in
            group.addTask {
                do {
                    let (report, _, _) = try await VerifyRun.run(
                        route.verify, feeds: [], token: token, log: { logger.debug("route \(name): \($0)") })
                    return .finished(report)
                } catch {
                    logger.error("route \(name): the probe failed: \(error)")
                    return .finished(nil)
                }
            }
            group.addTask {
                do {
                    try await gracefulShutdown()
                    try await Task.sleep(for: grace)
                    return .graceOver
                } catch {
                    return .notShuttingDown
                }
            }
            var end = ProbeEnd.notShuttingDown
            while let next = await group.next() {
                switch next {
                case .finished:
                    end = next
                    group.cancelAll()
                case .graceOver:
                    end = .graceOver
                    group.cancelAll()
                case .notShuttingDown:
                    continue
                }
                if case .graceOver = end { break }
            }
            // Wait for the run itself to end (cancelled: it stops waiting at once).
            await group.waitForAll()
            return end
        }
        switch end {
        case .finished(let report?):
            let outcome = MonitorOutcome(
                verdicts: report.recipients.map(\.verdict), roundTripSeconds: report.recipients.map(\.roundTripSeconds),
                arrivalSeconds: report.recipients.map(\.endToEndSeconds), strict: route.verify.strict)
            metrics.record(route: route.name, outcome: outcome, finishedAt: Date())
            logger.info(
                "route \(route.name): \(outcome.verdict.rawValue)\(outcome.roundTripSeconds.map { String(format: " in %.2f s", $0) } ?? "") (probe \(token.value))"
            )
        case .finished(nil), .notShuttingDown:
            break
        case .graceOver:
            logger.warning(
                "route \(route.name): stopped waiting for probe \(token.value) at shutdown; recorded as interrupted")
            do { try await ledger.recordMonitorInterrupted(token: token.value) } catch {
                logger.error("route \(route.name): cannot record the interruption: \(error)")
            }
        }
    }

    // MARK: - The shared receipt

    func runReceipt(_ feed: any ReportFeed) async throws {
        let ingest = ReportIngest(
            ledger: configuration.ledger, key: configuration.key, log: { [logger] in logger.debug("\($0)") })
        let metrics = self.metrics
        try await feed.run { m in
            switch await ingest.ingest(m) {
            case .matched: await feed.markHandled([m.source])
            case .forged: metrics.forgedReport()
            case .unmatched, .notAReport: metrics.unmatchedReport()
            case .deferred(let reason):
                // The ledger is down (PostgreSQL): the report stays in the feed's store or
                // mailbox, unmarked, for `listen` or the next poll to ingest.
                self.logger.warning("report via \(m.source) not ingested yet: \(reason)")
            }
        }
    }

    // MARK: - Pruning

    func pruneLoop() async {
        while !Task.isCancelled {
            let cutoff = Date().addingTimeInterval(-configuration.retention)
            do {
                let n = try await configuration.ledger.pruneMonitor(before: cutoff)
                if n.probes + n.reports + n.events > 0 {
                    logger.info(
                        "pruned \(n.probes) probe(s), \(n.reports) report(s) and \(n.events) event(s) older than the retention"
                    )
                }
            } catch is CancellationError {
                return
            } catch {
                logger.error("pruning the ledger failed: \(error)")
            }
            do { try await Task.sleep(for: .seconds(configuration.pruneInterval)) } catch { return }
        }
    }

    // MARK: - The page

    public func statusPage(now: Date = Date()) async throws -> String {
        try await StatusPageQuery.page(
            ledger: configuration.ledger, now: now, window: configuration.pageWindow,
            routes: configuration.routes.map(\.name)
        ).render()
    }
}
