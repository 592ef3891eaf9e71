import Foundation
import SlipwayConfig
import SlipwayCore
import SlipwayGit
import SlipwayStore

/// How a job run ended, before it is written to the store.
struct RunResult: Sendable, Equatable {
    var status: JobStatus
    var reason: String?
}

/// Runs one job from start to end: fetch, checkout, read the pipeline file, run the stages
/// and hooks, record every step.
struct JobRunner: Sendable {
    let store: any JobStore
    let mirrors: MirrorCache
    let executor: StepExecutor
    /// Where step processes are recorded as running.
    let host: HostIdentity
    let workspacesDir: String
    /// The server's own environment, from which only an app's `pass_env` names are taken.
    let serverEnvironment: [String: String]
    /// Applies the pipeline's `deploy:` block.
    var manifestStep: ManifestStep
    /// Where the server's pages are, for links to a job (`ServerConfig.baseURL`).
    let baseURL: String
    /// Where apps' build and test steps run unless an app says otherwise.
    var defaultExecutor: StepExecutorKind = .local
    /// Runs build and test steps as pods; nil when `runner.kubernetes` is not configured.
    var podRunner: PodStepRunner?

    /// A step planned for this job, with where it stands in the plan.
    struct PlannedStep {
        var stage: String
        var spec: StepSpec
        var index: Int
        /// Set for the step that applies the deploy block's manifests.
        var manifests: DeploySpec?
        var isFailureHook: Bool { stage == HookPoint.onFailure.rawValue }
    }

    func run(_ job: Job, app: AppConfig, stopRequested: @escaping @Sendable () async -> StopReason?) async -> RunResult {
        let log = LogSink(store: store, jobID: job.id)
        var result = await run(job, app: app, log: log, stopRequested: stopRequested)
        // A reason is stored and shown by the API: the app's secrets (which steps and render
        // commands see, so an error may quote one) are masked in it, as in the log.
        let masker = SecretMasker(secrets: app.secrets.values.map(\.value))
        result.reason = result.reason.map(masker.masking)
        // Every line is stored before the job is marked final, so a follower that sees the
        // end has seen the whole log.
        await log.flush()
        return result
    }

