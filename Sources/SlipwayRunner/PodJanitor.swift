import SlipwayConfig
import SlipwayCore
import SlipwayKube
import SlipwayStore

/// Keeps the builds namespace to the pods of running jobs: a pod whose job has ended, was
/// interrupted or was taken over by another attempt is deleted (fencing, as the process
/// reaper does for local steps), before the next attempt starts and on every lease round.
struct PodJanitor: Sendable {
    let client: KubeClient
    let settings: KubernetesExecutorSettings
    let store: any JobStore
    let killGrace: Duration

    /// Deletes the app's pods of jobs other than `keeping` that are not running, and waits
    /// until they are gone (their containers stopped). Returns how many there were.
    func fence(app: String, keeping job: JobID) async throws(KubeError) -> Int {
        let selector = "\(JobPod.appLabel)=\(JobPod.labelValue(app))"
        let stale = try await stalePods(selector: selector, keeping: job)
        guard !stale.isEmpty else { return 0 }
        for name in stale {
            try await client.delete(apiVersion: "v1", kind: "Pod", namespace: settings.namespace, name: name, propagation: "Background", gracePeriod: killGrace)
        }
        // The grace period, and as long again for the kubelet to report the containers gone.
        let deadline = ContinuousClock.now + killGrace * 2 + .seconds(30)
        while ContinuousClock.now < deadline {
            let left = try await client.list(apiVersion: "v1", kind: "Pod", namespace: settings.namespace, labelSelector: selector)
                .compactMap { $0[path: ["metadata", "name"]]?.stringValue }
            if Set(left).isDisjoint(with: stale) { return stale.count }
            try? await Task.sleep(for: .milliseconds(500))
        }
        throw .transport("pod(s) \(stale.joined(separator: ", ")) still exist \(killGrace * 2 + .seconds(30)) after their deletion")
    }

    /// Deletes every Slipway job pod of the namespace whose job is not running; returns their names.
    func sweep() async throws(KubeError) -> [String] {
        let stale = try await stalePods(selector: "\(JobPod.managedByLabel)=slipway,\(JobPod.jobLabel)", keeping: nil)
        for name in stale {
            try await client.delete(apiVersion: "v1", kind: "Pod", namespace: settings.namespace, name: name, propagation: "Background", gracePeriod: killGrace)
        }
        return stale
    }

    private func stalePods(selector: String, keeping: JobID?) async throws(KubeError) -> [String] {
        var stale: [String] = []
        for pod in try await client.list(apiVersion: "v1", kind: "Pod", namespace: settings.namespace, labelSelector: selector) {
            guard let name = pod[path: ["metadata", "name"]]?.stringValue,
                  let id = pod[path: ["metadata", "labels", JobPod.jobLabel]]?.stringValue.flatMap(JobID.init), id != keeping else { continue }
            // Already being deleted: only waited for.
            if pod[path: ["metadata", "deletionTimestamp"]] != nil && keeping == nil { continue }
            let job: Job?
            do {
                job = try await store.job(id: id)
            } catch {
                // A store that cannot answer now says nothing about the job: its pod stays.
                continue
            }
            if job?.status != .running { stale.append(name) }
        }
        return stale
    }
}
