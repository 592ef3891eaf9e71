import Foundation
import SlipwayCore
import SlipwayDeploy
import SlipwayGit
import SlipwayStore

/// A pull request's preview: fetch the request's head, run the stages the app opts into
/// (never for a fork), render the deploy block, dry-run every object against the live
/// cluster with the app's identity and rules, and write the one comment the app keeps on the
/// request. Nothing is applied.
extension JobRunner {
    func preview(_ job: Job, app: AppConfig, log: LogSink, stopRequested: @escaping @Sendable () async -> StopReason?) async -> RunResult {
        // A fork's request never sees the app's secrets: not in steps (none run), not in the render.
        let secrets = job.fromFork ? [] : app.secretValues
        let masker = SecretMasker(secrets: app.secretValues)
        func say(_ text: String) async { await log.line("slipway", masker.masking(text)) }
        let number = job.pullRequest.map { "#\($0)" } ?? "(no number)"
        let comment = PreviewComment(app: app, job: job, link: "\(baseURL)/jobs/\(job.id)")
        /// Ends the job, leaving the request a comment that says why when it failed.
        func end(_ status: JobStatus, _ reason: String?, objects: [DeployPreview.ObjectChange]? = nil) async -> RunResult {
            if let pullRequest = job.pullRequest, app.forgeAPI != nil, status == .succeeded || status == .failed {
                let body = objects.map { comment.markdown($0, masker: masker) } ?? comment.failure(reason ?? "failed", masker: masker)
                do {
                    try await store.queuePreviewComment(app: app.name, pullRequest: pullRequest, jobID: job.id, body: body, now: Date())
                } catch {
                    await say("the comment on pull request \(number) could not be queued: \(error)")
                }
            }
            await say(status == .succeeded ? "preview succeeded: \(reason ?? "")" : "preview \(status.rawValue): \(reason ?? "")")
            return RunResult(status: status, reason: reason)
        }

        await say("job \(job.id): preview of pull request \(number) of \(app.name) at \(job.commit) (\(job.ref)"
                  + "\(job.fromFork ? ", from a fork: no secrets, no steps" : ""))")
        guard let target = app.target else { return await end(.failed, "app '\(app.name)' has no cluster to preview against") }
        if job.fromFork, app.forge == .bitbucketCloud {
            return await end(.failed, "Bitbucket Cloud does not publish a fork's pull-request commits in the target repository, "
                             + "so Slipway cannot fetch them: no preview for pull requests from forks there")
        }
        // Absolute, so SLIPWAY_WORKSPACE is a path a step can use from anywhere (data_dir may be relative).
        let workspace = Sandbox.absolute((workspacesDir as NSString).appendingPathComponent("\(app.name)-\(job.id)"))

        // 1. The request's head, from the ref the forge publishes it under.
        let commit: String
        do {
            let fetched = try await mirrors.ensure(pullRequestHead: job.commit, ref: job.ref, in: app.repoURL, credentials: app.repositoryAuth)
            commit = fetched.commit
            if let report = fetched.report { await say("fetched \(job.ref): \(report.receivedObjects) new objects") }
            try? FileManager.default.removeItem(atPath: workspace)
            try await mirrors.checkout(app.repoURL, commit: commit, into: workspace)
            executor.sandbox.handOver(workspace)
        } catch {
            return await end(.failed, "git: \(error)")
        }
        let pipeline: PipelineSpec
        switch Self.pipeline(of: app, in: workspace, commit: commit) {
        case .success(let spec): pipeline = spec
        case .failure(let problem): return await end(.failed, problem.reason)
        }
        guard let deploy = pipeline.deploy else { return await end(.failed, "the pipeline of \(commit.prefix(12)) has no deploy block: nothing to preview") }
        // A fork's render command is code from outside: it runs confined or not at all.
        if job.fromFork, deploy.render != nil, executor.sandbox.settings.mode != .bubblewrap {
            return await end(.failed, "the deploy block renders with a command, and a pull request from a fork runs commands only in the "
                             + "sandbox; runner.sandbox.mode is '\(executor.sandbox.settings.mode.rawValue)', so its preview is refused")
        }

        // 2. The plan: the opted-in stages' steps (none for a fork), then the dry-run.
        var plan: [PlannedStep] = []
        if !job.fromFork {
            for stage in pipeline.stages where app.preview.stages.contains(stage.name) {
                for spec in stage.steps { plan.append(PlannedStep(stage: stage.name.rawValue, spec: spec, index: plan.count)) }
            }
        }
        let dryRunIndex = plan.count
        do {
            try await store.planSteps(job.id, steps: plan.map { StepPlan(stage: $0.stage, name: $0.spec.name) }
                                      + [StepPlan(stage: "preview", name: "dry-run manifests")])
        } catch {
            return await end(.failed, "\(error)")
        }
        var environment = baseEnvironment(job: job, app: app, workspace: workspace)
        environment["SLIPWAY_COMMIT"] = commit
        environment["SLIPWAY_COMMIT_SHORT"] = String(commit.prefix(7))
        environment["SLIPWAY_PULL_REQUEST"] = job.pullRequest.map(String.init)
        if job.fromFork {
            // Not the app's secrets, nor the server variables it lets through: only Slipway's own.
            environment = environment.filter { $0.key.hasPrefix("SLIPWAY_") || $0.key == "PATH" || $0.key == "HOME" }
        }
        let executorKind = app.executor ?? defaultExecutor
        if let problem = pipeline.problem(on: executorKind, appNetwork: app.network, file: app.pipelinePath) {
            for step in plan { try? await store.updateStep(job.id, index: step.index, status: .skipped) }
            try? await store.updateStep(job.id, index: dryRunIndex, status: .skipped)
            return await end(.failed, problem.description)
        }
        if executorKind == .kubernetes, !plan.isEmpty {
            // The opted-in build and test steps as one pod, as for a push.
            guard let podRunner else {
                return await end(.failed, "app '\(app.name)' runs its steps on the kubernetes executor, but runner.kubernetes names no usable cluster")
            }
            let (plain, hidden) = PodStepRunner.environment(environment, app: app)
            let outcome = await podRunner.run(plan, pipelineImage: pipeline.image, job: job, app: app, environment: plain, secretEnvironment: hidden,
                                              secrets: secrets, log: log, stopRequested: stopRequested, say: say)
            switch outcome {
            case .succeeded:
                break
            case .failed(let step, let why):
                try? await store.updateStep(job.id, index: dryRunIndex, status: .skipped)
                return await end(.failed, "step \(step.stage)/\(step.spec.name) \(why)")
            case .stopped:
                try? await store.updateStep(job.id, index: dryRunIndex, status: .skipped)
                return (await stopRequested()) == .cancelled
                    ? RunResult(status: .cancelled, reason: "cancelled while running")
                    : RunResult(status: .interrupted, reason: "the server shut down while the job ran")
            case .interrupted(let why):
                try? await store.updateStep(job.id, index: dryRunIndex, status: .skipped)
                return RunResult(status: .interrupted, reason: why)
            }
            plan = []
        }
        for (position, step) in plan.enumerated() {
            let outcome = await runStep(step, job: job, app: app, workspace: workspace, environment: environment, secrets: secrets,
                                        log: log, stopRequested: stopRequested, say: say)
            guard outcome == .succeeded else {
                for rest in plan[(position + 1)...] { try? await store.updateStep(job.id, index: rest.index, status: .skipped) }
                try? await store.updateStep(job.id, index: dryRunIndex, status: .skipped)
                if outcome == .cancelled {
                    return (await stopRequested()) == .shutdown
                        ? RunResult(status: .interrupted, reason: "the server shut down while the job ran")
                        : RunResult(status: .cancelled, reason: "cancelled while running")
                }
                return await end(.failed, "step \(step.stage)/\(step.spec.name) \(Self.describe(outcome))")
            }
        }

        // 3. Render and compare, object by object.
        try? await store.updateStep(job.id, index: dryRunIndex, status: .running)
        guard let client = manifestStep.clusters[target.cluster]?.impersonating(target.impersonatedUser) else {
            try? await store.updateStep(job.id, index: dryRunIndex, status: .failed)
            return await end(.failed, "cluster '\(target.cluster)' is not available")
        }
        let objects: [DeployPreview.ObjectChange]
        do {
            // A fork's render command runs confined as every step does, without the network.
            let manifests = try await ManifestStep.render(deploy, namespace: target.namespace, workspace: workspace, environment: environment,
                                                          sandbox: executor.sandbox, network: app.network && !job.fromFork) { line in
                await log.line("preview/render", masker.masking(line))
            }
            objects = try await DeployPreview.compare(manifests, app: app, target: target, spec: deploy, client: client, store: store)
        } catch {
            try? await store.updateStep(job.id, index: dryRunIndex, status: .failed)
            return await end(.failed, "preview: \(error)")
        }
        let result = DeployPreview.Result(app: app.name, commit: commit, objects: objects)
        for line in result.text.split(separator: "\n") { await log.line("preview/diff", masker.masking(String(line))) }
        let refused = objects.filter { $0.action == .refused }.count
        try? await store.updateStep(job.id, index: dryRunIndex, status: refused == 0 ? .succeeded : .failed)
        let summary = PreviewComment.summary(objects)
        // A merge that would not deploy fails the request's check; the comment says why.
        return await end(refused == 0 ? .succeeded : .failed, refused == 0 ? summary : "\(refused) object(s) would be refused: \(summary)",
                         objects: objects)
    }
}
