public import Foundation
public import Prometheus

/// Slipway's Prometheus metrics, served on `/metrics`. One registry is made at start and
/// handed to the parts that record (no global metrics system).
public final class SlipwayMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry

    static let secondsBuckets: [Duration] = [.milliseconds(10), .milliseconds(50), .milliseconds(250), .seconds(1), .seconds(5),
                                             .seconds(15), .seconds(60), .seconds(300), .seconds(900), .seconds(3600)]

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
    }

    /// A verified (or refused) webhook delivery; `result` is queued, duplicate, ignored, ping,
    /// unauthorized, bad-request, unavailable.
    public func delivery(forge: String, result: String) {
        registry.makeCounter(descriptor: .init(namespace: "slipway", metricName: "webhook_deliveries_total", helpText: "Webhook deliveries by forge and result"),
                             labels: [("forge", forge), ("result", result)]).increment()
    }

    /// A job reached a final status after `duration` (nil when it never ran).
    public func jobEnded(status: String, duration: Duration?) {
        registry.makeCounter(descriptor: .init(namespace: "slipway", metricName: "jobs_total", helpText: "Jobs by final status"),
                             labels: [("status", status)]).increment()
        if let duration {
            registry.makeDurationHistogram(descriptor: .init(namespace: "slipway", metricName: "job_duration_seconds", helpText: "Time from start to end of a job"),
                                           buckets: Self.secondsBuckets).record(duration)
        }
    }

    public func stageEnded(stage: String, duration: Duration) {
        registry.makeDurationHistogram(descriptor: .init(namespace: "slipway", metricName: "stage_duration_seconds", helpText: "Duration of pipeline stages and hooks"),
                                       labels: [("stage", stage)], buckets: Self.secondsBuckets).record(duration)
    }

    public func queueDepth(_ depth: Int) {
        registry.makeGauge(descriptor: .init(namespace: "slipway", metricName: "queue_depth", helpText: "Jobs waiting to run")).set(to: Double(depth))
    }

    public func pollJob(app: String) {
        registry.makeCounter(descriptor: .init(namespace: "slipway", metricName: "poll_jobs_total", helpText: "Jobs queued by the reconciler for pushes no webhook announced"),
                             labels: [("app", app)]).increment()
    }

    /// One reconcile of one app: its duration, sync and health status, drifted objects.
    public func reconciled(app: String, sync: String, health: String?, drifted: Int, duration: Duration) {
        registry.makeDurationHistogram(descriptor: .init(namespace: "slipway", metricName: "reconcile_duration_seconds", helpText: "Time to reconcile one app"),
                                       buckets: Self.secondsBuckets).record(duration)
        for value in ["Synced", "OutOfSync", "Unknown"] {
            registry.makeGauge(descriptor: .init(namespace: "slipway", metricName: "app_sync_status", helpText: "1 for the app's current sync status"),
                               labels: [("app", app), ("status", value)]).set(to: value == sync ? 1.0 : 0.0)
        }
        for value in ["Healthy", "Progressing", "Degraded", "Missing", "Unknown"] {
            registry.makeGauge(descriptor: .init(namespace: "slipway", metricName: "app_health_status", helpText: "1 for the app's current health"),
                               labels: [("app", app), ("status", value)]).set(to: value == (health ?? "Unknown") ? 1.0 : 0.0)
        }
        registry.makeGauge(descriptor: .init(namespace: "slipway", metricName: "drifted_objects", helpText: "Objects that differ from the last applied revision"),
                           labels: [("app", app)]).set(to: Double(drifted))
    }

    /// The Prometheus text exposition.
    public func exposition() -> String {
        registry.emitToString()
    }
}
