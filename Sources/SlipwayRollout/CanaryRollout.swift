public import Foundation
public import SlipwayCore
public import SlipwayDeploy
public import SlipwayKube

/// Runs a rollout's steps against the cluster: the canary Deployment scaled to each weight
/// and waited healthy, pauses, analyses; then promotion (the stable Deployment gets the new
/// template, the canary goes) or abort (the canary goes, the stable Deployment gets its
/// replicas back; its template was never touched).
public struct CanaryRollout: Sendable {
    public enum Outcome: Sendable, Equatable {
        case promoted
        /// Stopped before promotion; the stable pods run the old template.
        case aborted(String)
        /// The stable Deployment got the new template and did not become healthy.
        case promotionFailed(String)
    }

    public let spec: RolloutSpec
    /// The target as planned (namespace filled in, ApplySet label on).
    public let target: Manifest
    public let client: KubeClient
    public let applySetID: String
    /// How long each weight may take to become healthy.
    public let wait: Duration
    public let prometheus: PrometheusQuery?
    public let control: RolloutControl
    /// How often pauses and waits look for a promotion or an abort.
    public var pollInterval: Duration

    public init(spec: RolloutSpec, target: Manifest, client: KubeClient, applySetID: String, wait: Duration, prometheus: PrometheusQuery?,
                control: RolloutControl, pollInterval: Duration = .seconds(1)) {
        self.spec = spec
        self.target = target
        self.client = client
        self.applySetID = applySetID
        self.wait = wait
        self.prometheus = prometheus
        self.control = control
        self.pollInterval = pollInterval
    }

    public typealias Log = @Sendable (String) async -> Void

    var canaryReference: ObjectReference {
        ObjectReference(apiVersion: target.apiVersion, kind: target.kind, namespace: target.namespace, name: CanaryTrack.canaryName(of: target.name))
    }

    /// What a deploy does with the rollout's target.
    public enum Need: Sendable, Equatable {
        /// Nothing of it is live yet: applied whole.
        case firstDeploy
        /// Its pod template is what runs: applied whole (replicas and all).
        case unchanged
        /// A new pod template: rolled out progressively.
        case rollout
    }

    /// Whether the target needs a progressive rollout: it is live and the pod template
    /// Slipway's apply would give it differs from the running one (a server dry-run, so
    /// defaults never count as a change).
    public static func need(for target: Manifest, client: KubeClient) async throws(DeployError) -> Need {
        do {
            guard let live = try await client.get(apiVersion: target.apiVersion, kind: target.kind, namespace: target.namespace, name: target.name) else {
                return .firstDeploy
            }
            let dryRun = try await client.apply(target.object, fieldManager: Deployer.fieldManager, force: true, dryRun: true)
            return dryRun[path: ["spec", "template"]] == live[path: ["spec", "template"]] ? .unchanged : .rollout
        } catch {
            throw DeployError("reading \(target.reference) for its rollout: \(error)")
        }
    }

    /// Deletes a canary an earlier rollout left (its Slipway stopped between promotion and
    /// the canary's deletion); says so when there was one.
    public static func removeLeftoverCanary(of target: Manifest, client: KubeClient, log: Log) async {
        let name = CanaryTrack.canaryName(of: target.name)
        do {
            guard let live = try await client.get(apiVersion: target.apiVersion, kind: target.kind, namespace: target.namespace, name: name),
                  live[path: ["metadata", "labels", CanaryTrack.canaryOfLabel]]?.stringValue == target.name else { return }
            if try await client.delete(apiVersion: target.apiVersion, kind: target.kind, namespace: target.namespace, name: name, propagation: "Background") {
                await log("deleted \(target.kind)/\(name), a canary an earlier rollout left behind")
            }
        } catch {
            await log("a leftover canary \(target.kind)/\(name) could not be removed: \(error)")
        }
    }

