public import Foundation
public import Logging
public import ServiceLifecycle
public import SlipwayConfig
public import SlipwayCore
import SlipwayForge
public import SlipwayGit
public import SlipwayKube
public import SlipwayMetrics
public import SlipwayStore

/// Turns queued jobs into runs: claims them from the store under a lease (so several
/// replicas share one queue), renews its leases while they run, ends the jobs of replicas
/// that stopped renewing theirs, and on shutdown stops taking jobs, lets running ones finish
/// within the grace period, then interrupts them (they are queued again).
///
/// The rules of who runs what (fair order between apps, one job per app, newer pushes
/// supersede queued ones) are the store's `claim`, so they hold across replicas.
public actor JobDispatcher: Service {
    private let config: ServerConfig
    private let store: any JobStore
    private let runner: JobRunner
    private let logger: Logger
    private let now: @Sendable () -> Date
    /// This process among the replicas: host, process id and a random part.
    public nonisolated let replica: String
    /// Jobs this replica runs, by id.
    private var running: [JobID: Job] = [:]
    /// Jobs whose rollout waits: they hold no worker (or pod place) while they do.
    private let rolloutWaits = RolloutWaits()
    /// `rolloutWaits` as the last round read it.
    private var waitingRollouts: Set<JobID> = []
    private var stopping: [JobID: StopReason] = [:]
    /// Jobs whose end is being written: their lease ends with them, not lost.
    private var ending: Set<JobID> = []
    private var draining = false
    private var shutdownDeadlinePassed = false
    private let wakeups: AsyncStream<Void>
    private let wakeup: AsyncStream<Void>.Continuation
    /// How often the store is read for queued jobs when nothing wakes the dispatcher.
    private let pollInterval: Duration
    private let metrics: SlipwayMetrics?
    private let dependencies: DependencyGate
    private let outbox: StatusOutbox
    /// Deletes the builds namespace's pods of jobs that no longer run; nil without `runner.kubernetes`.
    private let janitor: PodJanitor?
    /// Whether a job ended since memory was last handed back, and when that was.
    private var memoryToRelease = false
    private var memoryReleasedAt = ContinuousClock.now

    public init(config: ServerConfig, store: any JobStore, mirrors: MirrorCache, clusters: [String: KubeClient] = [:], logger: Logger,
                stepPollInterval: Duration = .milliseconds(200), pollInterval: Duration = .seconds(1), healthPollInterval: Duration = .seconds(1),
                metrics: SlipwayMetrics? = nil, now: @escaping @Sendable () -> Date = { Date() }) {
        self.metrics = metrics
        self.config = config
        self.store = store
        self.logger = logger
        self.now = now
        self.pollInterval = pollInterval
        dependencies = DependencyGate(config: config, store: store)
        outbox = StatusOutbox(config: config, store: store)
        replica = "\(ProcessInfo.processInfo.hostName)-\(getpid())-\(UInt16.random(in: .min ... .max))"
        let sandbox = Sandbox(config: config)
        var janitor: PodJanitor?
        var podRunner: PodStepRunner?
        if let settings = config.kubernetes, let client = clusters[settings.cluster] {
            janitor = PodJanitor(client: client, settings: settings, store: store, killGrace: config.killGrace)
            podRunner = PodStepRunner(client: client, settings: settings, store: store, killGrace: config.killGrace, pollInterval: stepPollInterval,
                                      serverURL: Self.trimmedURL(settings.serverURL ?? config.publicURL ?? config.baseURL),
                                      serverCertificatePath: config.tls == .selfSigned ? config.selfSignedCertificatePath : nil)
        }
        self.janitor = janitor
        var runner = JobRunner(store: store, mirrors: mirrors,
                           executor: StepExecutor(hooksDirectory: config.hooksDir, pollInterval: stepPollInterval, sandbox: sandbox,
                                                  killGrace: config.killGrace),
                           host: HostIdentity.current(),
                           workspacesDir: config.workspacesDir, serverEnvironment: ProcessInfo.processInfo.environment,
                           manifestStep: ManifestStep(store: store, clusters: clusters, pollInterval: healthPollInterval, sandbox: sandbox),
                           baseURL: config.baseURL)
        runner.defaultExecutor = config.executor
        runner.manifestStep.metrics = metrics
        let (wakeups, wakeup) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        runner.manifestStep.rolloutWaiting = { [rolloutWaits] id, waiting in
            // A worker just came free: claim at once.
            if await rolloutWaits.set(id, waiting: waiting), waiting { wakeup.yield() }
        }
        runner.podRunner = podRunner
        self.runner = runner
        (self.wakeups, self.wakeup) = (wakeups, wakeup)
    }

    /// The least time between two looks at the queue.
    static let roundSpacing: Duration = .milliseconds(20)

    /// Look at the store now (a job was just queued or cancelled).
    public nonisolated func wake() {
        wakeup.yield()
    }

    public func run() async throws {
        await recover()
        let ticker = Task { [pollInterval, wakeup] in
            while !Task.isCancelled {
                try? await Task.sleep(for: pollInterval)
                wakeup.yield()
            }
        }
        defer { ticker.cancel() }
        let heartbeat = Task { [config] in
            while !Task.isCancelled {
                try? await Task.sleep(for: config.lease / 3)
                await self.renewLeases()
            }
        }
        defer { heartbeat.cancel() }
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for await _ in wakeups {
                    for job in await step() {
                        group.addTask { await self.execute(job) }
                    }
                    releaseMemoryIfDue()
                    if draining && running.isEmpty { break }
                    // Wakes that come meanwhile make one next round: a burst of thousands of
                    // deliveries a second costs the store at most fifty looks at the queue a
                    // second, not one per delivery (intake benchmark: 6,200 → 9,500 pushes/s).
                    try? await Task.sleep(for: Self.roundSpacing)
                }
            }
        } onGracefulShutdown: {
            Task { await self.beginShutdown() }
        }
    }

    /// Before any job runs: what a dead process left on this machine is killed, then its jobs
    /// are interrupted and queued again. On a store of its own, every running job was the
    /// dead process's; on a shared store, only jobs whose lease ran out.
    private static func trimmedURL(_ url: String) -> String {
        url.hasSuffix("/") ? String(url.dropLast()) : url
    }

    /// Deletes the pods of jobs that no longer run (ended, interrupted, taken over).
    private func sweepPods() async {
        guard let janitor else { return }
        do {
            let deleted = try await janitor.sweep()
            if !deleted.isEmpty { logger.notice("deleted the pods of jobs that no longer run", metadata: ["pods": "\(deleted)"]) }
        } catch {
            if Task.isCancelled { return }
            logger.warning("cannot look for the pods of ended jobs", metadata: ["error": "\(error)"])
        }
    }

    private func recover() async {
        do {
            let leftovers = try await store.leftoverProcesses(host: runner.host.host, bootID: runner.host.bootID,
                                                              leaseExpiredAt: store.isShared ? now() : nil)
            let killed = await ProcessReaper().reap(leftovers)
            if !killed.isEmpty {
                logger.notice("killed step processes left by the last stop", metadata: [
                    "jobs": "\(Set(killed.map(\.jobID)).sorted())", "process-groups": "\(killed.map(\.processGroup))",
                ])
            }
            let recovered = store.isShared
                ? try await store.expireLeases(maxAttempts: config.maxAttempts, now: now())
                : try await store.recoverInterrupted(maxAttempts: config.maxAttempts, now: now())
            // The pods of the jobs just ended go before any next attempt is claimed.
            await sweepPods()
            if !recovered.interrupted.isEmpty {
                logger.notice("jobs interrupted by the last stop", metadata: [
                    "interrupted": "\(recovered.interrupted)", "queued-again": "\(recovered.requeued.map(\.id))",
                ])
            }
        } catch {
            logger.error("cannot recover interrupted jobs", metadata: ["error": "\(error)"])
        }
    }

    /// Renews this replica's leases; a job whose lease was taken stops here. Then ends the
    /// jobs of replicas that stopped renewing theirs (their steps died with them).
    private func renewLeases() async {
        let mine = Array(running.keys)
        do {
            let held = try await store.renewLeases(replica: replica, jobs: mine, leaseFor: config.lease, now: now())
            for id in mine where !held.contains(id) && running[id] != nil && !ending.contains(id) {
                stopping[id] = .leaseLost
                logger.warning("lost the lease of a running job: stopping it", metadata: ["job-id": "\(id)", "replica": "\(replica)"])
            }
            let expired = try await store.expireLeases(maxAttempts: config.maxAttempts, now: now())
            await sweepPods()
            if !expired.interrupted.isEmpty {
                logger.notice("jobs of a replica that stopped renewing its leases", metadata: [
                    "interrupted": "\(expired.interrupted)", "queued-again": "\(expired.requeued.map(\.id))",
                ])
                wakeup.yield()
            }
        } catch {
            // Stopping: the heartbeat was cancelled in the middle of its call.
            if Task.isCancelled { return }
            logger.error("cannot renew leases", metadata: ["error": "\(error)", "replica": "\(replica)"])
        }
    }

    /// One round: stop runs a newer push replaces (where the app asks), then claim jobs
    /// while workers are free.
    private func step() async -> [Job] {
        do {
            metrics?.queueDepth(try await store.queueDepth())
            waitingRollouts = await rolloutWaits.jobs
            for (id, job) in running where stopping[id] == nil && job.trigger != .preview && config.app(named: job.app)?.cancelRunningOnPush == true {
                // A preview queued meanwhile is no newer push.
                if let newer = try await store.jobs(JobQuery(app: job.app, status: .queued, deploysOnly: true, limit: 1)).first, newer.id > id {
                    stopping[id] = .cancelled
                    logger.info("running job cancelled by a newer push", metadata: ["job-id": "\(id)", "by": "\(newer.id)"])
                }
            }
            var claimed: [Job] = []
            var waiting = Set<String>()
            if dependencies.isActive && !draining && hasRoom {
                let review = try await dependencies.review()
                waiting = review.waiting
                for job in review.blocked {
                    logger.notice("job blocked by a dependency", metadata: ["job-id": "\(job.id)", "app": "\(job.app)"])
                    await outbox.note(job, .failed, reason: "blocked by a dependency", now: now())
                    await recordMetrics(job.id, status: .blocked)
                }
            }
            while !draining && hasRoom {
                guard let claim = try await store.claim(replica: replica, leaseFor: config.lease, now: now(), excludingApps: waiting.union(appsWithoutRoom))
                else { break }
                let job = claim.job
                // A dependency's job may have been queued between the review and the claim.
                // A preview applies nothing: it does not wait for the apps its app depends on.
                if dependencies.isActive, job.trigger != .preview, config.app(named: job.app)?.dependsOn.isEmpty == false {
                    switch try await dependencies.verdict(for: job) {
                    case .ready:
                        break
                    case .wait:
                        _ = try await store.release(job.id)
                        waiting.insert(job.app)
                        continue
                    case .blocked(let reason):
                        try await store.finish(job.id, status: .blocked, reason: Job.summarized(reason: reason), now: now())
                        await outbox.note(job, .failed, reason: "blocked by a dependency", now: now())
                        await recordMetrics(job.id, status: .blocked)
                        continue
                    }
                }
                // The older queued jobs this claim superseded end on their commits too.
                for older in claim.superseded {
                    await outbox.note(older, .cancelled, reason: older.reason, now: now())
                }
                await outbox.note(job, .running, now: now())
                running[job.id] = job
                claimed.append(job)
            }
            return claimed
        } catch {
            logger.error("cannot claim queued jobs", metadata: ["error": "\(error)"])
            return []
        }
    }

    /// Whether the app's jobs run their steps as pods (and count against `max_pods`, not `workers`).
    private func runsAsPods(_ app: String) -> Bool {
        guard janitor != nil, let app = config.app(named: app) else { return false }
        return config.executor(of: app) == .kubernetes
    }

    /// The running jobs that hold a place (a waiting rollout holds none).
    private var holdingPlaces: [Job] { running.values.filter { !waitingRollouts.contains($0.id) } }

    private var runningAsPods: Int { holdingPlaces.filter { runsAsPods($0.app) }.count }

    /// Whether a worker or a pod place is free.
    private var hasRoom: Bool {
        let pods = runningAsPods
        return holdingPlaces.count - pods < config.workers || pods < (config.kubernetes?.maxPods ?? 0) && janitor != nil
    }

    /// Apps whose kind of place (worker or pod) is full: not claimed this round.
    private var appsWithoutRoom: Set<String> {
        let pods = runningAsPods
        let workersFull = holdingPlaces.count - pods >= config.workers
        let podsFull = pods >= (config.kubernetes?.maxPods ?? 0)
        return Set(config.apps.filter { runsAsPods($0.name) ? podsFull : workersFull }.map(\.name))
    }

    private func execute(_ job: Job) async {
        let result: RunResult
        if let app = config.app(named: job.app) {
            logger.info("job started", metadata: ["job-id": "\(job.id)", "app": "\(job.app)", "commit": "\(job.commit)"])
            let id = job.id
            result = await runner.run(job, app: app) { await self.stopReason(id) }
        } else {
            result = RunResult(status: .failed, reason: "app '\(job.app)' is no longer in the server configuration")
        }
        ending.insert(job.id)
        await rolloutWaits.set(job.id, waiting: false)
        do {
            if result.status == .interrupted {
                try await store.interrupt(job.id, reason: Job.summarized(reason: result.reason) ?? "interrupted", maxAttempts: config.maxAttempts, now: now())
            } else {
                try await store.finish(job.id, status: result.status, reason: Job.summarized(reason: result.reason), now: now())
            }
        } catch {
            logger.error("cannot record the end of a job", metadata: ["job-id": "\(job.id)", "error": "\(error)"])
        }
        logger.info("job ended", metadata: ["job-id": "\(job.id)", "status": "\(result.status.rawValue)"])
        if result.status != .interrupted { await outbox.note(job, CommitState(result.status), reason: Job.summarized(reason: result.reason), now: now()) }
        if result.status == .succeeded, dependencies.isActive {
            do {
                for retry in try await dependencies.retryBlocked(after: job) {
                    await outbox.note(retry, .queued, now: now())
                    logger.notice("blocked job queued again", metadata: ["job-id": "\(retry.id)", "app": "\(retry.app)", "after": "\(job.app)"])
                }
            } catch {
                logger.error("cannot queue blocked jobs again", metadata: ["after-job": "\(job.id)", "error": "\(error)"])
            }
        }
        await recordMetrics(job.id, status: result.status)
        let inUse = Set(running.values.filter { $0.id != job.id }.map { "\($0.app)-\($0.id)" })
        WorkspaceCleaner(directory: config.workspacesDir, keep: config.keepWorkspaces, inUse: inUse).clean()
        memoryToRelease = true
        finished(job)
    }

    /// The least time between two hand-backs of freed memory.
    static let memoryReleaseSpacing: Duration = .seconds(1)

    /// Hands the memory jobs freed back to the system, at most once per `memoryReleaseSpacing`:
    /// the ticker's rounds bring it within about a second of the last job's end. Once per job
    /// cost every request of a push flood a page fault in three (glibc re-faulting trimmed
    /// heaps, SQLite reopening its closed readers): intake benchmark, alternating runs,
    /// 128–137 → 115–122 µs of CPU per distinct push, page faults 0.29–0.36 → 0.03 per push.
    private func releaseMemoryIfDue() {
        guard memoryToRelease, ContinuousClock.now - memoryReleasedAt >= Self.memoryReleaseSpacing else { return }
        memoryToRelease = false
        memoryReleasedAt = .now
        store.releaseMemory()
        FreeMemory.release()
    }

    private func recordMetrics(_ id: JobID, status: JobStatus) async {
        guard let metrics else { return }
        let ended = try? await store.job(id: id)
        let duration = ended.flatMap { job in job.startedAt.map { Duration.seconds((job.finishedAt ?? now()).timeIntervalSince($0)) } }
        metrics.jobEnded(status: status.rawValue, duration: duration)
        var stages: [String: Double] = [:]
        for step in (try? await store.steps(id)) ?? [] {
            guard let start = step.startedAt, let end = step.finishedAt else { continue }
            stages[step.stage, default: 0] += end.timeIntervalSince(start)
        }
        for (stage, seconds) in stages { metrics.stageEnded(stage: stage, duration: .seconds(seconds)) }
    }

    private func finished(_ job: Job) {
        running[job.id] = nil
        ending.remove(job.id)
        stopping[job.id] = nil
        wakeup.yield()
    }

    /// Why a running job should stop, if it should: cancelled through the API, superseded
    /// while running, or the shutdown grace period is over.
    func stopReason(_ id: JobID) async -> StopReason? {
        if shutdownDeadlinePassed { return .shutdown }
        if let reason = stopping[id] { return reason }
        if (try? await store.isCancelRequested(id)) == true { return .cancelled }
        return nil
    }

    private func beginShutdown() async {
        draining = true
        wakeup.yield()
        logger.notice("shutting down: no new jobs; running ones may finish", metadata: [
            "running": "\(running.keys.sorted())", "grace": "\(config.shutdownGrace)",
        ])
        guard !running.isEmpty else { return }
        try? await Task.sleep(for: config.shutdownGrace)
        shutdownDeadlinePassed = true
    }
}
