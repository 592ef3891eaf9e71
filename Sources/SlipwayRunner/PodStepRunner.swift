import Foundation
import SlipwayConfig
import SlipwayCore
import SlipwayKube
import SlipwayStore

/// Runs a job's build and test steps as one pod on the cluster of `runner.kubernetes`: makes
/// its Secret, Pod and (without network) NetworkPolicy, follows each container's log into the
/// job log as it runs, records each step from its container's state, and deletes the pod when
/// the steps end, time out, are cancelled or the job stops. What it sends is the recorded
/// traffic of workloads 110–176: apply, watch by label, `pods/log` with `follow`, DELETE.
struct PodStepRunner: Sendable {
    let client: KubeClient
    let settings: KubernetesExecutorSettings
    let store: any JobStore
    let killGrace: Duration
    /// How often cancel and timeouts are looked at while the pod runs.
    let pollInterval: Duration
    /// `https://host:port`: where pods fetch workspaces.
    let serverURL: String
    /// The server's own certificate when it is self-signed (read at each run: the server
    /// writes it at its first start, after the runner is made).
    let serverCertificatePath: String?

    /// How the pod's steps ended.
    enum Outcome {
        case succeeded
        case failed(JobRunner.PlannedStep, String)
        /// Cancel, shutdown or a lost lease: the pod was deleted.
        case stopped
        /// The pod went away without Slipway asking (deleted by someone, node lost): the job
        /// is interrupted and its next attempt runs.
        case interrupted(String)
    }

    enum Event: Sendable {
        case pod(JSONValue)
        case gone
        case tick
        /// A container's followed log ended; `end`: where the log read so far ends.
        case logEnded(container: Int, end: LogPosition?, error: KubeError?)
    }

