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
        if var status = await reconciler?.status(of: app.name), status.reconciledAt != nil {
            if let deployed = (try? await store.lastDeployment(app: app.name, healthyOnly: true))?.commit { status.deployedCommit = deployed }
            if let latest = try? await store.latestJob(app: app.name) {
                status.lastJob = latest.id
                status.lastJobStatus = latest.status.rawValue
            }
            return status
        }
        var status = AppStatus(app: app.name)
        status.deployedCommit = (try? await store.lastDeployment(app: app.name, healthyOnly: true))?.commit
        let latest = try? await store.latestJob(app: app.name)
        status.lastJob = latest?.id
        status.lastJobStatus = latest?.status.rawValue
        status.message = reconciler == nil ? "the reconciler is not running" : "not reconciled yet"
        return status
    }

    /// Every configured app's status, in the configuration's order.
    func all() async -> [AppStatus] {
        var statuses: [AppStatus] = []
        for app in config.apps { statuses.append(await status(app)) }
        return statuses
    }
}
