import Foundation
import SlipwayCore
import SlipwayDeploy
import SlipwayKube
import SlipwayStore

/// Drift from the cluster's own events: the watches' changes become checks of just the objects
/// that changed, merged into the app's stored status.
extension Reconciler {
    /// Starts watching the resource types of an app's applied manifests on its cluster (the
    /// watch of a type is shared by every app of the cluster).
    func watchKinds(of manifests: [Manifest], cluster: String) {
        guard settings.watch, let client = clusters[cluster] else { return }
        // Every full check of every app comes here: only types not watched yet go further.
        let types = Set(manifests.map { ClusterWatch.ResourceType(apiVersion: $0.apiVersion, kind: $0.kind) })
        guard !types.isSubset(of: watchedTypes[cluster] ?? []) else { return }
        watchedTypes[cluster, default: []].formUnion(types)
        let watch: ClusterWatch
        if let existing = watches[cluster] {
            watch = existing
        } else {
            let metrics = self.metrics
            watch = ClusterWatch(cluster: cluster, client: client, logger: logger, onRelist: { metrics?.watchRelisted() }) { [weak self] changes in
                await self?.note(changes)
            }
            watches[cluster] = watch
        }
        Task { await watch.watch(types) }
    }

    func stopWatches() async {
        for watch in watches.values { await watch.stop() }
        watches = [:]
        watchedTypes = [:]
    }

    /// Queues the changed objects of known apps for a check; the pool starts it.
    func note(_ changes: [ObservedChange]) {
        for change in changes {
            guard let app = appsByApplySet[change.applySetID] else { continue }
            var pending = changed[app] ?? [:]
            if pending.isEmpty { changedOrder.append(app) }
            let identity = change.reference.identity
            // A later event replaces the earlier object; a drift check stays one.
            var merged = change
            if pending[identity]?.change == .drift { merged.change = .drift }
            pending[identity] = merged
            changed[app] = pending
        }
        wakeup.yield()
    }

    /// The check of the objects a watch saw change: a dry-run of each someone else wrote, the
    /// health of each a controller reported on, merged into the app's stored status; drift it
    /// finds is corrected as the periodic check would.
    func checkChangedObjects(_ app: AppConfig) async {
        guard let target = app.target, let admin = clusters[target.cluster] else {
            takeChanges(of: app.name)
            return
        }
        // A job of the app is deploying: its own changes are no drift. Look again after it.
        if (try? await store.jobs(JobQuery(app: app.name, status: .running, limit: 1)).isEmpty) == false {
            heldUntil[app.name] = now().addingTimeInterval(5)
            return
        }
        heldUntil[app.name] = nil
        let observed = takeChanges(of: app.name)
        guard !observed.isEmpty, let record = await turn(of: app, unlessReconciledSince: nil) else { return }
        defer { metrics?.watchCheck(objects: observed.count) }
        var status = Self.decodeStatus(record.status) ?? statuses[app.name] ?? AppStatus(app: app.name)
        let deployment: DeploymentRecord?
        do {
            deployment = try await store.lastDeployment(app: app.name, healthyOnly: true)
        } catch {
            await endTurn(record, app: app)
            return
        }
        guard let deployment, status.deployedCommit == deployment.commit else {
            // Not checked in full yet, or a new revision since: the full check comes first.
            await endTurn(record, app: app)
            if deployment != nil { checkInFull(app.name) }
            return
        }
        schedule.restoreCorrections(app.name, count: record.corrections, nextAllowed: record.nextCorrectionAllowed)
        let manifests = Manifest.stored(deployment.manifests, commit: deployment.commit)
        let toCheck = observed.filter { $0.change == .drift || $0.live == nil }
        var states: [DriftReport.ObjectState] = observed.compactMap { change -> DriftReport.ObjectState? in
            guard change.change == .health, let live = change.live, status.objectHealth[change.reference.description] != nil else { return nil }
            let drift = status.drifted.first { $0.object == change.reference.description }
            return DriftReport.ObjectState(object: change.reference.description, applied: true, drift: drift, health: DriftDetector.healthText(live))
        }
        if !toCheck.isEmpty {
            let client = admin.impersonating(target.impersonatedUser)
            let applySetID = Deployer.applySetID(app: app.name, namespace: target.namespace)
            do {
                states += try await withDeadline(settings.clusterTimeout) {
                    try await DriftDetector(client: client).check(toCheck.map { DriftDetector.Observed(reference: $0.reference, live: $0.live) },
                                                                  desired: manifests, applySetID: applySetID, defaultNamespace: target.namespace)
                }
            } catch {
                // The periodic check will look at the whole app.
                logger.warning("checking the changed objects failed", metadata: ["app": "\(app.name)", "error": "\(error)"])
                await endTurn(record, app: app)
                return
            }
        }
        let report = status.report.updating(states)
        status.apply(report, deployed: deployment.commit)
        status.deployedCommit = deployment.commit
        await correctDrift(app: app, target: target, report: report, deployed: deployment.commit, status: &status)
        status.nextCorrectionAt = schedule.nextCorrection(app.name)
        statuses[app.name] = status
        metrics?.appStatus(app: app.name, sync: status.sync.rawValue, health: status.health, drifted: status.drifted.count)
        if !report.inSync {
            logger.info("drift seen by the watch", metadata: ["app": "\(app.name)", "objects": "\(states.compactMap(\.drift).map(\.object))"])
        }
        // The status changes, not when the app was last reconciled in full (so the periodic
        // check, and its branch read, keep their pace).
        await endTurn(record, app: app)
    }

    /// Makes an app due now for a full check, even if it had one in the last half interval.
    func checkInFull(_ app: String) {
        schedule.refresh(app, now: now())
        fullCheckWanted.insert(app)
        wakeup.yield()
    }

    @discardableResult
    private func takeChanges(of app: String) -> [ObservedChange] {
        changedOrder.removeAll { $0 == app }
        return changed.removeValue(forKey: app).map { Array($0.values) } ?? []
    }
}