    private func run(_ job: Job, app: AppConfig, log: LogSink, stopRequested: @escaping @Sendable () async -> StopReason?) async -> RunResult {
        let secrets = app.secretValues
        let masker = SecretMasker(secrets: secrets)
        // Slipway's own lines are masked too: error messages may quote a URL with a token.
        func say(_ text: String) async {
            await log.line("slipway", masker.masking(text))
        }

        if job.trigger == .preview {
            return await preview(job, app: app, log: log, stopRequested: stopRequested)
        }
        if app.target != nil, let bad = try? await store.badCommit(app: app.name, commit: job.commit) {
            let reason = "commit \(job.commit.prefix(12)) was rolled back as bad by job \(bad.jobID) (\(bad.reason)); push a new commit"
            await say(reason)
            return RunResult(status: .failed, reason: reason)
        }
        if job.trigger == .selfHeal {
            try? await store.planSteps(job.id, steps: [StepPlan(stage: StageName.deploy.rawValue, name: "re-apply manifests")])
            try? await store.updateStep(job.id, index: 0, status: .running)
            let problem = await manifestStep.reapply(job: job, app: app) { line in await log.line("deploy/self-heal", masker.masking(line)) }
            try? await store.updateStep(job.id, index: 0, status: problem == nil ? .succeeded : .failed)
            await say(problem.map { "self-heal failed: \($0)" } ?? "self-heal succeeded")
            return RunResult(status: problem == nil ? .succeeded : .failed, reason: problem)
        }
        await say("job \(job.id): \(app.name) at \(job.commit) (\(job.ref), trigger \(job.trigger.rawValue)\(job.deliveryID.map { ", delivery \($0)" } ?? ""))")
        // Absolute, so SLIPWAY_WORKSPACE is a path a step can use from anywhere (data_dir may be relative).
        let workspace = Sandbox.absolute((workspacesDir as NSString).appendingPathComponent("\(app.name)-\(job.id)"))

        // 1. The commit, from the mirror.
        do {
            if let report = try await mirrors.ensure(commit: job.commit, in: app.repoURL, credentials: app.repositoryAuth) {
                await say(report.cloned
                    ? "cloned \(app.repoURL): \(report.receivedObjects) objects, \(report.receivedBytes / 1024) KiB"
                    : "fetched \(app.repoURL): \(report.receivedObjects) new objects, \(report.receivedBytes / 1024) KiB")
            } else {
                await say("commit \(job.commit.prefix(12)) already in the mirror; no fetch needed")
            }
            try? FileManager.default.removeItem(atPath: workspace)
            try await mirrors.checkout(app.repoURL, commit: job.commit, into: workspace)
            executor.sandbox.handOver(workspace)
        } catch {
            await say("error: \(error)")
            return RunResult(status: .failed, reason: "git: \(error)")
        }
        await log.flush()

        // 2. The pipeline file, from the checked-out commit.
        let pipeline: PipelineSpec
        switch Self.pipeline(of: app, in: workspace, commit: job.commit) {
        case .success(let spec):
            pipeline = spec
        case .failure(let problem):
            await say("error: \(problem.reason)")
            return RunResult(status: .failed, reason: problem.reason)
        }
        let executorKind = app.executor ?? defaultExecutor
        if let problem = pipeline.problem(on: executorKind, appNetwork: app.network, file: app.pipelinePath)
            ?? pipeline.rolloutProblem(metricsProvider: app.metricsProvider, app: app.name, file: app.pipelinePath) {
            await say("error: \(problem.description)")
            return RunResult(status: .failed, reason: problem.description)
        }

        // 3. The plan: build, test, pre-deploy hooks, deploy, post-deploy hooks; on-failure last.
        var plan: [PlannedStep] = []
        func add(_ stage: String, _ steps: [StepSpec]) {
            for spec in steps { plan.append(PlannedStep(stage: stage, spec: spec, index: plan.count)) }
        }
        for stage in pipeline.stages where stage.name != .deploy { add(stage.name.rawValue, stage.steps) }
        add(HookPoint.preDeploy.rawValue, pipeline.hooks[.preDeploy] ?? [])
        for stage in pipeline.stages where stage.name == .deploy { add(stage.name.rawValue, stage.steps) }
        if let deploy = pipeline.deploy {
            plan.append(PlannedStep(stage: StageName.deploy.rawValue, spec: StepSpec(name: "apply manifests", command: .shell("")),
                                    index: plan.count, manifests: deploy))
        }
        add(HookPoint.postDeploy.rawValue, pipeline.hooks[.postDeploy] ?? [])
        add(HookPoint.onFailure.rawValue, pipeline.hooks[.onFailure] ?? [])
        do {
            try await store.planSteps(job.id, steps: plan.map { StepPlan(stage: $0.stage, name: $0.spec.name) })
        } catch {
            return RunResult(status: .failed, reason: "\(error)")
        }

        var environment = baseEnvironment(job: job, app: app, workspace: workspace)
        var failure: (step: PlannedStep, why: String)?
        var stop: StopReason?
        // On the kubernetes executor the build and test steps run together, as one pod.
        let podSteps = executorKind == .kubernetes ? plan.filter { [StageName.build.rawValue, StageName.test.rawValue].contains($0.stage) } : []
        if let first = podSteps.first {
            guard let podRunner else {
                let reason = "app '\(app.name)' runs its steps on the kubernetes executor, but runner.kubernetes names no usable cluster"
                await say("error: \(reason)")
                return RunResult(status: .failed, reason: reason)
            }
            let (plain, hidden) = PodStepRunner.environment(environment, app: app)
            let outcome = await podRunner.run(podSteps, pipelineImage: pipeline.image, job: job, app: app, environment: plain,
                                              secretEnvironment: hidden, secrets: secrets, log: log, stopRequested: stopRequested, say: say)
            await log.flush()
            switch outcome {
            case .succeeded: break
            case .failed(let step, let why): failure = (step, why)
            case .stopped: stop = await stopRequested() ?? .cancelled
            case .interrupted(let why):
                for step in plan where step.index > (podSteps.last?.index ?? first.index) {
                    try? await store.updateStep(job.id, index: step.index, status: .skipped)
                }
                return RunResult(status: .interrupted, reason: why)
            }
        }
        let podIndices = Set(podSteps.map(\.index))
        for step in plan where !step.isFailureHook && !podIndices.contains(step.index) {
            if failure != nil || stop != nil {
                try? await store.updateStep(job.id, index: step.index, status: .skipped)
                continue
            }
            if let deploy = step.manifests {
                try? await store.updateStep(job.id, index: step.index, status: .running)
                let problem = await manifestStep.run(deploy, job: job, app: app, workspace: workspace, environment: environment,
                                                     stopRequested: { await stopRequested() != nil }) { line in
                    await log.line("deploy/apply", masker.masking(line))
                }
                try? await store.updateStep(job.id, index: step.index, status: problem == nil ? .succeeded : .failed)
                await log.flush()
                if let problem { failure = (step, problem) }
                continue
            }
            let outcome = await runStep(step, job: job, app: app, workspace: workspace, environment: environment, secrets: secrets,
                                        log: log, stopRequested: stopRequested, say: say)
            switch outcome {
            case .succeeded:
                continue
            case .cancelled:
                stop = await stopRequested() ?? .cancelled
            default:
                failure = (step, Self.describe(outcome))
            }
        }

        if let stop {
            for step in plan where step.isFailureHook { try? await store.updateStep(job.id, index: step.index, status: .skipped) }
            switch stop {
            case .cancelled:
                await say("job cancelled")
                return RunResult(status: .cancelled, reason: "cancelled while running")
            case .shutdown:
                await say("job interrupted: the server is shutting down")
                return RunResult(status: .interrupted, reason: "the server shut down while the job ran")
            case .leaseLost:
                return RunResult(status: .interrupted, reason: "the replica lost the job's lease")
            }
        }
        guard let failure else {
            for step in plan where step.isFailureHook { try? await store.updateStep(job.id, index: step.index, status: .skipped) }
            await say("job succeeded")
            return RunResult(status: .succeeded, reason: nil)
        }

        // 4. A step failed: the on-failure hooks still run, told what failed.
        environment["SLIPWAY_JOB_STATUS"] = JobStatus.failed.rawValue
        environment["SLIPWAY_FAILED_STEP"] = "\(failure.step.stage)/\(failure.step.spec.name)"
        for step in plan where step.isFailureHook {
            _ = await runStep(step, job: job, app: app, workspace: workspace, environment: environment, secrets: secrets,
                              log: log, stopRequested: stopRequested, say: say)
        }
        let reason = failure.step.manifests != nil ? failure.why : "step \(failure.step.stage)/\(failure.step.spec.name) \(failure.why)"
        await say("job failed: \(reason)")
        return RunResult(status: .failed, reason: reason)
    }

