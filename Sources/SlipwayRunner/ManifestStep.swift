import Foundation
import SlipwayCore
import SlipwayDeploy
import SlipwayKube
import SlipwayMetrics
import SlipwayRollout
import SlipwayStore
import Subprocess
import SystemPackage

/// The deploy block of a pipeline: render, apply, prune, wait, and on failure roll back to
/// the last healthy revision where the app asks for it.
struct ManifestStep: Sendable {
    let store: any JobStore
    let clusters: [String: KubeClient]
    let pollInterval: Duration
    /// The render command runs where steps run.
    let sandbox: Sandbox
    /// Where rollouts report their step and measurements.
    var metrics: SlipwayMetrics?
    /// Told when a job's rollout starts or stops waiting (a pause, an analysis), so the job
    /// holds no worker meanwhile.
    var rolloutWaiting: @Sendable (JobID, Bool) async -> Void = { _, _ in }

    /// Returns nil on success, or why the deploy failed (after any rollback).
    func run(_ spec: DeploySpec, job: Job, app: AppConfig, workspace: String, environment: [String: String],
             stopRequested: @escaping @Sendable () async -> Bool = { false },
             say: @escaping @Sendable (String) async -> Void) async -> String? {
        guard let target = app.target else {
            return "the pipeline has a deploy block, but app '\(app.name)' has no cluster: add cluster and namespace to the app"
        }
        guard let client = clusters[target.cluster]?.impersonating(target.impersonatedUser) else {
            return "cluster '\(target.cluster)' is not available"
        }
        let deployer = Deployer(client: client, pollInterval: pollInterval)
        let options = Self.options(app: app, target: target, spec: spec)
        let manifests: [Manifest]
        do {
            manifests = try await Self.render(spec, namespace: target.namespace, workspace: workspace, environment: environment, sandbox: sandbox,
                                              network: app.network, say: say)
            await say("rendered \(manifests.count) objects for cluster \(target.cluster), namespace \(target.namespace)")
        } catch {
            return "render: \(error)"
        }

        // Hooks run around the app's objects and are never part of its inventory.
        let sync: SyncSet
        do {
            sync = try SyncSet.split(manifests)
        } catch {
            return "deploy: \(error); nothing was applied"
        }
        for skipped in sync.skipped { await say("\(skipped.reference) is annotated hook: Skip: not applied") }
        // The plan fills in namespaces and labels: what is stored is always what was sent.
        let plan: ApplyPlan
        do {
            plan = try await deployer.plan(sync.resources, defaultNamespace: target.namespace, applySetID: options.applySetID, rules: options.rules)
            // Hooks are checked against the app's rules as well, before anything is applied.
            if !sync.hooks.isEmpty {
                _ = try await deployer.plan(sync.hooks.map(\.manifest).map(Self.named), defaultNamespace: target.namespace,
                                            applySetID: options.applySetID, rules: options.rules)
            }
        } catch {
            return "deploy: \(error); nothing was applied"
        }
        let previous: [ObjectReference]
        do {
            previous = await deployer.resolve(Self.references(try await store.lastDeployment(app: app.name)?.objects), defaultNamespace: target.namespace)
        } catch {
            return "\(error)"
        }
        let sent = JSONValue.array(plan.all.map(\.object))
        // A progressive rollout's target is left out of the deploy and rolled out after it.
        var rollout: (spec: RolloutSpec, target: Manifest)?
        var rolloutTarget: Manifest?
        if let rolloutSpec = spec.rollout {
            guard let found = plan.stages[1].first(where: { $0.kind == rolloutSpec.targetKind && $0.name == rolloutSpec.targetName }) else {
                return "deploy.rollout (\(app.pipelinePath), line \(rolloutSpec.line ?? 1)): the target \(rolloutSpec.target) is not among the \(plan.all.count) rendered objects; nothing was applied"
            }
            rolloutTarget = found
            do {
                switch try await CanaryRollout.need(for: found, client: client) {
                case .rollout: rollout = (rolloutSpec, found)
                case .firstDeploy: await say("rollout: \(found.reference) is applied whole (nothing of it is live yet)")
                case .unchanged: await say("rollout: \(found.reference) is applied whole (its pod template is unchanged)")
                }
            } catch {
                return "deploy: \(error); nothing was applied"
            }
        }
        // The fence before the cluster: a replica whose lease was taken (its job interrupted and
        // queued again elsewhere) must not apply a revision that is no longer its to apply.
        guard (try? await store.job(id: job.id))?.status == .running else {
            return "job \(job.id) is no longer running here (another replica took it over): nothing was applied"
        }
        var deployPlan = plan
        var deployOptions = options
        var hooks = sync.hooks
        if let rollout {
            deployPlan.stages[1].removeAll { $0.reference.identity == rollout.target.reference.identity }
            deployOptions.held = [rollout.target.reference]
            // PostSync hooks run once the rollout is promoted.
            hooks = hooks.filter { !$0.annotations.hookPhases.contains(.postSync) }
            if let warning = CanaryTrack.serviceWarning(target: rollout.target, manifests: plan.all) { await say("warning: \(warning)") }
        }
        let outcome: Deployer.Outcome
        do {
            outcome = try await deployer.deploy(deployPlan, options: deployOptions, previous: previous, hooks: hooks, log: say)
        } catch {
            return await failed(error, job: job, app: app, target: target, client: client, deployer: deployer, options: options, previous: previous,
                                plan: plan, sent: sent, sync: sync, markBad: false, say: say)
        }
        guard let rollout else {
            if let rolloutTarget { await CanaryRollout.removeLeftoverCanary(of: rolloutTarget, client: client, log: say) }
            try? await store.recordDeployment(app: app.name, jobID: job.id, commit: job.commit, objects: Self.json(outcome.applied),
                                              manifests: sent, healthy: true)
            await say("deployed \(job.commit.prefix(12)): \(outcome.applied.count) objects applied, \(outcome.pruned.count) pruned")
            return nil
        }
        let ended = await runRollout(rollout.spec, target: rollout.target, job: job, app: app, client: client, options: options, wait: spec.wait,
                                     stopRequested: stopRequested, say: say)
        switch ended {
        case .promoted:
            do {
                try await HookRunner(client: client, pollInterval: pollInterval)
                    .run(sync.hooks(.postSync), phase: .postSync, defaultNamespace: target.namespace, timeout: options.wait, log: say)
            } catch {
                return await failed(error, job: job, app: app, target: target, client: client, deployer: deployer, options: options, previous: previous,
                                    plan: plan, sent: sent, sync: sync, markBad: false, say: say)
            }
            let applied = outcome.applied + [rollout.target.reference]
            try? await store.recordDeployment(app: app.name, jobID: job.id, commit: job.commit, objects: Self.json(applied), manifests: sent, healthy: true)
            await say("deployed \(job.commit.prefix(12)): \(applied.count) objects applied (\(rollout.target.reference) progressively), \(outcome.pruned.count) pruned")
            return nil
        case .aborted(let why):
            // The stable pods never changed: the commit is marked bad, the other objects go
            // back to the last healthy revision where the app rolls back.
            return await failed(DeployError("rollout aborted: \(why)"), job: job, app: app, target: target, client: client, deployer: deployer,
                                options: options, previous: previous, plan: plan, sent: sent, sync: sync, markBad: true, say: say)
        case .promotionFailed(let why):
            return await failed(DeployError(why), job: job, app: app, target: target, client: client, deployer: deployer, options: options,
                                previous: previous, plan: plan, sent: sent, sync: sync, markBad: true, say: say)
        }
    }

