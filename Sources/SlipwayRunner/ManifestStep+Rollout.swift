import AsyncHTTPClient
import Foundation
import SlipwayCore
import SlipwayDeploy
import SlipwayKube
import SlipwayRollout
import SlipwayStore

extension ManifestStep {
    /// Runs the target's progressive rollout, its state kept in the store: the job's next
    /// attempt (its replica died, or it was taken over) continues where the state stands, its
    /// pause end and measurements kept; any other job starts from the live state, reusing
    /// (rescaling) the canary Deployment there is, never making a second one.
    func runRollout(_ spec: RolloutSpec, target: Manifest, job: Job, app: AppConfig, client: KubeClient, options: Deployer.Options,
                    wait: Duration, stopRequested: @escaping @Sendable () async -> Bool,
                    say: @escaping @Sendable (String) async -> Void) async -> CanaryRollout.Outcome {
        let store = self.store, metrics = self.metrics, waiting = self.rolloutWaiting
        var state: RolloutState
        if var stored = try? await store.rollout(app: app.name)?.state, stored.isActive, stored.commit == job.commit,
           stored.jobID == job.id || stored.jobID == job.retryOf {
            let previous = stored.jobID
            stored.jobID = job.id
            state = stored
            await say("rollout of \(target.reference) continues at step \(min(stored.step + 1, stored.steps.count))/\(stored.steps.count) (\(stored.phase.rawValue)), as job \(previous) left it")
        } else {
            state = RolloutState(app: app.name, jobID: job.id, commit: job.commit, target: spec.target, namespace: target.namespace ?? "",
                                 steps: spec.steps.map(\.description), replicas: CanaryTrack.replicas(of: target), now: Date())
            state.analyses = spec.analyses.mapValues(\.success.description)
            await say("rollout of \(target.reference): \(spec.steps.count) steps (\(state.steps.joined(separator: ", "))) over \(state.replicas) replica(s)")
        }
        let appName = app.name, jobID = job.id
        let newerPushes = Throttle(every: .seconds(5))
        let control = RolloutControl(
            save: { state in
                do {
                    try await store.saveRollout(state)
                } catch {
                    await say("the rollout's state could not be stored (\(error)); a replica taking the job over would start it again")
                }
                metrics?.rolloutStep(app: appName, step: state.isActive ? state.step + 1 : 0)
                await waiting(jobID, state.phase == .paused || state.phase == .analysing)
            },
            requests: {
                if await stopRequested() { return RolloutControl.Requests(stop: "the job was cancelled") }
                guard let record = try? await store.rolloutRequests(app: appName), record.jobID == jobID else { return RolloutControl.Requests() }
                if let who = record.abortRequestedBy { return RolloutControl.Requests(stop: "aborted by \(who)") }
                // A newer push is looked for every few seconds, not on every look.
                if await newerPushes.isDue(), let newer = try? await store.jobs(JobQuery(app: appName, status: .queued, deploysOnly: true, limit: 1)).first,
                   newer.id > jobID {
                    return RolloutControl.Requests(stop: "a newer push (job \(newer.id), commit \(newer.commit.prefix(12))) is queued")
                }
                return RolloutControl.Requests(promotedBy: record.promoteRequestedBy)
            },
            usePromotion: { try? await store.consumePromotion(app: appName, jobID: jobID) },
            measured: { measurement in metrics?.measured(measurement.result) })
        let prometheus = app.metricsProvider.map { PrometheusQuery(provider: $0, client: HTTPClient.shared) }
        let runner = CanaryRollout(spec: spec, target: target, client: client, applySetID: options.applySetID, wait: wait, prometheus: prometheus,
                                   control: control, pollInterval: pollInterval)
        let outcome = await runner.run(&state, log: say)
        await waiting(jobID, false)
        return outcome
    }
}