    struct PipelineProblem: Error {
        var reason: String
    }

    /// The app's pipeline file in a checked-out commit, or why it cannot be read.
    static func pipeline(of app: AppConfig, in workspace: String, commit: String) -> Result<PipelineSpec, PipelineProblem> {
        guard let pipelineFile = WorkspaceFile.path(app.pipelinePath, in: workspace) else {
            return .failure(PipelineProblem(reason: "the pipeline file \(app.pipelinePath) leads outside the workspace (a symbolic link): it is not read"))
        }
        guard let text = try? String(contentsOfFile: pipelineFile, encoding: .utf8) else {
            return .failure(PipelineProblem(reason: "no pipeline file \(app.pipelinePath) in commit \(commit.prefix(12))"))
        }
        do {
            return .success(try PipelineSpec.parse(text, file: app.pipelinePath))
        } catch {
            return .failure(PipelineProblem(reason: error.description))
        }
    }

    /// Runs a step, again up to its `retries`, and records it.
    func runStep(_ step: PlannedStep, job: Job, app: AppConfig, workspace: String, environment: [String: String], secrets: [String],
                         log: LogSink, stopRequested: @escaping @Sendable () async -> StopReason?,
                         say: (String) async -> Void) async -> StepOutcome {
        let label = "\(step.stage)/\(step.spec.name)"
        var environment = environment
        if case .serverHook = step.spec.command {
            // A server hook is not the app's code: it gets the app's secrets it names, no others.
            for name in app.secrets.keys where !step.spec.secretNames.contains(name) { environment[name] = nil }
            if let missing = step.spec.secretNames.first(where: { app.secrets[$0] == nil }) {
                await say("step \(label) could not start: app '\(app.name)' has no secret \(missing)")
                try? await store.updateStep(job.id, index: step.index, status: .failed)
                return .notStarted("app '\(app.name)' has no secret \(missing)")
            }
        }
        environment.merge(step.spec.env) { _, stepValue in stepValue }
        var outcome = StepOutcome.notStarted("not run")
        for attempt in 0...step.spec.retries {
            try? await store.updateStep(job.id, index: step.index, status: .running)
            await say(attempt == 0 ? "step \(label) started" : "step \(label): attempt \(attempt + 1) of \(step.spec.retries + 1)")
            let started = ContinuousClock.now
            outcome = await executor.run(step.spec, label: label, workspace: workspace, environment: environment, secrets: secrets,
                                         network: app.network, log: log, isCancelled: { await stopRequested() != nil },
                                         started: { [store, host] group in
                                             try? await store.recordStepProcess(StepProcess(jobID: job.id, processGroup: group,
                                                                                            host: host.host, bootID: host.bootID))
                                         })
            let seconds = (ContinuousClock.now - started).components.seconds
            switch outcome {
            case .succeeded:
                try? await store.updateStep(job.id, index: step.index, status: .succeeded, exitCode: 0)
                await say("step \(label) succeeded in \(seconds)s")
                await log.flush()
                return outcome
            case .cancelled:
                try? await store.updateStep(job.id, index: step.index, status: .cancelled)
                await log.flush()
                return outcome
            case .timedOut:
                try? await store.updateStep(job.id, index: step.index, status: .timedOut)
            case .failed(let code):
                try? await store.updateStep(job.id, index: step.index, status: .failed, exitCode: Int(code))
            case .limitReached(_, let code):
                try? await store.updateStep(job.id, index: step.index, status: .failed, exitCode: Int(code))
            case .killedBySignal, .notStarted:
                try? await store.updateStep(job.id, index: step.index, status: .failed)
            }
            await say("step \(label) \(Self.describe(outcome))")
            await log.flush()
            if case .notStarted = outcome { break }
        }
        return outcome
    }