    /// Runs the steps from `state.step` (0 for a new rollout; a stored state continues where
    /// it stood, its pause end and measurements kept), then promotes.
    public func run(_ state: inout RolloutState, log: @escaping Log) async -> Outcome {
        let total = spec.steps.count
        while state.step < total {
            let index = state.step
            if let why = await stopReason() { return await abort(&state, why: why, log: log) }
            let step = spec.steps[index]
            await log("rollout step \(index + 1)/\(total): \(step)")
            switch step {
            case .weight(let weight):
                let canary = RolloutSpec.canaryReplicas(of: state.replicas, weight: weight)
                state.phase = .progressing
                state.weight = weight
                state.canaryReplicas = canary
                state.stableReplicas = state.replicas - canary
                state.message = "the canary at \(weight)%: \(canary) of \(state.replicas) pods"
                await save(&state)
                let stable = state.replicas - canary
                switch await untilStopped({ () throws(DeployError) in try await scale(canary: canary, stable: stable, log: log) }) {
                case .done: break
                case .stopped(let why): return await abort(&state, why: why, log: log)
                case .failed(let why): return await abort(&state, why: "weight \(weight)%: \(why)", log: log)
                }
            case .pause(let duration):
                let end = state.pauseEndsAt ?? Date().addingTimeInterval(duration.seconds)
                state.phase = .paused
                state.pauseEndsAt = end
                state.message = "paused until \(Self.clock(end)) UTC, or until promoted"
                await save(&state)
                await log("paused for \(DurationText.short(duration)) (slipway rollout promote \(state.app) ends the pause now)")
                if let why = await pause(until: end, log: log) { return await abort(&state, why: why, log: log) }
                state.pauseEndsAt = nil
            case .pauseUntilPromoted:
                state.phase = .paused
                state.message = "paused until promoted (slipway rollout promote \(state.app))"
                await save(&state)
                await log("paused until promoted: slipway rollout promote \(state.app), or the Promote button on the app's page")
                if let why = await pause(until: nil, log: log) { return await abort(&state, why: why, log: log) }
            case .analysis(let name):
                state.phase = .analysing
                state.message = "analysis \(name)"
                await save(&state)
                if let why = await analyse(name, step: index, state: &state, log: log) { return await abort(&state, why: why, log: log) }
            }
            state.step = index + 1
            await save(&state)
        }
        return await promote(&state, log: log)
    }

    // MARK: Steps

    /// The canary applied at `canary` pods and waited healthy, then the stable Deployment
    /// scaled to `stable` and waited healthy: capacity first grows, then shrinks.
    private func scale(canary: Int, stable: Int, log: @escaping Log) async throws(DeployError) {
        let object = CanaryTrack.canary(of: target, replicas: canary)
        do {
            let live = try await client.apply(object, fieldManager: Deployer.fieldManager, force: true, onRetry: log)
            await log("applied \(canaryReference) with \(canary) replica(s) (resourceVersion \(live[path: ["metadata", "resourceVersion"]]?.stringValue ?? "?"))")
        } catch {
            throw DeployError("applying the canary \(canaryReference) failed: \(error)")
        }
        try await HealthWait(client: client, labelSelector: "\(CanaryTrack.canaryOfLabel)=\(target.name)", retryInterval: pollInterval)
            .run([canaryReference], timeout: wait, what: "the canary", log: log)
        try await scaleStable(to: stable, log: log)
    }

    /// Sets the stable Deployment's replicas (a merge patch of `spec.replicas` only, so
    /// nothing else of it changes) and waits until it is healthy.
    private func scaleStable(to replicas: Int, log: @escaping Log) async throws(DeployError) {
        do {
            let live = try await client.get(apiVersion: target.apiVersion, kind: target.kind, namespace: target.namespace, name: target.name)
            guard let live else { throw DeployError("\(target.reference) is gone") }
            if live[path: ["spec", "replicas"]]?.intValue != Int64(replicas) {
                let patched = try await client.mergePatch(apiVersion: target.apiVersion, kind: target.kind, namespace: target.namespace, name: target.name,
                                                          ["spec": ["replicas": .int(Int64(replicas))]], fieldManager: CanaryTrack.fieldManager)
                await log("scaled the stable \(target.reference) to \(replicas) replica(s) (resourceVersion \(patched[path: ["metadata", "resourceVersion"]]?.stringValue ?? "?"))")
            }
        } catch let error as DeployError {
            throw error
        } catch {
            throw DeployError("scaling the stable \(target.reference) failed: \(error)")
        }
        try await Deployer(client: client, pollInterval: pollInterval)
            .waitUntilHealthy([target.reference], applySetID: applySetID, timeout: wait, what: "the stable track", log: log)
    }

