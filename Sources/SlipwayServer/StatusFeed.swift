import Foundation
import ServiceLifecycle
import SlipwayCore
import SlipwayReconciler
import SlipwayStore

/// Job and app status changes, for the pages' live updates. While anyone listens, one loop
/// reads the newest jobs, the running ones and every app's status each interval and tells
/// every listener what changed, so a change made by any replica shows; with no listener it
/// reads nothing.
actor StatusFeed {
    enum Change: Sendable {
        case job(Job)
        case app(AppStatus)
        /// Nothing changed for a while: keeps the connection (and proxies) awake.
        case keepAlive
    }

    private let overview: AppOverview
    private let interval: Duration
    private var listeners: [UUID: AsyncStream<Change>.Continuation] = [:]
    private var poller: Task<Void, Never>?
    private var jobs: [JobID: Job]?
    private var apps: [String: AppStatus] = [:]
    private static let keepAliveEvery = 15

    init(overview: AppOverview, interval: Duration = .seconds(1)) {
        self.overview = overview
        self.interval = interval
    }

    /// A stream that starts with the current state (so nothing between a page's render and
    /// its subscription is missed) and goes on with every change.
    func subscribe() async -> AsyncStream<Change> {
        let (stream, continuation) = AsyncStream.makeStream(of: Change.self, bufferingPolicy: .bufferingNewest(500))
        let id = UUID()
        if jobs == nil { _ = await look() }
        for status in apps.values.sorted(by: { $0.app < $1.app }) { continuation.yield(.app(status)) }
        for job in (jobs ?? [:]).values.sorted(by: { $0.id < $1.id }) { continuation.yield(.job(job)) }
        listeners[id] = continuation
        continuation.onTermination = { _ in Task { await self.unsubscribe(id) } }
        if poller == nil {
            poller = Task { await self.run() }
        }
        return stream
    }

    private func unsubscribe(_ id: UUID) {
        listeners[id] = nil
        if listeners.isEmpty {
            poller?.cancel()
            poller = nil
            jobs = nil
        }
    }

    private func run() async {
        var quiet = 0
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            guard !Task.isCancelled else { return }
            let changes = await look()
            quiet = changes.isEmpty ? quiet + 1 : 0
            let sent = quiet >= Self.keepAliveEvery ? [.keepAlive] : changes
            if quiet >= Self.keepAliveEvery { quiet = 0 }
            for continuation in listeners.values {
                for change in sent { continuation.yield(change) }
            }
        }
    }

    /// Reads the current state and returns what differs from the last look.
    private func look() async -> [Change] {
        var changes: [Change] = []
        var seen: [JobID: Job] = [:]
        let recent = (try? await overview.store.jobs(JobQuery(limit: 50))) ?? []
        let running = (try? await overview.store.jobs(JobQuery(status: .running, limit: 100))) ?? []
        for job in recent + running { seen[job.id] = job }
        if let jobs {
            for job in seen.values.sorted(by: { $0.id < $1.id }) where jobs[job.id] != job { changes.append(.job(job)) }
        }
        jobs = seen
        for status in await overview.all() where apps[status.app] != status {
            apps[status.app] = status
            changes.append(.app(status))
        }
        return changes
    }

    /// Ends every stream (graceful shutdown).
    func finishAll() {
        for continuation in listeners.values { continuation.finish() }
    }
}
