public import Foundation
public import SlipwayCore
public import SlipwayKube

/// Applies a rendered set of manifests to a cluster the way a careful operator would: dry-run
/// everything first, CRDs and Namespaces before the rest, server-side apply as `slipway`,
/// prune what left git (only objects in the app's inventory), then wait for health.
public struct Deployer: Sendable {
    public struct Options: Sendable {
        public var defaultNamespace: String
        /// The ApplySet every applied object is labelled with.
        public var applySetID: String
        /// Take fields other managers own (`force=true`); off, a conflict fails the deploy.
        public var force: Bool
        public var prune: Bool
        public var wait: Duration
        /// DaemonSets' own health timeout (default: `wait`).
        public var daemonSetWait: Duration?
        /// What the app may deploy where (nil: anything).
        public var rules: TenancyRules?
        /// The ApplySet's parent object, kept so other tools see the set (nil: none is written).
        public var applySetParent: ApplySetParent?
        /// Objects of the set this deploy does not apply (a progressive rollout applies its
        /// target itself): never pruned, and named in the parent as members.
        public var held: [ObjectReference] = []

        public init(defaultNamespace: String, applySetID: String, force: Bool = true, prune: Bool = true, wait: Duration = DeploySpec.defaultWait,
                    daemonSetWait: Duration? = nil) {
            self.daemonSetWait = daemonSetWait
            self.defaultNamespace = defaultNamespace
            self.applySetID = applySetID
            self.force = force
            self.prune = prune
            self.wait = wait
        }
    }

    public struct Outcome: Sendable, Equatable {
        public var applied: [ObjectReference]
        public var pruned: [ObjectReference]
    }

    public static let fieldManager = "slipway"
    public static let partOfLabel = "applyset.kubernetes.io/part-of"
    /// `slipway.dev/prune: disabled` on a live object keeps prune away from it.
    public static let pruneAnnotation = "slipway.dev/prune"

    public let client: KubeClient
    /// How long to wait before reading again after the API could not be read.
    public var pollInterval: Duration
    /// How often a wait logs what a Deployment is still missing.
    public var progressInterval: Duration

    public init(client: KubeClient, pollInterval: Duration = .seconds(1), progressInterval: Duration = .seconds(5)) {
        self.client = client
        self.pollInterval = pollInterval
        self.progressInterval = progressInterval
    }

    /// The ApplySet id of an app, per the ApplySet KEP, for a parent Secret `slipway-APP` in
    /// the app's namespace.
    public static func applySetID(app: String, namespace: String) -> String {
        ApplySetParent(app: app, namespace: namespace).id
    }

    public typealias Log = @Sendable (String) async -> Void

    /// Validates, orders and labels `manifests` for this cluster: namespaces filled in from
    /// discovery, every object carrying the ApplySet label.
    /// With `rules`, an object the app may not deploy fails the plan before any request.
    public func plan(_ manifests: [Manifest], defaultNamespace: String, applySetID: String, rules: TenancyRules? = nil) async throws(DeployError) -> ApplyPlan {
        try Renderer.validate(manifests)
        let client = self.client
        var plan = try await ApplyPlan.make(manifests, defaultNamespace: defaultNamespace) { apiVersion, kind throws(DeployError) -> Bool? in
            do {
                return try await client.resource(apiVersion: apiVersion, kind: kind).namespaced
            } catch {
                if case KubeError.unknownKind = error { return nil }
                throw DeployError("discovery failed: \(error)")
            }
        }
        for stage in plan.stages.indices {
            for index in plan.stages[stage].indices {
                var labels: [String: JSONValue] = plan.stages[stage][index].object[path: ["metadata", "labels"]]?.objectValue ?? [:]
                labels[Self.partOfLabel] = JSONValue.string(applySetID)
                plan.stages[stage][index].object["metadata"]?["labels"] = JSONValue.object(labels)
            }
        }
        try rules?.check(plan)
        return plan
    }

    public func deploy(_ manifests: [Manifest], options: Options, previous: [ObjectReference], log: @escaping Log) async throws(DeployError) -> Outcome {
        let plan = try await plan(manifests, defaultNamespace: options.defaultNamespace, applySetID: options.applySetID, rules: options.rules)
        return try await deploy(plan, options: options, previous: previous, log: log)
    }

    /// The objects of a stage by sync wave (`slipway.dev/sync-wave` or Argo CD's), lowest
    /// first; within a wave the kind order holds.
    static func waves(of manifests: [Manifest]) -> [(wave: Int, manifests: [Manifest])] {
        // Grouping keeps each wave's manifests in their order.
        let byWave = Dictionary(grouping: manifests) { (try? SyncAnnotations.of($0).wave) ?? 0 }
        return byWave.keys.sorted().map { ($0, byWave[$0] ?? []) }
    }

