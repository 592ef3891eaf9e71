import SlipwayConfig
import SlipwayCore
import SlipwayReconciler
import SlipwayStore

/// An app's status as the API, the pages and the event stream show it: the reconciler's view
/// with the store's newer facts (a deploy that ended since its last look); before its first
/// look at the app, what the store knows.
struct AppOverview: Sendable {
    let config: ServerConfig
    let store: any JobStore
    let reconciler: Reconciler?

    func status(_ app: AppConfig) async -> AppStatus {
        let latest = try? await store.latestJob(app: app.name)
        let summary = AppSummary(latestJob: latest?.id, latestJobStatus: latest?.status,
                                 deployedCommit: (try? await store.lastDeployment(app: app.name, healthyOnly: true))?.commit)
        var status = compose(app, reconciled: await reconciler?.status(of: app.name), summary: summary)
        status.rollout = try? await store.rollout(app: app.name)?.state
        return status
    }

    /// Every configured app's status, in the configuration's order: one read of the
    /// reconciler's statuses and one store query for every app's newest job and deploy.
    func all() async -> [AppStatus] {
        let reconciled = await reconciler?.statusesByApp() ?? [:]
        let summaries = (try? await store.appSummaries()) ?? [:]
        return config.apps.map { compose($0, reconciled: reconciled[$0.name], summary: summaries[$0.name] ?? AppSummary()) }
    }

    private func compose(_ app: AppConfig, reconciled: AppStatus?, summary: AppSummary) -> AppStatus {
        var status: AppStatus
        if let reconciled, reconciled.reconciledAt != nil {
            status = reconciled
            if let deployed = summary.deployedCommit { status.deployedCommit = deployed }
            if let latest = summary.latestJob {
                status.lastJob = latest
                status.lastJobStatus = summary.latestJobStatus?.rawValue
            }
            return status
        }
        status = AppStatus(app: app.name)
        status.deployedCommit = summary.deployedCommit
        status.lastJob = summary.latestJob
        status.lastJobStatus = summary.latestJobStatus?.rawValue
        status.message = reconciler == nil ? "the reconciler is not running" : "not reconciled yet"
        status.waitingFor = reconciled?.waitingFor
        return status
    }
}
