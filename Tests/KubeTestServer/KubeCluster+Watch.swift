import Foundation
import SlipwayCore

/// One change, kept for watches that start from an earlier resourceVersion.
struct WatchRecord {
    var resourceVersion: Int
    var type: String
    var key: KubeCluster.ObjectKey
    var object: JSONValue
}

/// An open watch: what it selects and where its events go.
struct Watcher {
    var type: ResourceType
    var namespace: String?
    var requirements: [LabelRequirement]
    var continuation: AsyncStream<JSONValue>.Continuation

    func selects(_ record: WatchRecord) -> Bool {
        record.key.group == type.group && record.key.plural == type.plural && (namespace == nil || record.key.namespace == namespace)
            && requirements.allSatisfy { $0.matches(record.object[path: ["metadata", "labels"]]?.objectValue ?? [:]) }
    }
}

/// Watches as the API server serves them (27, 28 of the wire recording): from a LIST's
/// resourceVersion, every later change as an `ADDED`/`MODIFIED`/`DELETED` event; from a
/// version older than what is kept, one `ERROR` event with a 410 `Expired` Status.
extension KubeCluster {
    /// How many changes are kept for watches that start in the past.
    static let historyLimit = 10_000

    func bumpVersion() {
        resourceVersion += 1
    }

    /// Stores (or with nil removes) an object and tells the watches.
    func put(_ key: ObjectKey, _ stored: Stored?) {
        let before = objects[key]
        objects[key] = stored
        let type = stored == nil ? "DELETED" : (before == nil ? "ADDED" : "MODIFIED")
        guard let shown = stored ?? before else { return }
        var object = render(shown)
        object["metadata"]?["resourceVersion"] = .string(String(resourceVersion))
        let record = WatchRecord(resourceVersion: resourceVersion, type: type, key: key, object: object)
        history.append(record)
        if history.count > Self.historyLimit {
            compactedVersion = history[history.count - Self.historyLimit].resourceVersion - 1
            history.removeFirst(history.count - Self.historyLimit)
        }
        for watcher in watchers.values where watcher.selects(record) {
            watcher.continuation.yield(["type": .string(record.type), "object": record.object])
        }
    }

    /// Forgets the history, as etcd's compaction does: watches from any version before now
    /// get 410 Expired.
    public func compactHistory() {
        history.removeAll()
        compactedVersion = resourceVersion
    }

    /// The events of a watch; it ends after `timeout` or when the client goes away.
    func watch(type: ResourceType, namespace: String?, selector: String?, from version: String?, timeout: Duration) -> AsyncStream<JSONValue> {
        let requirements = (try? LabelRequirement.parse(selector ?? "")) ?? []
        let (stream, continuation) = AsyncStream<JSONValue>.makeStream()
        let id = UUID()
        let start = version.flatMap(Int.init) ?? 0
        if start == 0 {
            // No version: the current objects as ADDED, then what changes.
            for (_, stored) in matching(type: type, namespace: namespace, requirements: requirements) {
                continuation.yield(["type": "ADDED", "object": render(stored)])
            }
        } else if start < compactedVersion {
            continuation.yield(["type": "ERROR", "object": [
                "kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Failure",
                "message": .string("too old resource version: \(start) (\(compactedVersion + 1))"), "reason": "Expired", "code": 410,
            ]])
            continuation.finish()
            return stream
        } else {
            let watcher = Watcher(type: type, namespace: namespace, requirements: requirements, continuation: continuation)
            for record in history where record.resourceVersion > start && watcher.selects(record) {
                continuation.yield(["type": .string(record.type), "object": record.object])
            }
        }
        watchers[id] = Watcher(type: type, namespace: namespace, requirements: requirements, continuation: continuation)
        let ending = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            await self?.endWatch(id)
        }
        continuation.onTermination = { [weak self] _ in
            ending.cancel()
            Task { await self?.endWatch(id) }
        }
        return stream
    }

    /// How many watches are open.
    public var openWatches: Int { watchers.count }

    /// Ends every open watch with a 410 `Expired` event, as the API server does when etcd has
    /// compacted past a watch's position; the history goes with it.
    public func expireWatches() {
        compactHistory()
        for id in Array(watchers.keys) {
            watchers[id]?.continuation.yield(["type": "ERROR", "object": [
                "kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Failure",
                "message": .string("too old resource version: \(resourceVersion) (\(compactedVersion + 1))"), "reason": "Expired", "code": 410,
            ]])
            endWatch(id)
        }
    }

    /// Closes every open watch, as a server that shuts down does.
    func endAllWatches() {
        for id in Array(watchers.keys) { endWatch(id) }
    }

    private func endWatch(_ id: UUID) {
        watchers.removeValue(forKey: id)?.continuation.finish()
    }
}