    /// Waits until `end` (nil: no end) or a promotion; the reason when the rollout must stop.
    private func pause(until end: Date?, log: Log) async -> String? {
        while true {
            if Task.isCancelled { return Self.stopped }
            let asked = await control.requests()
            if let why = asked.stop { return why }
            if let who = asked.promotedBy {
                await control.usePromotion()
                await log("promoted by \(who): the pause ends")
                return nil
            }
            if let end, Date() >= end {
                await log("the pause is over")
                return nil
            }
            try? await Task.sleep(for: pollInterval)
        }
    }

    /// Takes the analysis' measurements (those already stored for this step count); the
    /// reason when it failed or the rollout must stop.
    private func analyse(_ name: String, step: Int, state: inout RolloutState, log: Log) async -> String? {
        guard let analysis = spec.analyses[name] else { return "analysis \(name) is not defined" }
        guard let prometheus else { return "analysis \(name) needs a metrics provider, and the app has none" }
        var taken = state.measurements.filter { $0.step == step && $0.analysis == name }
        await log("analysis \(name): \(analysis.count) measurement(s) every \(DurationText.short(analysis.interval)) of \(analysis.query), success \(analysis.success), \(analysis.failureLimit) failure(s) tolerated"
                  + (taken.isEmpty ? "" : "; \(taken.count) taken before"))
        var next = taken.last.map { $0.time.addingTimeInterval(analysis.interval.seconds) } ?? Date()
        while taken.count < analysis.count {
            while Date() < next {
                if let why = await stopReason() { return why }
                try? await Task.sleep(for: min(pollInterval, .milliseconds(Int64(max(1, next.timeIntervalSinceNow * 1000)))))
            }
            if let why = await stopReason() { return why }
            let time = Date()
            next = time.addingTimeInterval(analysis.interval.seconds)
            let measurement: AnalysisMeasurement
            switch await prometheus.value(analysis.query, timeout: analysis.interval) {
            case .success(let value):
                let met = analysis.success.holds(for: value)
                measurement = AnalysisMeasurement(analysis: name, step: step, time: time, value: value, result: met ? .successful : .failed,
                                                  note: met ? nil : "\(DurationText.number(value)) does not meet \(analysis.success)")
            case .failure(let problem):
                measurement = AnalysisMeasurement(analysis: name, step: step, time: time, value: nil, result: .error, note: problem.description)
            }
            taken.append(measurement)
            state.measurements.append(measurement)
            await save(&state)
            await control.measured(measurement)
            let failures = taken.filter(\.counted).count
            let shown = measurement.value.map(DurationText.number) ?? "no value"
            await log("analysis \(name): measurement \(taken.count)/\(analysis.count): \(shown): \(measurement.result.rawValue)"
                      + (measurement.note.map { " (\($0))" } ?? "") + "; \(failures) failed so far, \(analysis.failureLimit) tolerated")
            if failures > analysis.failureLimit {
                return "analysis \(name) failed: \(failures) of \(taken.count) measurement(s) failed, \(analysis.failureLimit) tolerated; last: \(measurement.note ?? shown)"
            }
        }
        await log("analysis \(name) passed: \(taken.filter { !$0.counted }.count) of \(taken.count) measurement(s) met \(analysis.success)")
        return nil
    }

    // MARK: Endings