    /// A deploy that failed: what it may have created joins the inventory, the app rolls back
    /// where it asks to (which marks the commit bad; `markBad` marks it either way), and the
    /// SyncFail hooks run. Returns the job's reason.
    private func failed(_ error: DeployError, job: Job, app: AppConfig, target: DeployTarget, client: KubeClient, deployer: Deployer,
                        options: Deployer.Options, previous: [ObjectReference], plan: ApplyPlan, sent: JSONValue, sync: SyncSet, markBad: Bool,
                        say: @escaping @Sendable (String) async -> Void) async -> String {
        // Whatever this attempt may have created is now part of the inventory.
        let attempted = Self.union(previous, plan.all.map(\.reference))
        try? await store.recordDeployment(app: app.name, jobID: job.id, commit: job.commit, objects: Self.json(attempted),
                                          manifests: sent, healthy: false)
        await say("deploy failed: \(error)")
        let reason: String
        if target.rollback {
            reason = await rollback(after: error, job: job, app: app, deployer: deployer, options: options, inventory: attempted, say: say)
        } else {
            if markBad {
                try? await store.markBad(app: app.name, commit: job.commit, jobID: job.id, reason: error.description)
                await say("commit \(job.commit.prefix(12)) is marked bad: it will not be deployed again")
            }
            reason = "deploy: \(error)"
        }
        // SyncFail hooks: after the failure (and the rollback, when on); their own failure
        // is logged, the job has failed already.
        let syncFail = sync.hooks(.syncFail)
        if !syncFail.isEmpty {
            do {
                try await HookRunner(client: client, pollInterval: pollInterval)
                    .run(syncFail, phase: .syncFail, defaultNamespace: target.namespace, timeout: options.wait, log: say)
            } catch {
                await say("\(error)")
            }
        }
        return reason
    }

