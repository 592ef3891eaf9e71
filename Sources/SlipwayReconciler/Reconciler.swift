public import Foundation
public import Logging
public import ServiceLifecycle
public import SlipwayConfig
public import SlipwayCore
import SlipwayDeploy
import SlipwayForge
public import SlipwayGit
public import SlipwayKube
public import SlipwayMetrics
public import SlipwayStore

/// The safety net of the push model: every app, every interval, it reads the remote branch
/// head (a webhook that never arrived still gets a `poll` job) and compares the cluster with
/// the last applied revision (drift, health), correcting drift with back-off where the app
/// asks for it.
///
/// With several replicas, an app is reconciled by one replica at a time (a turn taken in the
/// store), an app another replica reconciled in the last half interval is skipped, and the
/// statuses and correction back-off live in the store, so every replica shows the same and a
/// restart keeps them.
public actor Reconciler: Service {
    private let config: ServerConfig
    private let store: any JobStore
    private let mirrors: MirrorCache
    private let clusters: [String: KubeClient]
    private let logger: Logger
    private let now: @Sendable () -> Date
    private let random: @Sendable () -> Double
    private let tick: Duration
    private let jobsChanged: @Sendable () -> Void
    private let metrics: SlipwayMetrics?
    private var schedule: ReconcileSchedule
    /// Branch heads whose changes were found not to concern a monorepo app.
    private var unconcernedHeads: [String: String] = [:]
    /// The last read of each repository's branch heads, shared by the apps that use it.
    private var branchReads: [RepositoryKey: BranchRead] = [:]
    /// How long a read serves: half the shortest interval among the repository's apps.
    private let branchReadLifetime: [RepositoryKey: TimeInterval]

    struct RepositoryKey: Hashable {
        var url: String
        var credentials: RepositoryAuth
    }

    struct BranchRead {
        var at: Date
        var heads: Result<[String: String], GitError>
    }
    private var statuses: [String: AppStatus] = [:]
    private let wakeups: AsyncStream<Void>
    private let wakeup: AsyncStream<Void>.Continuation
    /// Who takes reconcile turns in the store (the dispatcher's replica name).
    private let replica: String
    /// A turn lasts at most this long if its replica dies in the middle.
    static let turnLease: Duration = .seconds(300)

    public init(config: ServerConfig, store: any JobStore, mirrors: MirrorCache, clusters: [String: KubeClient], logger: Logger,
                schedule: ReconcileSchedule = ReconcileSchedule(), tick: Duration = .seconds(1), metrics: SlipwayMetrics? = nil,
                now: @escaping @Sendable () -> Date = { Date() }, random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
                replica: String = "slipway-\(ProcessInfo.processInfo.processIdentifier)",
                jobsChanged: @escaping @Sendable () -> Void) {
        self.replica = replica
        self.config = config
        self.store = store
        self.mirrors = mirrors
        self.clusters = clusters
        self.logger = logger
        self.now = now
        self.random = random
        self.tick = tick
        self.jobsChanged = jobsChanged
        self.metrics = metrics
        var schedule = schedule
        for app in config.apps {
            schedule.register(app.name, interval: app.reconcileInterval, now: now(), random: random())
        }
        self.schedule = schedule
        for app in config.apps { statuses[app.name] = AppStatus(app: app.name) }
        var lifetimes: [RepositoryKey: TimeInterval] = [:]
        for app in config.apps {
            let key = RepositoryKey(url: app.repoURL, credentials: app.repositoryAuth)
            lifetimes[key] = min(lifetimes[key] ?? .infinity, ReconcileSchedule.seconds(app.reconcileInterval) / 2)
        }
        branchReadLifetime = lifetimes
        (wakeups, wakeup) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    public func run() async throws {
        let ticker = Task { [tick, wakeup] in
            while !Task.isCancelled {
                try? await Task.sleep(for: tick)
                wakeup.yield()
            }
        }
        defer { ticker.cancel() }
        await cancelWhenGracefulShutdown {
            for await _ in self.wakeups {
                await self.reconcileDue()
            }
        }
    }

    /// The status of every app, as the store has it (whichever replica reconciled it last).
    public func allStatuses() async -> [AppStatus] {
        let stored = await storedStatuses()
        return config.apps.compactMap { stored[$0.name] ?? statuses[$0.name] }
    }

    /// Every app's status by name, as `allStatuses` reads them (one read of the store).
    public func statusesByApp() async -> [String: AppStatus] {
        await storedStatuses().merging(statuses) { stored, _ in stored }
    }

    public func status(of app: String) async -> AppStatus? {
        await storedStatuses()[app] ?? statuses[app]
    }

    private func storedStatuses() async -> [String: AppStatus] {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        var found: [String: AppStatus] = [:]
        for record in (try? await store.reconcileRecords()) ?? [] {
            guard let text = record.status, let status = try? decoder.decode(AppStatus.self, from: Data(text.utf8)) else { continue }
            found[record.app] = status
        }
        return found
    }

    /// Reconcile an app at once (the refresh API), and return its new status. While another
    /// replica reconciles it, its stored status.
    public func refresh(_ app: String) async -> AppStatus? {
        guard let config = config.app(named: app) else { return nil }
        // Asked for now: the branch is read again, not taken from the shared read.
        branchReads[RepositoryKey(url: config.repoURL, credentials: config.repositoryAuth)] = nil
        await takeTurn(config, unlessReconciledSince: nil)
        releaseMemory()
        return await status(of: app)
    }

    private func reconcileDue() async {
        let due = schedule.due(now: now())
        for name in due {
            // A shutdown stops the round here, not one store error per app later.
            if Task.isCancelled { break }
            guard let app = config.app(named: name) else { continue }
            let halfInterval = ReconcileSchedule.seconds(app.reconcileInterval) / 2
            await takeTurn(app, unlessReconciledSince: now().addingTimeInterval(-halfInterval))
        }
        if !due.isEmpty { releaseMemory() }
    }

    /// Hands back what the reconciles of a tick freed (their JSON trees), once for the tick
    /// rather than once per app: each hand-back makes the intake fault the pages in again.
    private func releaseMemory() {
        store.releaseMemory()
        FreeMemory.release()
    }

    /// Reconciles an app if it is this replica's turn: restores the stored back-off first,
    /// stores the status and back-off after.
    private func takeTurn(_ app: AppConfig, unlessReconciledSince since: Date?) async {
        defer { schedule.reconciled(app.name, now: now(), random: random()) }
        let record: ReconcileRecord?
        do {
            record = try await store.takeReconcileTurn(app: app.name, replica: replica, leaseFor: Self.turnLease,
                                                       unlessReconciledSince: since, now: now())
        } catch {
            if !Task.isCancelled { logger.warning("cannot take the reconcile turn", metadata: ["app": "\(app.name)", "error": "\(error)"]) }
            return
        }
        guard var record else { return }
        schedule.restoreCorrections(app.name, count: record.corrections, nextAllowed: record.nextCorrectionAllowed)
        await reconcile(app)
        let backoff = schedule.corrections(app.name)
        record.corrections = backoff.count
        record.nextCorrectionAllowed = backoff.nextAllowed
        record.reconciledAt = now()
        record.status = statuses[app.name].flatMap { try? SlipwayJSON.data($0) }.map { String(decoding: $0, as: UTF8.self) }
        do {
            try await store.endReconcileTurn(record, replica: replica)
        } catch {
            logger.warning("cannot store the reconcile status", metadata: ["app": "\(app.name)", "error": "\(error)"])
        }
    }

    /// The branch heads of the app's repository: one remote read serves every app of that
    /// repository (a monorepo's dozens) for half the shortest interval among them, so the
    /// forge sees about two reads a repository per interval, not one per app.
    private func branchHeads(for app: AppConfig) async -> Result<[String: String], GitError> {
        let key = RepositoryKey(url: app.repoURL, credentials: app.repositoryAuth)
        if let read = branchReads[key], now().timeIntervalSince(read.at) < branchReadLifetime[key] ?? 0 { return read.heads }
        let heads: Result<[String: String], GitError>
        do {
            heads = .success(try await mirrors.remoteHeads(in: app.repoURL, credentials: app.repositoryAuth))
        } catch {
            heads = .failure(error)
        }
        branchReads[key] = BranchRead(at: now(), heads: heads)
        metrics?.branchRead()
        return heads
    }

    /// Whether a new branch head concerns a monorepo app: its `paths` match a file changed
    /// since the app's last job (the mirror's diff); judged once per head.
    private func concerns(_ app: AppConfig, head: String, since previous: String?) async -> Bool {
        guard !app.paths.isEmpty else { return true }
        if unconcernedHeads[app.name] == head { return false }
        do {
            let changed = try await mirrors.changedPaths(from: previous, to: head, in: app.repoURL, credentials: app.repositoryAuth)
            guard app.paths.matchesAny(changed) else {
                unconcernedHeads[app.name] = head
                logger.info("new commits do not concern the app", metadata: ["app": "\(app.name)", "commit": "\(head)", "changed-files": "\(changed.count)"])
                return false
            }
        } catch {
            logger.warning("cannot read the changed files; queueing the commit", metadata: ["app": "\(app.name)", "error": "\(error)"])
        }
        return true
    }

    /// One tick for one app.
    func reconcile(_ app: AppConfig) async {
        let started = ContinuousClock.now
        var status = statuses[app.name] ?? AppStatus(app: app.name)
        status.reconciledAt = now()
        let latest = try? await store.latestJob(app: app.name)
        status.lastJob = latest?.id
        status.lastJobStatus = latest?.status.rawValue

        // 1. A push no webhook announced.
        do {
            guard let head = try await branchHeads(for: app).get()[app.branch] else {
                throw GitError(.commitNotFound, "branch \(app.branch) is not in \(app.repoURL)")
            }
            status.branchHead = head
            if latest?.commit != head, try await !store.hasJob(app: app.name, commit: head), await concerns(app, head: head, since: latest?.commit) {
                let job = try await store.enqueue(app: app.name, ref: PushEvent.branchPrefix + app.branch, commit: head, trigger: .poll,
                                            message: "found by the reconciler: no webhook announced it", now: now())
                logger.notice("missed push found", metadata: ["app": "\(app.name)", "commit": "\(head)", "job-id": "\(job.id)"])
                await StatusOutbox(config: config, store: store).note(job, .queued, now: now())
                metrics?.pollJob(app: app.name)
                jobsChanged()
            }
        } catch {
            logger.warning("cannot read the remote branch head", metadata: ["app": "\(app.name)", "error": "\(error)"])
            status.message = "git: \(error)"
        }

        // 2. Drift and health against the last applied revision.
        if let target = app.target {
            await detectDrift(app: app, target: target, status: &status)
        } else {
            status.sync = .unknown
            status.health = nil
        }
        status.nextCorrectionAt = schedule.nextCorrection(app.name)
        statuses[app.name] = status
        metrics?.reconciled(app: app.name, sync: status.sync.rawValue, health: status.health, drifted: status.drifted.count,
                            duration: ContinuousClock.now - started)
    }

    private func detectDrift(app: AppConfig, target: DeployTarget, status: inout AppStatus) async {
        guard let client = clusters[target.cluster]?.impersonating(target.impersonatedUser) else {
            status.sync = .unknown
            status.message = "cluster '\(target.cluster)' is not available"
            return
        }
        let record: DeploymentRecord?
        do {
            record = try await store.lastDeployment(app: app.name, healthyOnly: true)
        } catch {
            status.sync = .unknown
            status.message = "\(error)"
            return
        }
        guard let record else {
            status.sync = .unknown
            status.message = "nothing deployed yet"
            return
        }
        status.deployedCommit = record.commit
        let manifests = Manifest.stored(record.manifests, commit: record.commit)
        let report: DriftReport
        let health: DriftDetector.AppHealth
        do {
            (report, health) = try await DriftDetector(client: client).detect(
                desired: manifests, applySetID: Deployer.applySetID(app: app.name, namespace: target.namespace), defaultNamespace: target.namespace)
        } catch {
            status.sync = .unknown
            status.health = nil
            status.message = "cluster: \(error)"
            logger.warning("drift check failed", metadata: ["app": "\(app.name)", "error": "\(error)"])
            return
        }
        status.sync = report.inSync ? .synced : .outOfSync
        status.health = health.rawValue
        status.drifted = report.drifted
        status.objectHealth = report.health
        status.objectCount = report.objectCount
        status.message = report.inSync ? nil : "\(report.drifted.count) object(s) drifted from \(record.commit.prefix(12))"

        // 3. Correct it, where the app asks for it.
        guard target.driftPolicy == .correct else { return }
        let queued = (try? await store.jobs(JobQuery(app: app.name, status: .queued, limit: 1)).isEmpty == false) == true
        let running = try? await store.jobs(JobQuery(app: app.name, status: .running, limit: 1)).isEmpty == false
        guard !queued, running == false, schedule.shouldCorrect(app.name, drifted: !report.inSync, now: now()) else { return }
        if (try? await store.badCommit(app: app.name, commit: record.commit)) != nil { return }
        do {
            let job = try await store.enqueue(app: app.name, ref: PushEvent.branchPrefix + app.branch, commit: record.commit, trigger: .selfHeal,
                                        message: "drift: \(report.drifted.map(\.object).joined(separator: ", "))", now: now())
            status.message = "drift found; self-heal job \(job.id) re-applies \(record.commit.prefix(12))"
            logger.notice("self-heal queued", metadata: ["app": "\(app.name)", "job-id": "\(job.id)"])
            jobsChanged()
        } catch {
            status.message = "cannot queue a self-heal job: \(error)"
        }
    }
}