    /// Applies a plan. Requests run concurrently (the client bounds how many are in flight)
    /// where order does not matter: all dry-runs, and the objects of one kind; kinds, stages
    /// and prune keep their order, and the log lists objects in plan order.
    ///
    /// With `hooks`: PreSync hooks run once CRDs and namespaces are there, Sync hooks as wave 0
    /// starts, PostSync hooks after everything is healthy; a failed hook fails the deploy.
    public func deploy(_ plan: ApplyPlan, options: Options, previous: [ObjectReference], hooks: [SyncSet.Hook] = [],
                       log: @escaping Log) async throws(DeployError) -> Outcome {
        let hookRunner = HookRunner(client: client, pollInterval: pollInterval)
        func runHooks(_ phase: HookPhase) async throws(DeployError) {
            let due = SyncSet.hooks(hooks, phase)
            try await hookRunner.run(due, phase: phase, defaultNamespace: options.defaultNamespace, timeout: options.wait, log: log)
        }
        await log("plan: \(plan.stages[0].count) CRDs and namespaces, then \(plan.stages[1].count) objects")

        // 1. Server dry-run of everything the cluster can check now.
        var newNamespaces: Set<String> = []
        for manifest in plan.stages[0] where manifest.kind == "Namespace" {
            if try await live(manifest) == nil { newNamespaces.insert(manifest.name) }
        }
        let postponed = plan.all.filter { manifest in
            manifest.namespace.map(newNamespaces.contains) == true
                || plan.stages[0].contains { $0.kind == "CustomResourceDefinition" && Self.defines($0, manifest) }
        }
        let postponedSet = Set(postponed)
        try await dryRun(plan.all.filter { !postponedSet.contains($0) }, options: options, log: log)
        await log("dry-run: \(plan.all.count - postponed.count) objects accepted\(postponed.isEmpty ? "" : ", \(postponed.count) checked after their namespace or CRD exists")")

        // 2. CRDs and Namespaces, then wait until they can be used.
        var applied: [ObjectReference] = []
        try await apply(plan.stages[0], options: options, log: log)
        applied += plan.stages[0].map(\.reference)
        if !plan.stages[0].isEmpty {
            try await waitUntilHealthy(plan.stages[0].map { $0.reference }, applySetID: options.applySetID, timeout: options.wait,
                                       what: "CRDs and namespaces", log: log)
            for manifest in plan.stages[0] where manifest.kind == "CustomResourceDefinition" {
                if let group = manifest.object[path: ["spec", "group"]]?.stringValue {
                    for version in manifest.object[path: ["spec", "versions"]]?.arrayValue ?? [] {
                        if let name = version["name"]?.stringValue { await client.discovery.forget("\(group)/\(name)") }
                    }
                }
            }
        }
        try await dryRun(postponed.filter { $0.kind != "Namespace" && $0.kind != "CustomResourceDefinition" }, options: options, log: log)

        // The parent first names every group-kind the set may hold while it changes (the
        // KEP's order: a tool that reads it meanwhile still finds the objects to be pruned).
        await keepParent(members: previous + plan.all.map(\.reference), options: options, log: log)

        try await runHooks(.preSync)

        // 3. Everything else, wave by wave (each healthy before the next), kind after kind.
        let waves = Self.waves(of: plan.stages[1])
        var syncHooksRan = false
        for (index, wave) in waves.enumerated() {
            if !syncHooksRan && wave.wave >= 0 {
                try await runHooks(.sync)
                syncHooksRan = true
            }
            if waves.count > 1 {
                await log("wave \(wave.wave): \(wave.manifests.map(\.reference.description).joined(separator: ", "))")
            }
            for kind in Self.runs(of: wave.manifests) {
                try await apply(kind, options: options, log: log)
                applied += kind.map(\.reference)
            }
            if index < waves.count - 1 {
                await log("wave \(wave.wave): waiting until its \(wave.manifests.count) object(s) are healthy before wave \(waves[index + 1].wave)")
                try await waitUntilHealthy(wave.manifests.map(\.reference), applySetID: options.applySetID, timeout: options.wait,
                                           daemonSetTimeout: options.daemonSetWait, what: "wave \(wave.wave)", log: log)
            }
        }
        if !syncHooksRan { try await runHooks(.sync) }

        // 4. Prune what the previous revision applied and this one does not.
        var pruned: [ObjectReference] = []
        if options.prune {
            let current = Set((applied + options.held).map(\.identity))
            let gone = ApplyPlan.pruneOrder(previous.filter { !current.contains($0.identity) })
            for kind in Self.runs(of: gone, kind: \.kind) {
                let results = await Self.concurrently(kind) { reference in await prune(reference, options: options) }
                for (reference, result) in zip(kind, results) {
                    switch result {
                    case .success(let (deleted, note)):
                        await log(note)
                        if deleted { pruned.append(reference) }
                    case .failure(let error):
                        throw error
                    }
                }
            }
        } else if !previous.isEmpty {
            await log("prune is off for this app: objects removed from git stay in the cluster")
        }

        // The parent names what the set holds now; with nothing left, it goes too.
        if applied.isEmpty && options.held.isEmpty && (options.prune || previous.isEmpty) {
            await removeParent(options: options, log: log)
        } else {
            await keepParent(members: (options.prune ? applied : previous + applied) + options.held, options: options, log: log)
        }

        // 5. Health.
        try await waitUntilHealthy(applied, applySetID: options.applySetID, timeout: options.wait, daemonSetTimeout: options.daemonSetWait,
                                   what: "the applied objects", log: log)

        // 6. PostSync hooks, once everything is healthy.
        try await runHooks(.postSync)
        return Outcome(applied: applied, pruned: pruned)
    }

