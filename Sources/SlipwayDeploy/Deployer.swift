import Crypto
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
    public var pollInterval: Duration

    public init(client: KubeClient, pollInterval: Duration = .seconds(1)) {
        self.client = client
        self.pollInterval = pollInterval
    }

    /// The ApplySet id of an app, per the ApplySet KEP, for a parent Secret `slipway-APP` in
    /// the app's namespace.
    public static func applySetID(app: String, namespace: String) -> String {
        let digest = SHA256.hash(data: Data("slipway-\(app).\(namespace).Secret.".utf8))
        let encoded = Data(digest).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        return "applyset-\(encoded)-v1"
    }

    public typealias Log = @Sendable (String) async -> Void

    /// Validates, orders and labels `manifests` for this cluster: namespaces filled in from
    /// discovery, every object carrying the ApplySet label.
    public func plan(_ manifests: [Manifest], defaultNamespace: String, applySetID: String) async throws(DeployError) -> ApplyPlan {
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
        return plan
    }

    public func deploy(_ manifests: [Manifest], options: Options, previous: [ObjectReference], log: @escaping Log) async throws(DeployError) -> Outcome {
        let plan = try await plan(manifests, defaultNamespace: options.defaultNamespace, applySetID: options.applySetID)
        await log("plan: \(plan.stages[0].count) CRDs and namespaces, then \(plan.stages[1].count) objects")

        // 1. Server dry-run of everything the cluster can check now.
        var postponed: [Manifest] = []
        var newNamespaces: Set<String> = []
        for manifest in plan.stages[0] where manifest.kind == "Namespace" {
            if try await live(manifest) == nil { newNamespaces.insert(manifest.name) }
        }
        var rejected: [String] = []
        for manifest in plan.all {
            if let namespace = manifest.namespace, newNamespaces.contains(namespace) { postponed.append(manifest); continue }
            if plan.stages[0].contains(where: { $0.kind == "CustomResourceDefinition" && Self.defines($0, manifest) }) {
                postponed.append(manifest)
                continue
            }
            do {
                _ = try await client.apply(manifest.object, fieldManager: Self.fieldManager, force: options.force, dryRun: true, onRetry: log)
            } catch {
                rejected.append("\(manifest.place): \(manifest.reference): \(error)")
            }
        }
        guard rejected.isEmpty else {
            for line in rejected { await log("dry-run rejected \(line)") }
            throw DeployError("the server dry-run rejected \(rejected.count) object(s); nothing was applied: \(rejected.joined(separator: "; "))")
        }
        await log("dry-run: \(plan.all.count - postponed.count) objects accepted\(postponed.isEmpty ? "" : ", \(postponed.count) checked after their namespace or CRD exists")")

        // 2. CRDs and Namespaces, then wait until they can be used.
        var applied: [ObjectReference] = []
        for manifest in plan.stages[0] {
            try await apply(manifest, options: options, log: log)
            applied.append(manifest.reference)
        }
        if !plan.stages[0].isEmpty {
            try await waitUntilHealthy(plan.stages[0].map { $0.reference }, timeout: options.wait, what: "CRDs and namespaces", log: log)
            for manifest in plan.stages[0] where manifest.kind == "CustomResourceDefinition" {
                if let group = manifest.object[path: ["spec", "group"]]?.stringValue {
                    for version in manifest.object[path: ["spec", "versions"]]?.arrayValue ?? [] {
                        if let name = version["name"]?.stringValue { await client.discovery.forget("\(group)/\(name)") }
                    }
                }
            }
        }
        for manifest in postponed where manifest.kind != "Namespace" && manifest.kind != "CustomResourceDefinition" {
            do {
                _ = try await client.apply(manifest.object, fieldManager: Self.fieldManager, force: options.force, dryRun: true, onRetry: log)
            } catch {
                throw DeployError("\(manifest.place): \(manifest.reference): dry-run rejected: \(error)")
            }
        }

        // 3. Everything else, in kind order.
        for manifest in plan.stages[1] {
            try await apply(manifest, options: options, log: log)
            applied.append(manifest.reference)
        }

        // 4. Prune what the previous revision applied and this one does not.
        var pruned: [ObjectReference] = []
        if options.prune {
            let current = Set(applied.map(\.identity))
            for reference in ApplyPlan.pruneOrder(previous.filter { !current.contains($0.identity) }) {
                if try await prune(reference, options: options, log: log) { pruned.append(reference) }
            }
        } else if !previous.isEmpty {
            await log("prune is off for this app: objects removed from git stay in the cluster")
        }

        // 5. Health.
        try await waitUntilHealthy(applied, timeout: options.wait, daemonSetTimeout: options.daemonSetWait, what: "the applied objects", log: log)
        return Outcome(applied: applied, pruned: pruned)
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

    /// Deletes an object of the previous inventory, unless it opted out or is not ours.
    private func prune(_ reference: ObjectReference, options: Options, log: Log) async throws(DeployError) -> Bool {
        do {
            guard let live = try await client.get(apiVersion: reference.apiVersion, kind: reference.kind, namespace: reference.namespace, name: reference.name) else {
                await log("prune: \(reference) is already gone")
                return false
            }
            if live[path: ["metadata", "annotations", Self.pruneAnnotation]]?.stringValue == "disabled" {
                await log("prune: keeping \(reference) (annotation \(Self.pruneAnnotation): disabled)")
                return false
            }
            guard live[path: ["metadata", "labels", Self.partOfLabel]]?.stringValue == options.applySetID else {
                await log("prune: keeping \(reference): it no longer carries this app's ApplySet label")
                return false
            }
            try await client.delete(apiVersion: reference.apiVersion, kind: reference.kind, namespace: reference.namespace, name: reference.name)
            await log("pruned \(reference)")
            return true
        } catch {
            if case .unknownKind = error {
                await log("prune: \(reference): the cluster no longer serves its kind")
                return false
            }
            throw DeployError("pruning \(reference) failed: \(error)")
        }
    }

    /// Polls the objects until every one is healthy; a degraded one fails at once, and the
    /// timeout fails naming what was still not ready.
    public func waitUntilHealthy(_ references: [ObjectReference], timeout: Duration, daemonSetTimeout: Duration? = nil,
                                 what: String, log: Log) async throws(DeployError) {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        let daemonSetDeadline = ContinuousClock.now.advanced(by: daemonSetTimeout ?? timeout)
        var lastReport: [String: String] = [:]
        while true {
            var waiting: [String] = []
            var onlyDaemonSetsWaiting = true
            for reference in references {
                let health: Health
                do {
                    if let object = try await client.get(apiVersion: reference.apiVersion, kind: reference.kind, namespace: reference.namespace, name: reference.name) {
                        health = HealthRules.assess(object)
                    } else {
                        health = .degraded("it does not exist")
                    }
                } catch {
                    health = .progressing("cannot read it: \(error)")
                }
                switch health {
                case .healthy:
                    if lastReport[reference.identity] != nil { await log("healthy: \(reference)") }
                    lastReport[reference.identity] = nil
                case .progressing(let message):
                    waiting.append("\(reference): \(message)")
                    if reference.kind != "DaemonSet" { onlyDaemonSetsWaiting = false }
                    if lastReport[reference.identity] != message {
                        await log("waiting for \(reference): \(message)")
                        lastReport[reference.identity] = message
                    }
                case .degraded(let message):
                    throw DeployError("\(reference) is unhealthy: \(message)")
                }
            }
            if waiting.isEmpty {
                await log("\(what): all \(references.count) healthy")
                return
            }
            if onlyDaemonSetsWaiting, daemonSetTimeout != nil {
                if ContinuousClock.now >= daemonSetDeadline {
                    throw DeployError("DaemonSets were not healthy within their own timeout of \(daemonSetTimeout!): \(waiting.joined(separator: "; "))")
                }
            } else if ContinuousClock.now >= deadline {
                throw DeployError("\(what) were not healthy within \(timeout): \(waiting.joined(separator: "; "))")
            }
            try? await Task.sleep(for: pollInterval)
            if Task.isCancelled { throw DeployError("the deploy was cancelled while waiting for health") }
        }
    }
}