    func run(_ steps: [JobRunner.PlannedStep], pipelineImage: String?, job: Job, app: AppConfig, environment: [String: String],
             secretEnvironment: [String: String], secrets: [String], log: LogSink,
             stopRequested: @escaping @Sendable () async -> StopReason?, say: (String) async -> Void) async -> Outcome {
        guard let first = steps.first else { return .succeeded }
        let token = JobToken.make()
        let jobPod = JobPod(JobPod.Inputs(
            job: job, app: app, steps: steps.map(\.spec), pipelineImage: pipelineImage, settings: settings, killGrace: killGrace,
            plainEnvironment: environment, secretEnvironment: secretEnvironment, token: token,
            workspaceURL: "\(serverURL)/api/v1/jobs/\(job.id)/workspace",
            serverCertificate: serverCertificatePath.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) },
            serverAddress: app.network && steps.allSatisfy(\.spec.network) ? nil : Self.address(of: serverURL)))

        // 1. No pod of an earlier attempt (or an ended job of the app) may still run.
        do {
            let fenced = try await PodJanitor(client: client, settings: settings, store: store, killGrace: killGrace)
                .fence(app: app.name, keeping: job.id)
            if fenced > 0 { await say("deleted \(fenced) pod(s) of earlier jobs or attempts of \(app.name) before this one starts") }
        } catch {
            return .failed(first, "could not start: cannot remove the pods of earlier jobs or attempts in namespace \(settings.namespace): \(error)")
        }

        // 2. The token, the Secret, the Pod, then the Secret and policy made the pod's.
        let lifetime = steps.reduce(Duration.seconds(3600)) { $0 + $1.spec.timeout * ($1.spec.retries + 1) }
        let session = WebSession(digest: JobToken.digest(token), tokenName: JobToken.sessionName(job: job.id), csrfToken: "",
                                 createdAt: Date(), expiresAt: Date().addingTimeInterval(Double(lifetime.components.seconds)))
        let created: JSONValue
        do {
            try await store.createSession(session, now: Date())
            _ = try await client.apply(jobPod.secret, fieldManager: "slipway", force: true)
            created = try await client.apply(jobPod.pod, fieldManager: "slipway", force: true)
            let uid = created[path: ["metadata", "uid"]]?.stringValue ?? ""
            _ = try await client.apply(jobPod.ownedByPod(jobPod.secret, uid: uid), fieldManager: "slipway", force: true)
            if let policy = jobPod.networkPolicy {
                _ = try await client.apply(jobPod.ownedByPod(policy, uid: uid), fieldManager: "slipway", force: true)
            }
        } catch {
            await cleanUp(jobPod, session: session.digest)
            return .failed(first, "could not start: the job's pod could not be created in namespace \(settings.namespace): \(error)")
        }
        await say("pod \(settings.namespace)/\(jobPod.name) created: \(steps.count) step(s) after the workspace fetch")

        let (events, sink) = AsyncStream<Event>.makeStream()
        let watcher = Task { await watch(jobPod, from: created, into: sink) }
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: pollInterval)
                sink.yield(.tick)
            }
        }
        var run = Progress(jobPod: jobPod, steps: steps, latest: created)
        let outcome = await drive(&run, events: events, sink: sink, job: job, secrets: secrets, log: log, stopRequested: stopRequested, say: say)
        watcher.cancel()
        ticker.cancel()
        run.follower?.cancel()
        sink.finish()
        await cleanUp(jobPod, session: session.digest, podDeleted: run.deleteRequested)
        return outcome
    }

    /// Where the pod run stands.
    struct Progress {
        let jobPod: JobPod
        let steps: [JobRunner.PlannedStep]
        var latest: JSONValue
        /// Index into `jobPod.containers`: 0 the fetch, then the steps.
        var current = 0
        var follower: Task<Void, Never>?
        var logDone = false
        /// A log stream ended while the container still ran (a proxy cut it, or the
        /// container is ending): read on from the last line when the status says it ended,
        /// or after a second.
        var refollowAt: ContinuousClock.Instant?
        /// Where the log read so far ends: the last line's time and how many lines had that
        /// very time (a kubelet may stamp several lines alike), for a stream read on.
        var logEnd: LogPosition?
        /// Since when the current container's time counts (its timeout includes its image pull).
        var clockStarted = ContinuousClock.now
        var startedAt = ContinuousClock.now
        var recordedRunning = false
        var deleteRequested = false
        var toldUnschedulable = false

        var step: JobRunner.PlannedStep? { current >= 1 && current <= steps.count ? steps[current - 1] : nil }
        var containerName: String { jobPod.containers[current] }
        var label: String { step.map { "\($0.stage)/\($0.spec.name)" } ?? JobPod.fetchContainer }
    }

    private func drive(_ run: inout Progress, events: AsyncStream<Event>, sink: AsyncStream<Event>.Continuation, job: Job, secrets: [String],
                       log: LogSink, stopRequested: @escaping @Sendable () async -> StopReason?, say: (String) async -> Void) async -> Outcome {
        for await event in events {
            switch event {
            case .pod(let pod):
                run.latest = pod
            case .gone:
                guard !run.deleteRequested else { return .stopped }
                let why = "the job's pod \(settings.namespace)/\(run.jobPod.name) was deleted while step \(run.label) ran (by someone else, or its node was lost)"
                await end(&run, job: job, status: .failed, message: "interrupted: the pod was deleted", say: say)
                await say(why + ": the job is interrupted and its next attempt will run")
                return .interrupted(why)
            case .tick:
                if let reason = await stopRequested() {
                    await deletePod(&run)
                    let message = "\(reason == .cancelled ? "cancelled" : "stopped"): the pod was deleted with a grace period of \(killGrace)"
                    await end(&run, job: job, status: reason == .cancelled ? .cancelled : .failed, message: message, say: say)
                    await say("step \(run.label) \(message)")
                    return .stopped
                }
                // The fetch counts toward the first step's time (it is that step's start).
                let step = run.step ?? run.steps[0]
                if ContinuousClock.now - run.clockStarted > step.spec.timeout * (step.spec.retries + 1) {
                    await deletePod(&run)
                    let message = "timed out after \(step.spec.timeout * (step.spec.retries + 1)): the pod was deleted with a grace period of \(killGrace)"
                    await end(&run, job: job, status: .timedOut, message: message, say: say)
                    return .failed(step, message)
                }
            case .logEnded(let container, let end, let error):
                guard container == run.current else { continue }
                run.follower = nil
                run.logEnd = end ?? run.logEnd
                if let error {
                    // Not yet started (a race with the status) or a broken stream: read on
                    // from the last line seen, unless the container has ended meanwhile.
                    if case .terminated = ContainerState.of(run.containerName, in: run.latest), error.code == 404 { run.logDone = true } else {
                        try? await Task.sleep(for: .milliseconds(200))
                        follow(&run, log: log, secrets: secrets, sink: sink)
                        continue
                    }
                } else if case .terminated = ContainerState.of(run.containerName, in: run.latest) {
                    run.logDone = true
                } else {
                    run.refollowAt = .now + .seconds(1)
                }
            }
            if let outcome = await advance(&run, job: job, log: log, secrets: secrets, sink: sink, say: say) { return outcome }
        }
        return .stopped
    }

    /// Moves on as far as the pod's state allows; an outcome when the steps have ended.
    private func advance(_ run: inout Progress, job: Job, log: LogSink, secrets: [String], sink: AsyncStream<Event>.Continuation,
                         say: (String) async -> Void) async -> Outcome? {
        // Deleted or evicted without Slipway asking: the job is interrupted, as by a crash.
        if !run.deleteRequested, let why = ContainerState.podTakenAway(run.latest) {
            run.deleteRequested = true
            await end(&run, job: job, status: .failed, message: "interrupted: \(why)", say: say)
            let reason = "the job's pod \(settings.namespace)/\(run.jobPod.name) \(why) while step \(run.label) ran"
            await say(reason + ": the job is interrupted and its next attempt will run")
            return .interrupted(reason)
        }
        while run.current < run.jobPod.containers.count {
            let state = ContainerState.of(run.containerName, in: run.latest)
            let image = Self.image(of: run.containerName, in: run.jobPod.pod)
            if let failure = state?.startFailure(image: image) ?? (state?.hasStarted == true ? nil : ContainerState.podFailure(run.latest)) {
                await deletePod(&run)
                return await fail(&run, job: job, exitCode: nil, message: failure, say: say)
            }
            if !run.toldUnschedulable, let reason = ContainerState.unschedulable(run.latest) {
                run.toldUnschedulable = true
                await say("pod \(run.jobPod.name) waits for a node: \(reason)")
            }
            guard let state, state.hasStarted else { return nil }
            if !run.recordedRunning {
                run.recordedRunning = true
                run.startedAt = .now
                if let step = run.step {
                    try? await store.updateStep(job.id, index: step.index, status: .running)
                    await say("step \(run.label) started (image \(image))")
                }
            }
            if run.follower == nil && !run.logDone {
                var ended = false
                if case .terminated = state { ended = true }
                if ended || (run.refollowAt.map { ContinuousClock.now >= $0 } ?? true) {
                    run.refollowAt = nil
                    follow(&run, log: log, secrets: secrets, sink: sink)
                }
            }
            guard case .terminated(let code, _, _) = state, run.logDone else { return nil }
            // A pod past its deadline or evicted says why better than its container's 137.
            let message = ContainerState.podFailure(run.latest) ?? state.endMessage(memoryLimit: run.step?.spec.resources?.memory)
            guard code == 0 else {
                await deletePod(&run)
                return await fail(&run, job: job, exitCode: code, message: message, say: say)
            }
            if let step = run.step {
                try? await store.updateStep(job.id, index: step.index, status: .succeeded, exitCode: 0)
                await say("step \(run.label) succeeded in \((ContinuousClock.now - run.startedAt).components.seconds)s")
            }
            await log.flush()
            run.current += 1
            run.logDone = false
            run.logEnd = nil
            run.recordedRunning = false
            if run.current > 1 { run.clockStarted = .now }
        }
        return .succeeded
    }

    /// The current container failed: its step (the first step, for the fetch) is recorded
    /// as failed and the rest skipped.
    private func fail(_ run: inout Progress, job: Job, exitCode: Int?, message: String?, say: (String) async -> Void) async -> Outcome {
        let step = run.step ?? run.steps[0]
        let what = run.step == nil ? "could not start: the workspace could not be fetched into the pod" : nil
        let detail = [what, exitCode.map { "exit code \($0)" }, message].compactMap { $0 }.joined(separator: ": ")
        await end(&run, job: job, status: .failed, message: message ?? what, exitCode: exitCode, say: say)
        let why: String
        if run.step == nil {
            why = detail
        } else if let exitCode {
            why = "failed with exit code \(exitCode)" + (message.map { ": \($0)" } ?? "")
        } else {
            why = "could not start: \(message ?? "unknown")"
        }
        await say("step \(run.label) \(why)")
        return .failed(step, why)
    }

    /// Records the current step's end and skips the ones after it.
    private func end(_ run: inout Progress, job: Job, status: StepStatus, message: String?, exitCode: Int? = nil, say: (String) async -> Void) async {
        let current = run.step ?? run.steps[0]
        if !run.recordedRunning { try? await store.updateStep(job.id, index: current.index, status: .running) }
        try? await store.updateStep(job.id, index: current.index, status: status, exitCode: exitCode, message: message)
        for step in run.steps where step.index > current.index {
            try? await store.updateStep(job.id, index: step.index, status: .skipped)
        }
    }

    private func deletePod(_ run: inout Progress) async {
        guard !run.deleteRequested else { return }
        run.deleteRequested = true
        _ = try? await client.delete(apiVersion: "v1", kind: "Pod", namespace: settings.namespace, name: run.jobPod.name,
                                     propagation: "Background", gracePeriod: killGrace)
    }

    /// The pod (and the Secret with it) deleted, the token forgotten.
    private func cleanUp(_ jobPod: JobPod, session: String, podDeleted: Bool = false) async {
        try? await store.deleteSession(digest: session)
        if !podDeleted {
            _ = try? await client.delete(apiVersion: "v1", kind: "Pod", namespace: jobPod.namespace, name: jobPod.name, propagation: "Background")
        }
        // Owned by the pod, the cluster removes it with the pod; this covers a pod never made.
        _ = try? await client.delete(apiVersion: "v1", kind: "Secret", namespace: jobPod.namespace, name: jobPod.name, propagation: "Background")
    }

    /// A job's variables split for its pod: Slipway's own (the workspace at the mount path),
    /// which the pod's spec shows, and the app's secrets and passed server variables, which
    /// only the job's Secret holds. The server's PATH and HOME are not the image's.
    static func environment(_ environment: [String: String], app: AppConfig) -> (plain: [String: String], hidden: [String: String]) {
        let isHidden = { (name: String) in app.secrets[name] != nil || app.passEnvironment.contains(name) }
        var plain = environment.filter { $0.key.hasPrefix("SLIPWAY_") && !isHidden($0.key) }
        plain["SLIPWAY_WORKSPACE"] = JobPod.workspacePath
        return (plain, environment.filter { isHidden($0.key) })
    }

    private static func image(of container: String, in pod: JSONValue) -> String {
        let all = (pod[path: ["spec", "initContainers"]]?.arrayValue ?? []) + (pod[path: ["spec", "containers"]]?.arrayValue ?? [])
        return all.first { $0["name"]?.stringValue == container }?["image"]?.stringValue ?? "?"
    }
}