    /// How many refusals a failed dry-run names in its reason (the log names them all).
    static let refusalsNamed = 3

    private func dryRun(_ manifests: [Manifest], options: Options, log: Log) async throws(DeployError) {
        let client = self.client
        let results = await Self.concurrently(manifests) { manifest -> Result<Void, KubeError> in
            do throws(KubeError) {
                _ = try await client.apply(manifest.object, fieldManager: Self.fieldManager, force: options.force, dryRun: true)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        var rejected: [String] = []
        for (manifest, result) in zip(manifests, results) {
            if case .failure(let error) = result { rejected.append("\(manifest.place): \(manifest.reference): \(error)") }
        }
        guard rejected.isEmpty else {
            for line in rejected { await log("dry-run rejected \(line)") }
            let named = rejected.prefix(Self.refusalsNamed).joined(separator: "; ")
            let more = rejected.count > Self.refusalsNamed ? "; and \(rejected.count - Self.refusalsNamed) more (see the job log)" : ""
            throw DeployError("the server dry-run rejected \(rejected.count) object(s); nothing was applied: \(named)\(more)")
        }
    }

    /// Applies manifests concurrently, logging them in order; the first failure in plan order stops the deploy.
    private func apply(_ manifests: [Manifest], options: Options, log: @escaping Log) async throws(DeployError) {
        let client = self.client
        let results = await Self.concurrently(manifests) { manifest -> Result<JSONValue, KubeError> in
            do throws(KubeError) {
                return .success(try await client.apply(manifest.object, fieldManager: Self.fieldManager, force: options.force, onRetry: log))
            } catch {
                return .failure(error)
            }
        }
        for (manifest, result) in zip(manifests, results) {
            switch result {
            case .success(let live):
                await log("applied \(manifest.reference) (resourceVersion \(live[path: ["metadata", "resourceVersion"]]?.stringValue ?? "?"))")
            case .failure(let error):
                throw DeployError("applying \(manifest.reference) from \(manifest.place) failed: \(error)")
            }
        }
    }

    /// Consecutive runs of items with the same kind, in order.
    static func runs<T>(of items: [T], kind: (T) -> String) -> [[T]] {
        var runs: [[T]] = []
        for item in items {
            if let last = runs.last?.last, kind(last) == kind(item) { runs[runs.count - 1].append(item) } else { runs.append([item]) }
        }
        return runs
    }

    static func runs(of manifests: [Manifest]) -> [[Manifest]] { runs(of: manifests, kind: \.kind) }

    /// `body` over every item at once, results in the items' order.
    static func concurrently<T: Sendable, R: Sendable>(_ items: [T], _ body: @escaping @Sendable (T) async -> R) async -> [R] {
        await withTaskGroup(of: (Int, R).self) { group in
            for (index, item) in items.enumerated() { group.addTask { (index, await body(item)) } }
            var results = [R?](repeating: nil, count: items.count)
            for await (index, result) in group { results[index] = result }
            return results.map { $0! }
        }
    }

    /// References recorded without a namespace (by Slipway before namespaces were resolved)
    /// get the namespace the plan would have given them; nothing else changes.
    public func resolve(_ references: [ObjectReference], defaultNamespace: String) async -> [ObjectReference] {
        var resolved: [ObjectReference] = []
        for var reference in references {
            if reference.namespace == nil, (try? await client.resource(apiVersion: reference.apiVersion, kind: reference.kind))?.namespaced == true {
                reference.namespace = defaultNamespace
            }
            resolved.append(reference)
        }
        return resolved
    }

    static func defines(_ crd: Manifest, _ manifest: Manifest) -> Bool {
        guard let group = crd.object[path: ["spec", "group"]]?.stringValue, let kind = crd.object[path: ["spec", "names", "kind"]]?.stringValue else { return false }
        return manifest.group == group && manifest.kind == kind
    }

    private func live(_ manifest: Manifest) async throws(DeployError) -> JSONValue? {
        do {
            return try await client.get(apiVersion: manifest.apiVersion, kind: manifest.kind, namespace: manifest.namespace, name: manifest.name)
        } catch {
            throw DeployError("reading \(manifest.reference): \(error)")
        }
    }

    private func apply(_ manifest: Manifest, options: Options, log: @escaping Log) async throws(DeployError) {
        do {
            let result = try await client.apply(manifest.object, fieldManager: Self.fieldManager, force: options.force, onRetry: log)
            await log("applied \(manifest.reference) (resourceVersion \(result[path: ["metadata", "resourceVersion"]]?.stringValue ?? "?"))")
        } catch {
            throw DeployError("applying \(manifest.reference) from \(manifest.place) failed: \(error)")
        }
    }

    /// Deletes an object of the previous inventory, unless it opted out or is not ours; says what it did.
    private func prune(_ reference: ObjectReference, options: Options) async -> Result<(Bool, String), DeployError> {
        do {
            guard let live = try await client.get(apiVersion: reference.apiVersion, kind: reference.kind, namespace: reference.namespace, name: reference.name) else {
                return .success((false, "prune: \(reference) is already gone"))
            }
            if live[path: ["metadata", "annotations", Self.pruneAnnotation]]?.stringValue == "disabled" {
                return .success((false, "prune: keeping \(reference) (annotation \(Self.pruneAnnotation): disabled)"))
            }
            guard live[path: ["metadata", "labels", Self.partOfLabel]]?.stringValue == options.applySetID else {
                return .success((false, "prune: keeping \(reference): it no longer carries this app's ApplySet label"))
            }
            try await client.delete(apiVersion: reference.apiVersion, kind: reference.kind, namespace: reference.namespace, name: reference.name)
            return .success((true, "pruned \(reference)"))
        } catch {
            if case .unknownKind = error {
                return .success((false, "prune: \(reference): the cluster no longer serves its kind"))
            }
            return .failure(DeployError("pruning \(reference) failed: \(error)"))
        }
    }

    /// Writes the ApplySet's parent for `members`. Not being able to write it (the app's
    /// service account may not touch Secrets, its rules deny them) leaves other tools blind to
    /// the set but changes nothing of the deploy, which keeps its own inventory: it is logged.
    private func keepParent(members: [ObjectReference], options: Options, log: Log) async {
        guard let parent = options.applySetParent else { return }
        var seen: Set<String> = []
        let unique = members.filter { seen.insert($0.identity).inserted && $0.identity != parent.reference.identity }
        if let refusal = parentRefusal(parent, options: options) {
            await log("ApplySet parent \(parent.reference) not written: \(refusal)")
            return
        }
        do {
            _ = try await client.apply(parent.object(members: unique), fieldManager: Self.fieldManager, force: true)
        } catch {
            await log("ApplySet parent \(parent.reference) could not be written (\(error)): kubectl and other ApplySet tools will not see this app's set")
        }
    }

    private func removeParent(options: Options, log: Log) async {
        guard let parent = options.applySetParent, parentRefusal(parent, options: options) == nil else { return }
        do {
            if try await client.delete(apiVersion: "v1", kind: "Secret", namespace: parent.namespace, name: parent.name) {
                await log("removed the ApplySet parent \(parent.reference): the app has no objects left")
            }
        } catch {
            await log("ApplySet parent \(parent.reference) could not be removed: \(error)")
        }
    }

    /// Why the app's rules keep it from writing its parent, if they do.
    private func parentRefusal(_ parent: ApplySetParent, options: Options) -> String? {
        guard let rules = options.rules else { return nil }
        let manifest = Manifest(object: parent.object(members: []), source: "ApplySet parent", index: 0, line: 1)
        return rules.violation(manifest)
    }

    /// Waits until every object is healthy, by watching them (see `HealthWait`).
    public func waitUntilHealthy(_ references: [ObjectReference], applySetID: String, timeout: Duration, daemonSetTimeout: Duration? = nil,
                                 what: String, log: @escaping Log) async throws(DeployError) {
        try await HealthWait(client: client, labelSelector: "\(Self.partOfLabel)=\(applySetID)", retryInterval: pollInterval,
                             progressInterval: progressInterval)
            .run(references, timeout: timeout, daemonSetTimeout: daemonSetTimeout, what: what, log: log)
    }
}
