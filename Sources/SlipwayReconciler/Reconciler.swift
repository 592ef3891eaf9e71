public import Foundation
public import Logging
public import ServiceLifecycle
public import SlipwayConfig
import SlipwayCore
import SlipwayDeploy
import SlipwayForge
public import SlipwayGit
public import SlipwayKube
public import SlipwayMetrics
public import SlipwayStore

/// The safety net of the push model: every app, every interval, it reads the remote branch
/// head (a webhook that never arrived still gets a `poll` job) and compares the cluster with
/// the last applied revision (drift, health), correcting drift with back-off where the app
/// asks for it. Between those checks, one watch per cluster and resource type follows
/// Slipway's objects, so a change someone else makes is checked within seconds.
///
/// Due apps are reconciled by a bounded pool (`reconciler.concurrency`), oldest due first and
/// one reconcile per app at a time; apps waiting for a repository's read in flight, or for a
/// cluster that stopped answering, leave the pool's places to the others.
///
/// With several replicas, an app is reconciled by one replica at a time (a turn taken in the
/// store), an app another replica reconciled in the last half interval is skipped, and the
/// statuses and correction back-off live in the store, so every replica shows the same and a
/// restart keeps them.
public actor Reconciler: Service {
    let config: ServerConfig
    let settings: ReconcilerSettings
    let store: any JobStore
    let mirrors: MirrorCache
    let clusters: [String: KubeClient]
    let logger: Logger
    let now: @Sendable () -> Date
    let random: @Sendable () -> Double
    private let tick: Duration
    let jobsChanged: @Sendable () -> Void
    let metrics: SlipwayMetrics?
    var schedule: ReconcileSchedule
    let apps: [String: AppConfig]
    /// Branch heads whose changes were found not to concern a monorepo app.
    var unconcernedHeads: [String: String] = [:]
    /// The last read of each repository's branch heads, shared by the apps that use it.
    var branchReads: [RepositoryKey: BranchRead] = [:]
    /// How long a read serves: half the shortest interval among the repository's apps.
    let branchReadLifetime: [RepositoryKey: TimeInterval]
    var statuses: [String: AppStatus] = [:]
    /// The stored statuses last decoded, with the text they were decoded from.
    private var decodedStatuses: [String: (text: String, status: AppStatus)] = [:]
    /// What an app being reconciled here waits for (shown with its status).
    var waiting: [String: String] = [:]
    private let wakeups: AsyncStream<Void>
    let wakeup: AsyncStream<Void>.Continuation
    /// Who takes reconcile turns in the store (the dispatcher's replica name).
    let replica: String
    /// A turn lasts at most this long if its replica dies in the middle.
    static let turnLease: Duration = .seconds(300)

    private var pool: ReconcilePool
    /// Clusters whose last check failed to answer in time: until then, one app of each at a time.
    var troubledClusters: [String: Date] = [:]
    private var finishWaiters: [String: [CheckedContinuation<Void, Never>]] = [:]
    private var lastMemoryRelease = Date.distantPast

    // The watches.
    var watches: [String: ClusterWatch] = [:]
    /// The resource types each cluster's watch was asked to follow.
    var watchedTypes: [String: Set<ClusterWatch.ResourceType>] = [:]
    /// Apps by ApplySet id, to route a watch's events.
    let appsByApplySet: [String: String]
    /// Objects a watch saw change, by app and identity, waiting for their check.
    var changed: [String: [String: ObservedChange]] = [:]
    /// Apps with changed objects, first seen first.
    var changedOrder: [String] = []
    /// An app whose job is running has its watch checks held back until then.
    var heldUntil: [String: Date] = [:]
    /// Apps a watch found with a revision their status has not seen: checked in full next.
    var fullCheckWanted: Set<String> = []

    struct RepositoryKey: Hashable {
        var url: String
        var credentials: RepositoryAuth
    }

    struct BranchRead {
        var at: Date
        var heads: Task<Result<[String: String], GitError>, Never>
        var finished = false
    }

    public init(config: ServerConfig, store: any JobStore, mirrors: MirrorCache, clusters: [String: KubeClient], logger: Logger,
                schedule: ReconcileSchedule = ReconcileSchedule(), tick: Duration = .seconds(1), metrics: SlipwayMetrics? = nil,
                now: @escaping @Sendable () -> Date = { Date() }, random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
                replica: String = "slipway-\(ProcessInfo.processInfo.processIdentifier)",
                jobsChanged: @escaping @Sendable () -> Void) {
        self.replica = replica
        self.config = config
        settings = config.reconciler
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
        var apps: [String: AppConfig] = [:]
        var lifetimes: [RepositoryKey: TimeInterval] = [:]
        var applySets: [String: String] = [:]
        for app in config.apps {
            schedule.register(app.name, interval: app.reconcileInterval, now: now(), random: random())
            statuses[app.name] = AppStatus(app: app.name)
            apps[app.name] = app
            let key = RepositoryKey(url: app.repoURL, credentials: app.repositoryAuth)
            lifetimes[key] = min(lifetimes[key] ?? .infinity, app.reconcileInterval.seconds / 2)
            if let target = app.target { applySets[Deployer.applySetID(app: app.name, namespace: target.namespace)] = app.name }
        }
        self.schedule = schedule
        pool = ReconcilePool(limit: config.reconciler.concurrency)
        self.apps = apps
        branchReadLifetime = lifetimes
        appsByApplySet = applySets
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
            await withDiscardingTaskGroup { group in
                for await _ in self.wakeups {
                    for work in await self.claim() {
                        group.addTask { await self.perform(work) }
                    }
                }
                // A shutdown stops the round here: what is running sees the cancellation.
                group.cancelAll()
            }
        }
        await stopWatches()
    }

    /// The status of every app, as the store has it (whichever replica reconciled it last).
    public func allStatuses() async -> [AppStatus] {
        let all = await statusesByApp()
        return config.apps.compactMap { all[$0.name] }
    }

    /// Every app's status by name, as `allStatuses` reads them (one read of the store).
    public func statusesByApp() async -> [String: AppStatus] {
        var all = await storedStatuses().merging(statuses) { stored, _ in stored }
        for (app, what) in waiting { all[app]?.waitingFor = what }
        return all
    }

    public func status(of app: String) async -> AppStatus? {
        var status = await storedStatuses()[app] ?? statuses[app]
        status?.waitingFor = waiting[app]
        return status
    }

    func storedStatuses() async -> [String: AppStatus] {
        var found: [String: AppStatus] = [:]
        for record in (try? await store.reconcileRecords()) ?? [] {
            guard let text = record.status else { continue }
            // Decoded once per stored text: a dashboard polling 1,000 apps decodes only those
            // whose status changed since its last look.
            if let cached = decodedStatuses[record.app], cached.text == text {
                found[record.app] = cached.status
            } else if let status = Self.decodeStatus(text) {
                decodedStatuses[record.app] = (text, status)
                found[record.app] = status
            }
        }
        return found
    }

    static func decodeStatus(_ text: String?) -> AppStatus? {
        guard let text else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try? decoder.decode(AppStatus.self, from: Data(text.utf8))
    }

    /// Reconcile an app at once (the refresh API), and return its new status. While another
    /// replica reconciles it, its stored status.
    public func refresh(_ name: String) async -> AppStatus? {
        guard let app = apps[name] else { return nil }
        // One reconcile of an app at a time: a refresh waits for the one under way.
        while pool.isRunning(name) {
            await withCheckedContinuation { finishWaiters[name, default: []].append($0) }
        }
        start(app)
        // Asked for now: the branch is read again, not taken from the shared read.
        branchReads[RepositoryKey(url: app.repoURL, credentials: app.repositoryAuth)] = nil
        await takeTurn(app, unlessReconciledSince: nil)
        finish(app)
        return await status(of: name)
    }

    // MARK: The pool

    enum Work: Sendable {
        /// The periodic check: branch head, drift and health of every object.
        case full(AppConfig)
        /// The objects a watch saw change.
        case objects(AppConfig)

        var app: AppConfig {
            switch self {
            case .full(let app), .objects(let app): app
            }
        }
    }

    /// What to start now, within the pool's free places: apps with watched changes first (what
    /// "drift seen in seconds" waits for), then due apps, oldest due first.
    private func claim() -> [Work] {
        guard pool.running.count < pool.limit else { return [] }
        let now = now()
        let changed = changedOrder.compactMap { name -> ReconcilePool.Candidate? in
            guard heldUntil[name].map({ $0 <= now }) ?? true, let app = apps[name] else { return nil }
            return ReconcilePool.Candidate(app: name, cluster: app.target?.cluster)
        }
        // Repositories another app's reconcile is about to read: one that started but has not
        // registered its read yet, or an earlier candidate of this round. Without this, two
        // apps of a hanging repository could take two places (one reading, one waiting for
        // that read) and leave none to the other apps.
        var claimedRepositories = Set(pool.running.compactMap { apps[$0].map { RepositoryKey(url: $0.repoURL, credentials: $0.repositoryAuth) } })
        let due = schedule.due(now: now).compactMap { name -> ReconcilePool.Candidate? in
            guard let app = apps[name] else { return nil }
            let key = RepositoryKey(url: app.repoURL, credentials: app.repositoryAuth)
            // Its repository is being read for another app: that read will serve it too.
            let read = branchReads[key]
            let reading = read.map { !$0.finished } ?? false
            // A fresh read serves every app of the repository at once.
            let fresh = read.map { $0.finished && now.timeIntervalSince($0.at) < branchReadLifetime[key] ?? 0 } ?? false
            let waits = reading || !fresh && !claimedRepositories.insert(key).inserted
            return ReconcilePool.Candidate(app: name, cluster: app.target?.cluster, waitsForRead: waits)
        }
        let troubled = Set(troubledClusters.filter { $0.value > now }.keys)
        let picked = pool.claim(changed: changed, due: due, troubled: troubled)
        return picked.changed.compactMap { apps[$0].map(Work.objects) } + picked.due.compactMap { apps[$0].map(Work.full) }
    }

    private func start(_ app: AppConfig) {
        pool.start(app.name, cluster: app.target?.cluster)
    }

    private func finish(_ app: AppConfig) {
        pool.finish(app.name, cluster: app.target?.cluster)
        for waiter in finishWaiters.removeValue(forKey: app.name) ?? [] { waiter.resume() }
        // Hand back what the reconciles freed (their JSON trees) once the pool is idle, at
        // most once a second: each hand-back makes the intake fault the pages in again.
        if pool.isIdle, now().timeIntervalSince(lastMemoryRelease) >= 1 {
            lastMemoryRelease = now()
            store.releaseMemory()
            FreeMemory.release()
        }
        wakeup.yield()
    }

    private func perform(_ work: Work) async {
        let app = work.app
        if !Task.isCancelled {
            switch work {
            case .full:
                let halfInterval = app.reconcileInterval.seconds / 2
                let wanted = fullCheckWanted.remove(app.name) != nil
                await takeTurn(app, unlessReconciledSince: wanted ? nil : now().addingTimeInterval(-halfInterval))
            case .objects:
                await checkChangedObjects(app)
            }
        }
        finish(app)
    }

    /// Reconciles an app if it is this replica's turn: restores the stored back-off first,
    /// stores the status and back-off after.
    private func takeTurn(_ app: AppConfig, unlessReconciledSince since: Date?) async {
        defer { schedule.reconciled(app.name, now: now(), random: random()) }
        guard var record = await turn(of: app, unlessReconciledSince: since) else { return }
        schedule.restoreCorrections(app.name, count: record.corrections, nextAllowed: record.nextCorrectionAllowed)
        await reconcile(app)
        record.reconciledAt = now()
        await endTurn(record, app: app)
    }

    /// Takes the app's reconcile turn in the store; nil when another replica has it.
    func turn(of app: AppConfig, unlessReconciledSince since: Date?) async -> ReconcileRecord? {
        do {
            return try await store.takeReconcileTurn(app: app.name, replica: replica, leaseFor: Self.turnLease,
                                                     unlessReconciledSince: since, now: now())
        } catch {
            if !Task.isCancelled { logger.warning("cannot take the reconcile turn", metadata: ["app": "\(app.name)", "error": "\(error)"]) }
            return nil
        }
    }

    /// Stores the app's status and correction back-off and ends the turn.
    func endTurn(_ record: ReconcileRecord, app: AppConfig) async {
        var record = record
        let backoff = schedule.corrections(app.name)
        record.corrections = backoff.count
        record.nextCorrectionAllowed = backoff.nextAllowed
        record.status = statuses[app.name].flatMap { try? SlipwayJSON.data($0) }.map { String(decoding: $0, as: UTF8.self) }
        do {
            try await store.endReconcileTurn(record, replica: replica)
        } catch {
            logger.warning("cannot store the reconcile status", metadata: ["app": "\(app.name)", "error": "\(error)"])
        }
    }
}