    static func describe(_ outcome: StepOutcome) -> String {
        switch outcome {
        case .succeeded: "succeeded"
        case .failed(let code): "failed with exit code \(code)"
        case .killedBySignal(let signal): "was killed by signal \(signal)"
        case .timedOut: "timed out and was killed with its process group"
        case .cancelled: "was cancelled"
        case .notStarted(let why): "could not start: \(why)"
        case .limitReached(let limit, let code): "failed with exit code \(code) after reaching \(limit)"
        }
    }

    /// What every step sees: Slipway's variables, the app's secrets, the server variables the
    /// app lets through, and a plain PATH. Nothing else of the server's environment.
    func baseEnvironment(job: Job, app: AppConfig, workspace: String) -> [String: String] {
        Self.baseEnvironment(job: job, app: app, workspace: workspace, serverEnvironment: serverEnvironment)
    }

    static func baseEnvironment(job: Job, app: AppConfig, workspace: String, serverEnvironment: [String: String]) -> [String: String] {
        var environment: [String: String] = [
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": workspace,
            "SLIPWAY_APP": app.name,
            "SLIPWAY_JOB_ID": String(job.id),
            "SLIPWAY_REPO": app.repoURL,
            "SLIPWAY_REF": job.ref,
            "SLIPWAY_BRANCH": job.ref.hasPrefix(PushEvent.branchPrefix) ? String(job.ref.dropFirst(PushEvent.branchPrefix.count)) : app.branch,
            "SLIPWAY_COMMIT": job.commit,
            "SLIPWAY_COMMIT_SHORT": String(job.commit.prefix(7)),
            "SLIPWAY_WORKSPACE": workspace,
            "SLIPWAY_TRIGGER": job.trigger.rawValue,
        ]
        for name in app.passEnvironment {
            if let value = serverEnvironment[name] { environment[name] = value }
        }
        for (name, secret) in app.secrets { environment[name] = secret.value }
        return environment
    }
}

/// Why a running job is asked to stop.
public enum StopReason: Sendable, Equatable {
    /// Someone cancelled it, or a newer push did.
    case cancelled
    /// The server is shutting down and the grace period is over.
    case shutdown
    /// Another replica took the job over: this one's lease ran out.
    case leaseLost
}
