public import Foundation
public import SlipwayConfig
public import SlipwayCore
public import SlipwayDeploy
public import SlipwayGit
public import SlipwayKube
public import SlipwayStore

/// What a deploy of a commit would change, without changing anything: the commit is
/// rendered, every object goes through a server-side dry-run apply, and the result is compared
/// with the live object (`slipway diff`).
public struct DeployPreview: Sendable {
    public struct ObjectChange: Sendable, Codable, Hashable {
        public enum Action: String, Sendable, Codable { case create, update, unchanged, prune, refused }
        /// `Deployment shop/web`
        public var object: String
        public var action: Action
        public var changes: [FieldChange]
        /// For `refused`: the app's rule the object breaks, or the API server's message.
        public var reason: String?
    }

    public struct Result: Sendable, Codable {
        public var app: String
        public var commit: String
        public var objects: [ObjectChange]
    }

    let config: ServerConfig
    let store: any JobStore
    let mirrors: MirrorCache
    let clusters: [String: KubeClient]
    /// Made once: it finds the step guard and opens its pipe.
    let sandbox: Sandbox

    public init(config: ServerConfig, store: any JobStore, mirrors: MirrorCache, clusters: [String: KubeClient]) {
        sandbox = Sandbox(config: config)
        self.config = config
        self.store = store
        self.mirrors = mirrors
        self.clusters = clusters
    }

    /// Previews `commit` (default: the branch head on the remote) of `app`.
    public func preview(app: AppConfig, commit requested: String?) async throws(DeployError) -> Result {
        guard let target = app.target, let client = clusters[target.cluster]?.impersonating(target.impersonatedUser) else {
            throw DeployError("app '\(app.name)' has no cluster to compare with")
        }
        let commit: String
        let workspace = Sandbox.absolute((config.workspacesDir as NSString).appendingPathComponent("diff-\(app.name)-\(UUID().uuidString.prefix(8))"))
        defer { try? FileManager.default.removeItem(atPath: workspace) }
        do {
            if let requested {
                _ = try await mirrors.ensure(commit: requested, in: app.repoURL, credentials: app.repositoryAuth)
                commit = requested
            } else {
                commit = try await mirrors.head(of: app.branch, in: app.repoURL, credentials: app.repositoryAuth)
            }
            try await mirrors.checkout(app.repoURL, commit: commit, into: workspace)
        } catch {
            throw DeployError("git: \(error)", isNotFound: error.kind == .commitNotFound)
        }
        let pipeline: PipelineSpec
        switch JobRunner.pipeline(of: app, in: workspace, commit: commit) {
        case .success(let spec): pipeline = spec
        case .failure(let problem): throw DeployError(problem.reason)
        }
        guard let spec = pipeline.deploy else { throw DeployError("the pipeline of \(commit.prefix(12)) has no deploy block") }
        let job = Job(id: 0, app: app.name, forge: nil, deliveryID: nil, trigger: .manual, ref: PushEvent.branchPrefix + app.branch,
                      before: nil, commit: commit, message: nil, author: nil, status: .queued, reason: nil, createdAt: Date(), startedAt: nil, finishedAt: nil)
        let environment = JobRunner.baseEnvironment(job: job, app: app, workspace: workspace, serverEnvironment: ProcessInfo.processInfo.environment)
        sandbox.handOver(workspace)
        let manifests = try await ManifestStep.render(spec, namespace: target.namespace, workspace: workspace, environment: environment,
                                                      sandbox: sandbox, network: app.network) { _ in }
        let changes = try await Self.compare(manifests, app: app, target: target, spec: spec, client: client, store: store)
        return Result(app: app.name, commit: commit, objects: changes)
    }
}

extension DeployPreview {
    /// What applying `manifests` would do, object by object, through server-side dry-runs with
    /// the app's identity: an object the app's rules forbid, or the API server refuses, is
    /// `refused` with the rule or the server's message, and the others are still compared.
    static func compare(_ manifests: [Manifest], app: AppConfig, target: DeployTarget, spec: DeploySpec, client: KubeClient,
                        store: any JobStore) async throws(DeployError) -> [ObjectChange] {
        let options = ManifestStep.options(app: app, target: target, spec: spec)
        // Hooks run around a sync and are never applied as the app's objects: not compared.
        let resources = try SyncSet.split(manifests).resources
        let plan = try await Deployer(client: client).plan(resources, defaultNamespace: target.namespace, applySetID: options.applySetID)
        var changes: [ObjectChange] = []
        for manifest in plan.all {
            let name = manifest.reference.description
            if let rule = options.rules?.violation(manifest) {
                changes.append(ObjectChange(object: name, action: .refused, changes: [], reason: "\(manifest.place): \(rule)"))
                continue
            }
            let desired = manifest.object
            do {
                let live = try await client.get(apiVersion: manifest.apiVersion, kind: manifest.kind, namespace: manifest.namespace, name: manifest.name)
                // A new object is dry-run too: the server's admission decides whether it may be created.
                let result = try await client.apply(desired, fieldManager: Deployer.fieldManager, force: true, dryRun: true)
                let fields = ObjectDiff.changes(live: live, desired: live == nil ? desired : result)
                changes.append(ObjectChange(object: name, action: live == nil ? .create : (fields.isEmpty ? .unchanged : .update), changes: fields))
            } catch {
                changes.append(ObjectChange(object: name, action: .refused, changes: [], reason: "\(manifest.place): \(error)"))
            }
        }
        let current = Set(plan.all.map(\.reference.identity))
        let previous = await Deployer(client: client).resolve(ManifestStep.references((try? await store.lastDeployment(app: app.name))?.objects),
                                                              defaultNamespace: target.namespace)
        for reference in previous where !current.contains(reference.identity) && target.prune {
            changes.append(ObjectChange(object: reference.description, action: .prune, changes: []))
        }
        return changes
    }
}

extension DeployPreview.Result {
    /// The preview as a person reads it: `+` create, `~` update, `-` prune, one field a line.
    public var text: String {
        var lines = ["diff of \(app) at \(commit.prefix(12)) against the cluster:"]
        for object in objects where object.action != .unchanged {
            let mark = switch object.action { case .create: "+"; case .update: "~"; case .prune: "-"; case .refused: "!"; case .unchanged: " " }
            let note = switch object.action { case .prune: " (would be pruned)"; case .refused: " (refused: \(object.reason ?? "?"))"; default: "" }
            lines.append("\(mark) \(object.object)\(note)")
            for change in object.changes {
                lines.append("    \(change.path): \(change.live ?? "(absent)") -> \(change.desired ?? "(absent)")")
            }
        }
        let unchanged = objects.filter { $0.action == .unchanged }.count
        if unchanged > 0 { lines.append("  \(unchanged) object(s) unchanged") }
        return lines.joined(separator: "\n") + "\n"
    }
}
