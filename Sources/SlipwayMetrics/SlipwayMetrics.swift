public import Prometheus
public import SlipwayCore

/// Slipway's Prometheus metrics, served on `/metrics`. One registry is made at start and
/// handed to the parts that record (no global metrics system).
///
/// Every series exists from the start, at zero (or Unknown for status gauges), so alerts on a
/// rate or on absence work before the first event; each carries a HELP line.
public final class SlipwayMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    /// The delivery counters of the configured apps' forges, by forge and result: counted on
    /// every delivery, where the registry's lookup (a lock, the labels hashed) was 0.7 % of
    /// the server's CPU at full intake.
    private let deliveryCounters: [String: [String: Counter]]

    static let secondsBuckets: [Duration] = [.milliseconds(10), .milliseconds(50), .milliseconds(250), .seconds(1), .seconds(5),
                                             .seconds(15), .seconds(60), .seconds(300), .seconds(900), .seconds(3600)]
    /// What `delivery(forge:result:)` is told.
    public static let deliveryResults = ["queued", "duplicate", "ignored", "ping", "unauthorized", "bad-request", "unavailable"]
    static let syncValues = ["Synced", "OutOfSync", "Unknown"]
    static let healthValues = ["Healthy", "Progressing", "Degraded", "Missing", "Unknown"]

    private static func name(_ name: String, help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "slipway", metricName: name, unitName: "", helpText: help)
    }

    /// - Parameter apps: the configured apps (name and forge), whose series start at zero.
    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), apps: [(name: String, forge: Forge)] = []) {
        self.registry = registry
        var deliveryCounters: [String: [String: Counter]] = [:]
        for forge in Set(apps.map(\.forge)).sorted(by: { $0.rawValue < $1.rawValue }) {
            for result in Self.deliveryResults {
                deliveryCounters[forge.rawValue, default: [:]][result] = Self.deliveries(registry, forge: forge.rawValue, result: result)
            }
        }
        self.deliveryCounters = deliveryCounters
        registry.makeGauge(descriptor: Self.name("build_info", help: "Always 1; the version and commit of this binary"),
                           labels: [("version", BuildInfo.version), ("commit", BuildInfo.commit)]).set(to: 1)
        for status in JobStatus.allCases where status.isFinal { _ = jobs(status: status.rawValue) }
        _ = jobDuration
        for stage in StageName.allCases.map(\.rawValue) + HookPoint.allCases.map(\.rawValue) { _ = stageDuration(stage) }
        queueDepth(0)
        _ = reconcileDuration
        _ = branchReads
        _ = watchChecks
        _ = watchCheckedObjects
        _ = watchRelists
        for result in AnalysisMeasurement.Result.allCases { _ = analysisMeasurements(result) }
        for app in apps.map(\.name) {
            rolloutStep(app: app, step: 0)
            _ = pollJobs(app: app)
            setStatus(app: app, sync: "Unknown", health: "Unknown")
            drifted(app: app).set(to: 0)
        }
    }

    private static func deliveries(_ registry: PrometheusCollectorRegistry, forge: String, result: String) -> Counter {
        registry.makeCounter(descriptor: Self.name("webhook_deliveries_total", help: "Webhook deliveries by forge and result"),
                             labels: [("forge", forge), ("result", result)])
    }

    /// The step a running rollout of `app` is at, 1-based (0: no rollout runs).
    public func rolloutStep(app: String, step: Int) {
        registry.makeGauge(descriptor: Self.name("rollout_step", help: "The step a running rollout is at, from 1 (0: no rollout runs)"),
                           labels: [("app", app)]).set(to: Double(step))
    }

    private func analysisMeasurements(_ result: AnalysisMeasurement.Result) -> Counter {
        registry.makeCounter(descriptor: Self.name("analysis_measurements_total", help: "Rollout analysis measurements by result"),
                             labels: [("result", result.rawValue)])
    }

    /// Counts one measurement of a rollout's analysis.
    public func measured(_ result: AnalysisMeasurement.Result) {
        analysisMeasurements(result).increment()
    }

    private func jobs(status: String) -> Counter {
        registry.makeCounter(descriptor: Self.name("jobs_total", help: "Jobs by final status"),
                             labels: [("status", status)])
    }

    private var jobDuration: DurationHistogram {
        registry.makeDurationHistogram(descriptor: Self.name("job_duration_seconds", help: "Time from start to end of a job"),
                                       buckets: Self.secondsBuckets)
    }

    private func stageDuration(_ stage: String) -> DurationHistogram {
        registry.makeDurationHistogram(descriptor: Self.name("stage_duration_seconds", help: "Duration of pipeline stages and hooks"),
                                       labels: [("stage", stage)], buckets: Self.secondsBuckets)
    }

    private var reconcileDuration: DurationHistogram {
        registry.makeDurationHistogram(descriptor: Self.name("reconcile_duration_seconds", help: "Time to reconcile one app"),
                                       buckets: Self.secondsBuckets)
    }

    private var watchChecks: Counter {
        registry.makeCounter(descriptor: Self.name("watch_checks_total", help: "Checks of an app's changed objects started by a watch event"))
    }

    private var watchCheckedObjects: Counter {
        registry.makeCounter(descriptor: Self.name("watch_checked_objects_total", help: "Objects checked because a watch saw another writer change them"))
    }

    private var watchRelists: Counter {
        registry.makeCounter(descriptor: Self.name("watch_relists_total", help: "Watches that expired (410) and listed again"))
    }

    private var branchReads: Counter {
        registry.makeCounter(descriptor: Self.name("branch_reads_total", help: "Remote reads of a repository's branch heads by the reconciler (one serves every app of the repository)"))
    }

    private func pollJobs(app: String) -> Counter {
        registry.makeCounter(descriptor: Self.name("poll_jobs_total", help: "Jobs queued by the reconciler for pushes no webhook announced"),
                             labels: [("app", app)])
    }

    private func drifted(app: String) -> Gauge {
        registry.makeGauge(descriptor: Self.name("drifted_objects", help: "Objects that differ from the last applied revision"),
                           labels: [("app", app)])
    }

    private func setStatus(app: String, sync: String, health: String?) {
        for value in Self.syncValues {
            registry.makeGauge(descriptor: Self.name("app_sync_status", help: "1 for the app's current sync status"),
                               labels: [("app", app), ("status", value)]).set(to: value == sync ? 1.0 : 0.0)
        }
        for value in Self.healthValues {
            registry.makeGauge(descriptor: Self.name("app_health_status", help: "1 for the app's current health"),
                               labels: [("app", app), ("status", value)]).set(to: value == (health ?? "Unknown") ? 1.0 : 0.0)
        }
    }

    /// A verified (or refused) webhook delivery; `result` is one of `deliveryResults`.
    public func delivery(forge: String, result: String) {
        (deliveryCounters[forge]?[result] ?? Self.deliveries(registry, forge: forge, result: result)).increment()
    }

    /// A job reached a final status after `duration` (nil when it never ran).
    public func jobEnded(status: String, duration: Duration?) {
        jobs(status: status).increment()
        if let duration { jobDuration.record(duration) }
    }

    public func stageEnded(stage: String, duration: Duration) {
        stageDuration(stage).record(duration)
    }

    public func queueDepth(_ depth: Int) {
        registry.makeGauge(descriptor: Self.name("queue_depth", help: "Jobs waiting to run")).set(to: Double(depth))
    }

    public func pollJob(app: String) {
        pollJobs(app: app).increment()
    }

    /// One remote read of a repository's branch heads.
    public func branchRead() {
        branchReads.increment()
    }

    /// One reconcile of one app: its duration, sync and health status, drifted objects.
    public func reconciled(app: String, sync: String, health: String?, drifted count: Int, duration: Duration) {
        reconcileDuration.record(duration)
        appStatus(app: app, sync: sync, health: health, drifted: count)
    }

    /// An app's sync and health status and drifted objects, as a check found them.
    public func appStatus(app: String, sync: String, health: String?, drifted count: Int) {
        setStatus(app: app, sync: sync, health: health)
        drifted(app: app).set(to: Double(count))
    }

    /// A check of `objects` of one app, started by a watch.
    public func watchCheck(objects: Int) {
        watchChecks.increment()
        watchCheckedObjects.increment(by: Int64(objects))
    }

    /// A watch expired and listed again.
    public func watchRelisted() {
        watchRelists.increment()
    }

    /// The Prometheus text exposition, with the standard `process_*` metrics read now.
    public func exposition() -> String {
        registry.emitToString() + ProcessMetrics.read().exposition()
    }
}
