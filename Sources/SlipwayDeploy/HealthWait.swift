import Foundation
public import SlipwayCore
public import SlipwayKube

/// Waits until objects are healthy by watching them: one LIST per resource type and namespace
/// (by the app's ApplySet label), then a watch from that LIST's resourceVersion, listing again
/// when the server says the version expired (410). So "healthy" is seen as soon as the API
/// says it, with no polling. A degraded object fails at once; the timeout fails with the
/// picture of what is missing.
public struct HealthWait: Sendable {
    public let client: KubeClient
    /// Selects the objects waited for (every applied object carries the ApplySet label).
    public let labelSelector: String
    /// How long to wait before listing again after the API could not be read.
    public var retryInterval: Duration
    /// How often to log what a waiting Deployment is missing.
    public var progressInterval: Duration

    public init(client: KubeClient, labelSelector: String, retryInterval: Duration = .seconds(1), progressInterval: Duration = .seconds(5)) {
        self.client = client
        self.labelSelector = labelSelector
        self.retryInterval = retryInterval
        self.progressInterval = progressInterval
    }

    private enum Update: Sendable {
        /// Objects read (nil: it does not exist).
        case objects([String: JSONValue?])
        /// The objects of a group cannot be read right now.
        case unreadable([String], String)
        case tick
    }

    private struct Group: Sendable {
        var apiVersion: String
        var kind: String
        var namespace: String?
        var identities: Set<String>
    }

