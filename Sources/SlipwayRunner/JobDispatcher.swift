public import Foundation
public import Logging
public import ServiceLifecycle
public import SlipwayConfig
public import SlipwayCore
public import SlipwayGit
public import SlipwayKube
public import SlipwayMetrics
public import SlipwayStore

/// Turns queued jobs into runs: feeds the `Scheduler` from the store, performs its actions,
/// and on shutdown stops taking jobs, lets running ones finish within the grace period,
/// then interrupts them (they are queued again for the next start).
public actor JobDispatcher: Service {
    private let config: ServerConfig
    private let store: any JobStore
    private let runner: JobRunner
    private let logger: Logger
    private let now: @Sendable () -> Date
    private var scheduler: Scheduler
    private var stopping: [JobID: StopReason] = [:]
    private var shutdownDeadlinePassed = false
    private let wakeups: AsyncStream<Void>
    private let wakeup: AsyncStream<Void>.Continuation
    /// How often the store is read for queued jobs when nothing wakes the dispatcher.
    private let pollInterval: Duration
    private let metrics: SlipwayMetrics?

    public init(config: ServerConfig, store: any JobStore, mirrors: MirrorCache, clusters: [String: KubeClient] = [:], logger: Logger,
                stepPollInterval: Duration = .milliseconds(200), pollInterval: Duration = .seconds(1), healthPollInterval: Duration = .seconds(1),
                metrics: SlipwayMetrics? = nil, now: @escaping @Sendable () -> Date = { Date() }) {
        self.metrics = metrics
        self.config = config
        self.store = store
        self.logger = logger
        self.now = now
        self.pollInterval = pollInterval
        scheduler = Scheduler(workers: config.workers)
        let sandbox = Sandbox(config: config)
        runner = JobRunner(store: store, mirrors: mirrors,
                           executor: StepExecutor(hooksDirectory: config.hooksDir, pollInterval: stepPollInterval, sandbox: sandbox,
                                                  killGrace: config.killGrace),
                           host: HostIdentity.current(),
                           workspacesDir: config.workspacesDir, serverEnvironment: ProcessInfo.processInfo.environment,
                           manifestStep: ManifestStep(store: store, clusters: clusters, pollInterval: healthPollInterval, sandbox: sandbox))
        (wakeups, wakeup) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Look at the store now (a job was just queued or cancelled).
    public nonisolated func wake() {
        wakeup.yield()
    }

    public func run() async throws {
        do {
            // What the last process's steps left on this machine dies before any job runs again.
            let leftovers = try await store.leftoverProcesses(host: runner.host.host, bootID: runner.host.bootID)
            let killed = await ProcessReaper().reap(leftovers)
            if !killed.isEmpty {
                logger.notice("killed step processes left by the last stop", metadata: [
                    "jobs": "\(Set(killed.map(\.jobID)).sorted())", "process-groups": "\(killed.map(\.processGroup))",
                ])
            }
            let recovered = try await store.recoverInterrupted(maxAttempts: config.maxAttempts, now: now())
            if !recovered.interrupted.isEmpty {
                logger.notice("jobs interrupted by the last stop", metadata: [
                    "interrupted": "\(recovered.interrupted)", "queued-again": "\(recovered.requeued.map(\.id))",
                ])
            }
        } catch {
            logger.error("cannot recover interrupted jobs", metadata: ["error": "\(error)"])
        }
        let ticker = Task { [pollInterval, wakeup] in
            while !Task.isCancelled {
                try? await Task.sleep(for: pollInterval)
                wakeup.yield()
            }
        }
        defer { ticker.cancel() }
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for await _ in wakeups {
                    for job in await step() {
                        group.addTask { await self.execute(job) }
                    }
                    if scheduler.draining && scheduler.running.isEmpty { break }
                }
            }
        } onGracefulShutdown: {
            Task { await self.beginShutdown() }
        }
    }

    /// One round: learn about queued jobs, apply the scheduler's decisions, return jobs to start.
    private func step() async -> [Job] {
        var toStart: [Job] = []
        do {
            let queued = try await store.queuedJobs()
            metrics?.queueDepth(queued.count)
            let stillQueued = Set(queued.map(\.id))
            for (app, ids) in scheduler.queued {
                for id in ids where !stillQueued.contains(id) { scheduler.dropped(id, app: app) }
            }
            for job in queued where !scheduler.knows(job.id) {
                let app = config.app(named: job.app)
                await perform(scheduler.enqueued(job.id, app: job.app, cancelRunning: app?.cancelRunningOnPush ?? false))
            }
            for action in scheduler.next(now: now()) {
                guard case .start(let id) = action else { continue }
                if let job = queued.first(where: { $0.id == id }) { toStart.append(job) }
            }
        } catch {
            logger.error("cannot read queued jobs", metadata: ["error": "\(error)"])
        }
        return toStart
    }

    private func perform(_ actions: [Scheduler.Action]) async {
        for action in actions {
            switch action {
            case .supersede(let ids, let newer):
                let changed = (try? await store.supersede(ids, by: newer, now: now())) ?? []
                if !changed.isEmpty { logger.info("jobs superseded", metadata: ["jobs": "\(changed)", "by": "\(newer)"]) }
            case .cancelRunning(let id, let newer):
                stopping[id] = .cancelled
                logger.info("running job cancelled by a newer push", metadata: ["job-id": "\(id)", "by": "\(newer)"])
            case .start:
                break
            }
        }
    }

    private func execute(_ job: Job) async {
        let result: RunResult
        if let app = config.app(named: job.app) {
            guard (try? await store.start(job.id, now: now())) == true else {
                finished(job)
                return
            }
            logger.info("job started", metadata: ["job-id": "\(job.id)", "app": "\(job.app)", "commit": "\(job.commit)"])
            let id = job.id
            result = await runner.run(job, app: app) { await self.stopReason(id) }
        } else {
            _ = try? await store.start(job.id, now: now())
            result = RunResult(status: .failed, reason: "app '\(job.app)' is no longer in the server configuration")
        }
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
        await recordMetrics(job.id, status: result.status)
        let running = Set(scheduler.running.filter { $0.value != job.id }.map { "\($0.key)-\($0.value)" })
        WorkspaceCleaner(directory: config.workspacesDir, keep: config.keepWorkspaces, inUse: running).clean()
        store.releaseMemory()
        FreeMemory.release()
        finished(job)
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
        scheduler.finished(job.id, app: job.app)
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
        scheduler.drain()
        wakeup.yield()
        logger.notice("shutting down: no new jobs; running ones may finish", metadata: [
            "running": "\(scheduler.running.values.sorted())", "grace": "\(config.shutdownGrace)",
        ])
        guard !scheduler.running.isEmpty else { return }
        try? await Task.sleep(for: config.shutdownGrace)
        shutdownDeadlinePassed = true
    }
}