    /// A hook with only `generateName` gets a stand-in name for the rules check.
    static func named(_ manifest: Manifest) -> Manifest {
        guard manifest.name.isEmpty, let prefix = manifest.object[path: ["metadata", "generateName"]]?.stringValue else { return manifest }
        var named = manifest
        named.object["metadata"]?["name"] = .string(prefix + "hook")
        return named
    }

    /// Both inventories, one entry per object (the newer reference wins), sorted.
    static func union(_ older: [ObjectReference], _ newer: [ObjectReference]) -> [ObjectReference] {
        var byIdentity: [String: ObjectReference] = [:]
        for reference in older + newer { byIdentity[reference.identity] = reference }
        return byIdentity.values.sorted()
    }

    /// A self-heal: the last healthy revision's stored manifests applied again, without
    /// fetching, building or testing anything.
    func reapply(job: Job, app: AppConfig, say: @escaping @Sendable (String) async -> Void) async -> String? {
        guard let target = app.target, let client = clusters[target.cluster]?.impersonating(target.impersonatedUser) else {
            return "app '\(app.name)' has no cluster to heal"
        }
        guard let good = try? await store.lastDeployment(app: app.name, healthyOnly: true) else {
            return "nothing was deployed yet: there is nothing to re-apply"
        }
        let manifests = Manifest.stored(good.manifests, commit: good.commit)
        let deployer = Deployer(client: client, pollInterval: pollInterval)
        let previous = await deployer.resolve(Self.references((try? await store.lastDeployment(app: app.name))?.objects), defaultNamespace: target.namespace)
        let spec = DeploySpec()
        await say("self-heal: re-applying \(manifests.count) objects of \(good.commit.prefix(12)) (deployed by job \(good.jobID))")
        do {
            let outcome = try await deployer.deploy(manifests, options: Self.options(app: app, target: target, spec: spec), previous: previous, log: say)
            try? await store.recordDeployment(app: app.name, jobID: job.id, commit: good.commit, objects: Self.json(outcome.applied),
                                        manifests: good.manifests, healthy: true)
            return nil
        } catch {
            return "self-heal: \(error)"
        }
    }

