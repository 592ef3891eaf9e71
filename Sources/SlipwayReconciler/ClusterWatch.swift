import Foundation
import Logging
import SlipwayCore
import SlipwayDeploy
import SlipwayKube

/// An object of an app that a watch saw change in a way the app's status should follow.
struct ObservedChange: Sendable {
    var applySetID: String
    var reference: ObjectReference
    /// The object after the change; nil when it is gone.
    var live: JSONValue?
    var change: WatchedObject.Change
}

/// One cluster's watches of Slipway's objects: for each resource type any app deploys, one
/// LIST and then one watch of every namespace, selecting by the ApplySet label, shared by all
/// apps of the cluster. An expired watch (410) lists again and reports what changed in
/// between; a watch that ends resumes from the last event's or bookmark's resourceVersion.
actor ClusterWatch {
    struct ResourceType: Hashable, Sendable {
        var apiVersion: String
        var kind: String
    }

    let cluster: String
    private let client: KubeClient
    private let logger: Logger
    private let onChange: @Sendable ([ObservedChange]) async -> Void
    private let onRelist: @Sendable () -> Void
    private let watchTimeout: Duration
    private var tasks: [ResourceType: Task<Void, Never>] = [:]
    /// Per resource type, what was last seen of each object (by identity).
    private var seen: [ResourceType: [String: WatchedObject]] = [:]

    init(cluster: String, client: KubeClient, logger: Logger, watchTimeout: Duration = .seconds(45),
         onRelist: @escaping @Sendable () -> Void = {}, onChange: @escaping @Sendable ([ObservedChange]) async -> Void) {
        self.cluster = cluster
        self.client = client
        self.logger = logger
        self.watchTimeout = watchTimeout
        self.onRelist = onRelist
        self.onChange = onChange
    }

    /// Starts watching each of `types` not watched yet.
    func watch(_ types: Set<ResourceType>) {
        for type in types where tasks[type] == nil {
            tasks[type] = Task { await self.follow(type) }
        }
    }

    func stop() {
        for task in tasks.values { task.cancel() }
        tasks = [:]
    }

    /// LIST, then watch from the list's version for as long as the task lives.
    private func follow(_ type: ResourceType) async {
        var failures = 0
        while !Task.isCancelled {
            do throws(KubeError) {
                var version = try await relist(type)
                failures = 0
                while !Task.isCancelled {
                    version = try await watchOnce(type, from: version)
                }
            } catch {
                if Task.isCancelled { return }
                if error.code == 410 {
                    // The version is older than the server keeps: list again, compare.
                    logger.info("watch expired; listing again", metadata: ["cluster": "\(cluster)", "kind": "\(type.kind)"])
                    continue
                }
                failures += 1
                // Not allowed (a cluster credential without cluster-wide list and watch), or a
                // cluster away: the periodic check still sees drift; try again later.
                let forbidden = error.code == 403 || error.code == 401
                let delay: Duration = forbidden ? .seconds(300) : .seconds(min(60, 1 << min(failures, 6)))
                logger.warning(forbidden ? "cannot watch Slipway's objects cluster-wide; drift is seen at each app's interval" : "watch failed; trying again",
                               metadata: ["cluster": "\(cluster)", "kind": "\(type.kind)", "error": "\(error)", "retry-in": "\(delay)"])
                try? await Task.sleep(for: delay)
            }
        }
    }

    /// Lists every Slipway object of a type and returns the list's version. After an expired
    /// watch, what changed since the last event is reported as the events would have been.
    private func relist(_ type: ResourceType) async throws(KubeError) -> String {
        let before = seen[type]
        var now: [String: WatchedObject] = [:]
        var changes: [ObservedChange] = []
        let version = try await client.listPages(apiVersion: type.apiVersion, kind: type.kind, namespace: nil,
                                                 labelSelector: Deployer.partOfLabel) { page in
            for object in page {
                guard let watched = WatchedObject(object) else { continue }
                let reference = Self.reference(object, type)
                now[reference.identity] = watched
                guard let before else { continue }
                let change = watched.change(since: before[reference.identity])
                if change != .none { changes.append(ObservedChange(applySetID: watched.applySetID, reference: reference, live: object, change: change)) }
            }
        }
        if let before {
            onRelist()
            for (identity, gone) in before where now[identity] == nil {
                changes.append(ObservedChange(applySetID: gone.applySetID, reference: Self.reference(identity: identity, type), live: nil, change: .drift))
            }
        }
        seen[type] = now
        if !changes.isEmpty { await onChange(changes) }
        return version
    }

    /// One watch request, until the server ends it; returns the version to resume from.
    private func watchOnce(_ type: ResourceType, from version: String) async throws(KubeError) -> String {
        var version = version
        do {
            for try await event in client.watch(apiVersion: type.apiVersion, kind: type.kind, namespace: nil,
                                                labelSelector: Deployer.partOfLabel, resourceVersion: version, timeout: watchTimeout) {
                switch event {
                case .bookmark(let at):
                    if !at.isEmpty { version = at }
                case .added(let object), .modified(let object):
                    version = object[path: ["metadata", "resourceVersion"]]?.stringValue ?? version
                    let reference = Self.reference(object, type)
                    let earlier = seen[type]?[reference.identity]
                    guard let watched = WatchedObject(object) else { continue }
                    seen[type, default: [:]][reference.identity] = watched
                    let change = watched.change(since: earlier)
                    if change != .none { await onChange([ObservedChange(applySetID: watched.applySetID, reference: reference, live: object, change: change)]) }
                case .deleted(let object):
                    version = object[path: ["metadata", "resourceVersion"]]?.stringValue ?? version
                    let reference = Self.reference(object, type)
                    let earlier = seen[type]?.removeValue(forKey: reference.identity)
                    // Deleted, or relabelled out of the selector (the event shows the old labels).
                    guard let applySetID = earlier?.applySetID ?? WatchedObject(object)?.applySetID else { continue }
                    await onChange([ObservedChange(applySetID: applySetID, reference: reference, live: nil, change: .drift)])
                }
            }
        } catch let error as KubeError {
            throw error
        } catch {
            throw .transport("\(error)")
        }
        return version
    }

    private static func reference(_ object: JSONValue, _ type: ResourceType) -> ObjectReference {
        ObjectReference(apiVersion: type.apiVersion, kind: type.kind, namespace: object[path: ["metadata", "namespace"]]?.stringValue,
                        name: object[path: ["metadata", "name"]]?.stringValue ?? "")
    }

    /// The reference back from an identity (`group/kind/namespace/name`).
    private static func reference(identity: String, _ type: ResourceType) -> ObjectReference {
        let parts = identity.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        let namespace = parts.count >= 4 && !parts[parts.count - 2].isEmpty ? parts[parts.count - 2] : nil
        return ObjectReference(apiVersion: type.apiVersion, kind: type.kind, namespace: namespace, name: parts.last ?? "")
    }
}
