public import Foundation
public import SlipwayConfig
public import SlipwayCore
public import SlipwayStore

/// Where job states are noted for the forge: a row in the store's outbox for each state of a
/// job of an app with `forge_api`; the `StatusReporter` sends them. Noting never fails a job.
public struct StatusOutbox: Sendable {
    let config: ServerConfig
    let store: any JobStore

    public init(config: ServerConfig, store: any JobStore) {
        self.config = config
        self.store = store
    }

    public func note(_ job: Job, _ state: CommitState, reason: String? = nil, now: Date = Date()) async {
        guard config.app(named: job.app)?.forgeAPI != nil else { return }
        try? await store.queueCommitStatus(app: job.app, jobID: job.id, commit: job.commit, state: state, description: reason, now: now)
    }
}