    private func rollback(after failure: DeployError, job: Job, app: AppConfig, deployer: Deployer, options: Deployer.Options,
                          inventory: [ObjectReference], say: @escaping @Sendable (String) async -> Void) async -> String {
        let reason = "deploy: \(failure)"
        try? await store.markBad(app: app.name, commit: job.commit, jobID: job.id, reason: failure.description)
        await say("commit \(job.commit.prefix(12)) is marked bad: it will not be deployed again")
        guard let good = try? await store.lastDeployment(app: app.name, healthyOnly: true), good.commit != job.commit else {
            await say("no earlier healthy revision to roll back to")
            return reason + "; no earlier healthy revision to roll back to"
        }
        await say("rolling back to \(good.commit.prefix(12)) (deployed by job \(good.jobID))")
        let manifests = Manifest.stored(good.manifests, commit: good.commit)
        do {
            let outcome = try await deployer.deploy(manifests, options: options, previous: inventory, log: say)
            try? await store.recordDeployment(app: app.name, jobID: job.id, commit: good.commit, objects: Self.json(outcome.applied),
                                        manifests: good.manifests, healthy: true)
            await say("rolled back to \(good.commit.prefix(12))")
            return reason + "; rolled back to \(good.commit.prefix(12))"
        } catch {
            await say("rollback failed: \(error)")
            return reason + "; rollback to \(good.commit.prefix(12)) failed too: \(error)"
        }
    }

    static func options(app: AppConfig, target: DeployTarget, spec: DeploySpec) -> Deployer.Options {
        var options = Deployer.Options(defaultNamespace: target.namespace, applySetID: Deployer.applySetID(app: app.name, namespace: target.namespace),
                                       force: target.force, prune: target.prune, wait: spec.wait, daemonSetWait: spec.daemonSetWait)
        options.rules = TenancyRules(app: app.name, target: target)
        options.applySetParent = ApplySetParent(app: app.name, namespace: target.namespace)
        return options
    }

    /// The manifests of a checked-out commit: files or a render command's output, with variables.
    static func render(_ spec: DeploySpec, namespace: String, workspace: String, environment: [String: String], sandbox: Sandbox,
                       network: Bool, say: @escaping @Sendable (String) async -> Void) async throws(DeployError) -> [Manifest] {
        var builtIn = environment.filter { $0.key.hasPrefix("SLIPWAY_") }
        builtIn["SLIPWAY_NAMESPACE"] = namespace
        let variables = try Renderer.variables(spec: spec, builtIn: builtIn)
        if let folder = spec.manifests {
            return try Renderer.renderFolder(folder, workspace: workspace, variables: variables)
        }
        return try Renderer.renderOutput(try await runRenderCommand(spec.render ?? "", workspace: workspace, environment: environment,
                                                                    sandbox: sandbox, network: network, say: say),
                                         variables: variables)
    }

    /// Runs the render command; its standard output is the manifests, its standard error
    /// goes to the log.
    private static func runRenderCommand(_ command: String, workspace: String, environment: [String: String], sandbox: Sandbox,
                                         network: Bool, say: @escaping @Sendable (String) async -> Void) async throws(DeployError) -> String {
        await say("render: \(command)")
        guard let stepGuard = sandbox.stepGuard else { throw DeployError("the render command could not run: \(sandbox.guardMissing ?? "no step guard")") }
        let confined = sandbox.command("/bin/sh", ["-e", "-c", command], workspace: workspace, directory: workspace, network: network, hook: false)
        do {
            let result = try await Subprocess.run(
                .path(FilePath(confined.executable)), arguments: Arguments(confined.arguments),
                environment: StepExecutor.processEnvironment(environment),
                workingDirectory: FilePath(workspace), input: stepGuard.input, output: .string(limit: 64 << 20), error: .string(limit: 1 << 20))
            for line in result.standardError.split(separator: "\n") { await say("render: \(line)") }
            guard result.terminationStatus.isSuccess else {
                throw DeployError("the render command failed (\(result.terminationStatus)): \(command)")
            }
            return result.standardOutput
        } catch let error as DeployError {
            throw error
        } catch {
            throw DeployError("the render command could not run: \(error)")
        }
    }

    /// The inventory as stored: `ObjectReference`'s own Codable form.
    static func json(_ references: [ObjectReference]) -> JSONValue {
        (try? JSONDecoder().decode(JSONValue.self, from: SlipwayJSON.data(references))) ?? .array([])
    }

    static func references(_ json: JSONValue?) -> [ObjectReference] {
        guard let json, let data = try? SlipwayJSON.data(json) else { return [] }
        return (try? JSONDecoder().decode([ObjectReference].self, from: data)) ?? []
    }
}
