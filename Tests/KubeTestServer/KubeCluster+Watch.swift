import Foundation
import SlipwayCore

/// One change, kept for watches that start from an earlier resourceVersion.
struct WatchRecord {
    var resourceVersion: Int
    var type: String
    var key: KubeCluster.ObjectKey
    /// The object after the change (for DELETED: its last state), at the change's version.
    var object: JSONValue
    /// The object before the change, for a watch whose selector it leaves or enters.
    var previous: JSONValue?
}

/// An open watch: what it selects and where its events go.
struct Watcher {
    var type: ResourceType
    var namespace: String?
    var selection: Selection
    var continuation: AsyncStream<JSONValue>.Continuation

    /// The event this watch sees of a change, if any. As recorded (workloads 034): an object
    /// relabelled out of the selector is DELETED (its previous content, the new version), one
    /// relabelled into it is ADDED.
    func event(_ record: WatchRecord) -> JSONValue? {
        guard record.key.group == type.group && record.key.plural == type.plural && (namespace == nil || record.key.namespace == namespace) else { return nil }
        let before = record.previous.map(selection.matches) ?? false
        switch record.type {
        case "ADDED":
            return selection.matches(record.object) ? ["type": "ADDED", "object": record.object] : nil
        case "DELETED":
            return before || selection.matches(record.object) ? ["type": "DELETED", "object": record.object] : nil
        default:
            let now = selection.matches(record.object)
            if before && now { return ["type": "MODIFIED", "object": record.object] }
            if now { return ["type": "ADDED", "object": record.object] }
            guard before, var gone = record.previous else { return nil }
            gone["metadata"]?["resourceVersion"] = record.object[path: ["metadata", "resourceVersion"]]
            return ["type": "DELETED", "object": gone]
        }
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
        if Self.ownedKinds.contains(key.plural) { ownedIndex = nil }
        let type = stored == nil ? "DELETED" : (before == nil ? "ADDED" : "MODIFIED")
        guard let shown = stored ?? before else { return }
        var object = render(shown)
        object["metadata"]?["resourceVersion"] = .string(String(resourceVersion))
        let record = WatchRecord(resourceVersion: resourceVersion, type: type, key: key, object: object,
                                 previous: stored == nil ? nil : before.map(render))
        history.append(record)
        if history.count > Self.historyLimit {
            compactedVersion = history[history.count - Self.historyLimit].resourceVersion - 1
            history.removeFirst(history.count - Self.historyLimit)
        }
        guard !watchesPartitioned else { return }
        for watcher in watchers.values {
            if let event = watcher.event(record) { watcher.continuation.yield(event) }
        }
    }

    /// While partitioned, open watches get no events (a connection that stalls); changes are
    /// still kept for watches that start later from an earlier version.
    public func partitionWatches(_ partitioned: Bool) {
        watchesPartitioned = partitioned
    }

    /// Forgets the history, as etcd's compaction does: watches from any version before now
    /// get 410 Expired.
    public func compactHistory() {
        history.removeAll()
        compactedVersion = resourceVersion
    }

    /// The events of a watch; it ends after `timeout` or when the client goes away. With
    /// `bookmarks` (allowWatchBookmarks), a BOOKMARK event carrying only the current
    /// resourceVersion comes every minute and a second before the timeout, as recorded.
    func watch(type: ResourceType, namespace: String?, selection: Selection, from version: String?, timeout: Duration,
               bookmarks: Bool = false) -> AsyncStream<JSONValue> {
        let (stream, continuation) = AsyncStream<JSONValue>.makeStream()
        let id = UUID()
        let start = version.flatMap(Int.init) ?? 0
        let watcher = Watcher(type: type, namespace: namespace, selection: selection, continuation: continuation)
        if start == 0 {
            // No version: the current objects as ADDED, then what changes.
            for (_, stored) in matching(type: type, namespace: namespace, selection: selection) {
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
            for record in history where record.resourceVersion > start {
                if let event = watcher.event(record) { continuation.yield(event) }
            }
        }
        watchers[id] = watcher
        let ending = Task { [weak self] in
            if bookmarks {
                let clock = ContinuousClock()
                let end = clock.now.advanced(by: timeout)
                var next = clock.now.advanced(by: .seconds(60))
                while next < end.advanced(by: .seconds(-1)) {
                    try? await Task.sleep(until: next, clock: clock)
                    await self?.bookmark(id, type: type)
                    next = next.advanced(by: .seconds(60))
                }
                if timeout > .seconds(1) {
                    try? await Task.sleep(until: end.advanced(by: .seconds(-1)), clock: clock)
                    await self?.bookmark(id, type: type)
                }
                try? await Task.sleep(until: end, clock: clock)
            } else {
                try? await Task.sleep(for: timeout)
            }
            await self?.endWatch(id)
        }
        continuation.onTermination = { [weak self] _ in
            ending.cancel()
            Task { await self?.endWatch(id) }
        }
        return stream
    }

    private func bookmark(_ id: UUID, type: ResourceType) {
        watchers[id]?.continuation.yield(["type": "BOOKMARK", "object": [
            "kind": .string(type.kind), "apiVersion": .string(type.groupVersion),
            "metadata": ["resourceVersion": .string(String(resourceVersion)), "creationTimestamp": .null],
        ]])
    }

    /// How many watches are open.
    public var openWatches: Int { watchers.count }

    /// How many watches of a kind over all namespaces (or in `namespace`) are open.
    public func openWatches(ofKind kind: String, namespace: String? = nil) -> Int {
        watchers.values.filter { $0.type.kind == kind && $0.namespace == namespace }.count
    }

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