    public func run(_ references: [ObjectReference], timeout: Duration, daemonSetTimeout: Duration? = nil,
                    what: String, log: @escaping Deployer.Log) async throws(DeployError) {
        guard !references.isEmpty else { return }
        let start = ContinuousClock.now
        let deadline = start.advanced(by: timeout)
        let daemonSetDeadline = start.advanced(by: daemonSetTimeout ?? timeout)
        var groups: [String: Group] = [:]
        for reference in references {
            groups["\(reference.apiVersion)|\(reference.kind)|\(reference.namespace ?? "")", default:
                Group(apiVersion: reference.apiVersion, kind: reference.kind, namespace: reference.namespace, identities: [])]
                .identities.insert(reference.identity)
        }
        let (updates, continuation) = AsyncStream<Update>.makeStream()
        var outcome: Result<Void, DeployError> = .success(())
        await withTaskGroup(of: Void.self) { tasks in
            for group in groups.values { tasks.addTask { await follow(group, into: continuation) } }
            tasks.addTask { [retryInterval] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: min(retryInterval, .seconds(1)))
                    continuation.yield(.tick)
                }
            }
            var live: [String: JSONValue?] = [:]
            var problems: [String: String] = [:]
            // Deadline conditions found to be an earlier rollout's, by resourceVersion.
            var earlier: [String: (version: String, replicaSet: String)] = [:]
            var reported: [String: String] = [:]
            var lastPicture = start
            for await update in updates {
                switch update {
                case .objects(let objects):
                    for (identity, object) in objects {
                        live[identity] = object
                        problems[identity] = nil
                    }
                case .unreadable(let identities, let why):
                    for identity in identities { problems[identity] = why }
                case .tick:
                    break
                }
                var waiting: [(ObjectReference, String)] = []
                var failure: DeployError?
                for reference in references {
                    var health: Health
                    if let problem = problems[reference.identity] {
                        health = .progressing("cannot read it: \(problem)")
                    } else if let known = live[reference.identity] {
                        health = known.map(HealthRules.assess) ?? .degraded("it does not exist")
                    } else {
                        health = .progressing("not read yet")
                    }
                    if case .degraded = health, reference.kind == "Deployment", let object = live[reference.identity] ?? nil,
                       let replicaSet = HealthRules.deadlineReplicaSet(object) {
                        let version = object[path: ["metadata", "resourceVersion"]]?.stringValue ?? ""
                        if earlier[reference.identity]?.version != version {
                            let stale = await RolloutPicture.deadlineIsFromEarlierRollout(object, replicaSet: replicaSet, client: client) == true
                            earlier[reference.identity] = stale ? (version, replicaSet) : nil
                        }
                        if let stale = earlier[reference.identity] {
                            health = .progressing("the Progressing condition ProgressDeadlineExceeded names ReplicaSet \(stale.replicaSet) of an earlier rollout; waiting for the controller to replace it")
                        }
                    }
                    switch health {
                    case .healthy:
                        if reported.removeValue(forKey: reference.identity) != nil { await log("healthy: \(reference)") }
                    case .progressing(let message):
                        waiting.append((reference, message))
                        if reported[reference.identity] != message, message != "not read yet" {
                            await log("waiting for \(reference): \(message)")
                            reported[reference.identity] = message
                        }
                    case .degraded(let message):
                        failure = failure ?? DeployError("\(reference) is unhealthy: \(message)")
                    }
                }
                if let failure {
                    outcome = .failure(failure)
                    break
                }
                if waiting.isEmpty {
                    await log("\(what): all \(references.count) healthy")
                    break
                }
                let now = ContinuousClock.now
                let onlyDaemonSets = waiting.allSatisfy { $0.0.kind == "DaemonSet" }
                // Objects are judged once read: a short timeout does not fail what was not seen yet.
                let unread = waiting.contains { $0.1 == "not read yet" } && now < deadline + .seconds(30)
                let timedOut = !unread && (onlyDaemonSets && daemonSetTimeout != nil ? now >= daemonSetDeadline : now >= deadline)
                if timedOut || now - lastPicture >= progressInterval {
                    lastPicture = now
                    var pictures: [String] = []
                    for (reference, message) in waiting {
                        if reference.kind == "Deployment", let object = live[reference.identity] ?? nil {
                            pictures.append("\(reference): \(message); \(await RolloutPicture.describe(object, client: client))")
                        } else {
                            pictures.append("\(reference): \(message)")
                        }
                    }
                    if timedOut {
                        let limit = onlyDaemonSets && daemonSetTimeout != nil
                            ? "DaemonSets were not healthy within their own timeout of \(daemonSetTimeout!)"
                            : "\(what) were not healthy within \(timeout)"
                        outcome = .failure(DeployError("\(limit): \(pictures.joined(separator: "; "))"))
                        break
                    }
                    for picture in pictures { await log("still waiting: \(picture)") }
                }
                if Task.isCancelled {
                    outcome = .failure(DeployError("the deploy was cancelled while waiting for health"))
                    break
                }
            }
            continuation.finish()
            tasks.cancelAll()
        }
        try outcome.get()
    }

    /// Lists a group, then watches it; lists again after a 410 or when the watch ends.
    private func follow(_ group: Group, into updates: AsyncStream<Update>.Continuation) async {
        func identity(_ object: JSONValue) -> String {
            ObjectReference(apiVersion: group.apiVersion, kind: group.kind, namespace: object[path: ["metadata", "namespace"]]?.stringValue,
                            name: object[path: ["metadata", "name"]]?.stringValue ?? "").identity
        }
        while !Task.isCancelled {
            do {
                let (items, version) = try await client.listWithVersion(apiVersion: group.apiVersion, kind: group.kind,
                                                                        namespace: group.namespace, labelSelector: labelSelector)
                var snapshot: [String: JSONValue?] = Dictionary(uniqueKeysWithValues: group.identities.map { ($0, JSONValue?.none) })
                for item in items {
                    let id = identity(item)
                    if group.identities.contains(id) { snapshot[id] = item }
                }
                updates.yield(.objects(snapshot))
                for try await event in client.watch(apiVersion: group.apiVersion, kind: group.kind, namespace: group.namespace,
                                                    labelSelector: labelSelector, resourceVersion: version) {
                    switch event {
                    case .added(let object), .modified(let object):
                        if group.identities.contains(identity(object)) { updates.yield(.objects([identity(object): object])) }
                    case .deleted(let object):
                        if group.identities.contains(identity(object)) { updates.yield(.objects([identity(object): JSONValue?.none])) }
                    case .bookmark:
                        break
                    }
                }
            } catch {
                if Task.isCancelled { return }
                // 410 Expired: the version is gone; list again at once.
                if (error as? KubeError)?.code == 410 { continue }
                updates.yield(.unreadable(Array(group.identities), "\(error)"))
                try? await Task.sleep(for: retryInterval)
            }
        }
    }
}
