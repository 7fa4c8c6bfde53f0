import CoreMetrics
import Foundation
import Prometheus
import RoundtripCore

/// The monitor's metrics, through swift-metrics into one Prometheus registry
/// (`GET /metrics`). Names and labels: `MonitorMetricNames`; docs/monitor.md.
public struct MonitorMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    public let factory: PrometheusMetricsFactory

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.valueHistogramBuckets[MonitorMetricNames.roundTrip] = MonitorMetricNames.latencyBuckets
        factory.valueHistogramBuckets[MonitorMetricNames.arrival] = MonitorMetricNames.latencyBuckets
        self.factory = factory
        // Exposed from the start, so a scrape sees 0 rather than nothing.
        Counter(label: MonitorMetricNames.reportsUnmatched, factory: factory).increment(by: 0)
        Counter(label: MonitorMetricNames.reportsForged, factory: factory).increment(by: 0)
    }

    /// A probe finished at `finishedAt`.
    public func record(route: String, outcome: MonitorOutcome, finishedAt: Date) {
        Counter(
            label: MonitorMetricNames.probes,
            dimensions: MonitorMetricNames.probeLabels(route: route, verdict: outcome.verdict), factory: factory
        ).increment()
        if let s = outcome.roundTripSeconds {
            Recorder(
                label: MonitorMetricNames.roundTrip, dimensions: MonitorMetricNames.routeLabels(route), aggregate: true,
                factory: factory
            ).record(s)
        }
        if let s = outcome.arrivalSeconds {
            Recorder(
                label: MonitorMetricNames.arrival, dimensions: MonitorMetricNames.routeLabels(route), aggregate: true,
                factory: factory
            ).record(s)
        }
        Gauge(label: MonitorMetricNames.routeUp, dimensions: MonitorMetricNames.routeLabels(route), factory: factory)
            .record(outcome.proven ? 1 : 0)
        if outcome.proven {
            Gauge(
                label: MonitorMetricNames.lastProven, dimensions: MonitorMetricNames.routeLabels(route),
                factory: factory
            ).record(finishedAt.timeIntervalSince1970)
        }
    }

    /// Slots a route skipped because its previous probe was still waiting.
    public func skipped(route: String, count: Int) {
        Counter(label: MonitorMetricNames.skipped, dimensions: MonitorMetricNames.routeLabels(route), factory: factory)
            .increment(by: count)
    }

    public func unmatchedReport() {
        Counter(label: MonitorMetricNames.reportsUnmatched, factory: factory).increment()
    }

    public func forgedReport() {
        Counter(label: MonitorMetricNames.reportsForged, factory: factory).increment()
    }

    /// The Prometheus text format.
    public func exposition() -> [UInt8] { registry.emitToBuffer() }
}