    private func promote(_ state: inout RolloutState, log: @escaping Log) async -> Outcome {
        state.phase = .promoting
        state.message = "promoting: \(target.reference) gets the new template"
        await save(&state)
        await log("promoting: \(target.reference) gets the new template at \(state.replicas) replica(s), then the canary goes")
        do {
            let live = try await client.apply(target.object, fieldManager: Deployer.fieldManager, force: true, onRetry: log)
            await log("applied \(target.reference) (resourceVersion \(live[path: ["metadata", "resourceVersion"]]?.stringValue ?? "?"))")
            try await Deployer(client: client, pollInterval: pollInterval)
                .waitUntilHealthy([target.reference], applySetID: applySetID, timeout: wait, what: "the promoted \(target.reference)", log: log)
        } catch {
            // The new template failed on the stable track too: the canary's pods run it as well.
            await deleteCanary(log: log)
            let why = "the promotion failed: \(error)"
            state.phase = .aborted
            state.message = why
            await save(&state)
            return .promotionFailed(why)
        }
        await deleteCanary(log: log)
        state.phase = .promoted
        state.weight = 100
        state.canaryReplicas = 0
        state.stableReplicas = state.replicas
        state.message = "promoted: every pod runs \(state.commit.prefix(12))"
        await save(&state)
        await log("rollout promoted: \(target.reference) runs \(state.commit.prefix(12)) on all \(state.replicas) replica(s)")
        return .promoted
    }

    /// The stable Deployment back to its replicas, the canary deleted. Runs to its end even
    /// when the job was cancelled (a cancelled task's requests would fail at once).
    private func abort(_ state: inout RolloutState, why: String, log: @escaping Log) async -> Outcome {
        await log("rollout aborted: \(why)")
        let replicas = state.replicas
        let cleanup = Task { [self] in
            do throws(DeployError) {
                try await scaleStable(to: replicas, log: log)
            } catch {
                await log("the stable \(target.reference) did not come back to \(replicas) healthy replica(s): \(error)")
            }
            await deleteCanary(log: log)
        }
        await cleanup.value
        state.phase = .aborted
        state.weight = 0
        state.canaryReplicas = 0
        state.stableReplicas = replicas
        state.pauseEndsAt = nil
        state.message = "aborted: \(why)"
        await save(&state)
        return .aborted(why)
    }

    private func deleteCanary(log: Log) async {
        do {
            if try await client.delete(apiVersion: target.apiVersion, kind: target.kind, namespace: target.namespace, name: canaryReference.name,
                                       propagation: "Background") {
                await log("deleted the canary \(canaryReference)")
            }
        } catch {
            await log("the canary \(canaryReference) could not be deleted: \(error); delete it by hand")
        }
    }

    // MARK: Helpers

    private enum StepEnd: Sendable {
        case done
        case stopped(String)
        case failed(String)
    }

    /// Runs `body` while looking for a reason to stop; a stop cancels it.
    private func untilStopped(_ body: @escaping @Sendable () async throws(DeployError) -> Void) async -> StepEnd {
        await withTaskGroup(of: StepEnd?.self) { group in
            group.addTask {
                do throws(DeployError) {
                    try await body()
                    return .done
                } catch {
                    return .failed(error.description)
                }
            }
            group.addTask { [self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: pollInterval)
                    if Task.isCancelled { return nil }
                    if let why = await stopReason() { return .stopped(why) }
                }
                return nil
            }
            var end: StepEnd = .done
            for await result in group {
                if let result {
                    end = result
                    break
                }
            }
            group.cancelAll()
            return end
        }
    }

    static let stopped = "the job was stopped"

    private func stopReason() async -> String? {
        if Task.isCancelled { return Self.stopped }
        return await control.requests().stop
    }

    private func save(_ state: inout RolloutState) async {
        state.updatedAt = Date()
        await control.save(state)
    }

    private static func clock(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "HH:mm:ss"
        return formatter.string(from: date)
    }
}
