import Foundation
import SlipwayConfig
import SlipwayCore
import SlipwayStore

/// `apps[].depends_on` at run time: an app's job waits while an app it depends on has a job
/// for the same commit still to finish; it ends `blocked` when that job did not succeed; a
/// blocked job is queued again once that app next deploys successfully.
struct DependencyGate: Sendable {
    let config: ServerConfig
    let store: any JobStore

    enum Verdict: Equatable {
        case ready
        case wait(String)
        case blocked(String)
    }

    /// Whether any app has dependencies (otherwise the gate reads nothing).
    var isActive: Bool { config.apps.contains { !$0.dependsOn.isEmpty } }

    func verdict(for job: Job) async throws(StoreError) -> Verdict {
        guard let app = config.app(named: job.app) else { return .ready }
        let short = job.commit.prefix(12)
        for name in app.dependsOn {
            // Previews deploy nothing: only the app's deploys count.
            let jobs = try await store.jobs(JobQuery(app: name, deploysOnly: true, limit: 50))
            if jobs.contains(where: { $0.commit == job.commit && !$0.status.isFinal }) {
                return .wait("app '\(name)' has not deployed \(short) yet")
            }
            // The app was not part of this push: nothing to wait for.
            guard let forCommit = jobs.first(where: { $0.commit == job.commit }), forCommit.status != .succeeded else { continue }
            // A later successful deploy (what a retry waits for), with nothing of it pending.
            if jobs.contains(where: { $0.id > forCommit.id && $0.status == .succeeded }), !jobs.contains(where: { !$0.status.isFinal }) {
                continue
            }
            return .blocked("app '\(name)' did not deploy \(short): its job \(forCommit.id) \(forCommit.status.rawValue)"
                            + (forCommit.reason.map { " (\($0))" } ?? "") + "; this job runs again when '\(name)' next deploys successfully")
        }
        return .ready
    }

    /// Looks at the newest queued job of each app with dependencies: ends those that are
    /// blocked (with the older queued ones of their app) and returns the apps that must wait.
    func review() async throws(StoreError) -> (waiting: Set<String>, blocked: [Job]) {
        let queued = try await store.queuedJobs()
        var newest: [String: Job] = [:]
        for job in queued where job.trigger != .preview && config.app(named: job.app)?.dependsOn.isEmpty == false {
            if job.id > newest[job.app]?.id ?? 0 { newest[job.app] = job }
        }
        var waiting = Set<String>()
        var blocked: [Job] = []
        for job in newest.values.sorted(by: { $0.id < $1.id }) {
            switch try await verdict(for: job) {
            case .ready:
                break
            case .wait:
                waiting.insert(job.app)
            case .blocked(let reason):
                let older = queued.filter { $0.app == job.app && $0.trigger != .preview && $0.id < job.id }.map(\.id)
                _ = try await store.supersede(older, by: job.id, now: Date())
                try await store.finish(job.id, status: .blocked, reason: Job.summarized(reason: reason))
                blocked.append(job)
            }
        }
        return (waiting, blocked)
    }

    /// After `deployed` succeeded: queues again the blocked newest job of each app that
    /// depends on its app.
    func retryBlocked(after deployed: Job) async throws(StoreError) -> [Job] {
        var queued: [Job] = []
        for app in config.apps where app.dependsOn.contains(deployed.app) {
            guard let latest = try await store.latestJob(app: app.name), latest.status == .blocked else { continue }
            queued.append(try await store.enqueue(app: app.name, ref: latest.ref, commit: latest.commit, trigger: latest.trigger,
                                                  message: "retry of blocked job \(latest.id): '\(deployed.app)' deployed \(deployed.commit.prefix(12))"))
        }
        return queued
    }
}
