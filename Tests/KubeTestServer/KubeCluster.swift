import Foundation
public import SlipwayCore

/// The state of the test cluster and the API semantics Slipway relies on: server-side apply
/// with managed fields and conflicts, merge patches from other managers, dry runs, label
/// selectors, CRDs that add resource types, and status that a test writes (playing the
/// controllers that do not run here).
public actor KubeCluster {
    struct ObjectKey: Hashable {
        var group: String
        var plural: String
        var namespace: String
        var name: String
    }

    struct ManagerEntry {
        var manager: String
        var operation: String
        var apiVersion: String
        var fields: Set<FieldPath>
        var time: String
        var subresource: String?
    }

    struct Stored {
        var object: JSONValue
        var managers: [ManagerEntry]
    }

    var catalog: ResourceCatalog
    /// Every write goes through `put`, which tells the watches.
    var objects: [ObjectKey: Stored] = [:]
    var resourceVersion = 200
    /// Changes in resourceVersion order, for watches that start from an earlier version.
    var history: [WatchRecord] = []
    /// Versions up to this one are compacted away: a watch from them gets 410 Expired.
    var compactedVersion = 200
    var watchers: [UUID: Watcher] = [:]
    var watchesPartitioned = false
    /// Objects by the uids their ownerReferences name (the controllers' lookups), made again
    /// after a change to an owned kind.
    var ownedIndex: [String: Set<ObjectKey>]?
    /// The pods the simulated kubelet runs, by uid (see KubeCluster+Kubelet).
    var podRuns: [String: PodRun] = [:]
    /// The kubelet runs containers' commands as local processes (see `ContainerProcess`)
    /// rather than playing their scripts.
    public var runsProcesses = false
    /// Where the pods' volumes are, in process mode (inside the server's own temporary folder).
    var podsRoot: URL?
    /// Asks the controllers for a pass now (process mode: a new pod, a process that ended),
    /// so the stand-in kubelet starts and ends containers at once rather than at its next tick.
    var podWork: (@Sendable () -> Void)?
    /// Open `follow=true` log answers, ended when the server stops.
    var logFollowers: [UUID: AsyncStream<String>.Continuation] = [:]
    /// Bearer tokens and who they are.
    var users: [String: KubeUser] = [:]
    private var injectedFailures: [(status: Int, retryAfter: Int?)] = []
    /// Every request the server handled, as `METHOD path`, for tests to count.
    public private(set) var requestLog: [String] = []

    init(catalog: ResourceCatalog) {
        self.catalog = catalog
    }

    // MARK: Test controls

    /// The next `count` requests get `status` (a `Status` body; `Retry-After` when given).
    public func failNext(_ count: Int, status: Int = 500, retryAfter: Int? = nil) {
        injectedFailures += Array(repeating: (status, retryAfter), count: count)
    }

    /// Forget injected failures (the cluster is reachable again).
    public func clearFailures() {
        injectedFailures.removeAll()
    }

    func takeInjectedFailure() -> (status: Int, retryAfter: Int?)? {
        injectedFailures.isEmpty ? nil : injectedFailures.removeFirst()
    }

    func record(_ line: String) { requestLog.append(line) }

    /// Requests being answered now, and the most there ever were at once.
    private(set) var inFlight = 0
    public private(set) var concurrencyHighWater = 0

    func began() {
        inFlight += 1
        concurrencyHighWater = max(concurrencyHighWater, inFlight)
    }

    func ended() { inFlight -= 1 }

    public func resetConcurrencyHighWater() { concurrencyHighWater = inFlight }

    /// The stored object, as GET would answer it.
    public func object(apiVersion: String, kind: String, namespace: String?, name: String) -> JSONValue? {
        guard let type = type(apiVersion: apiVersion, kind: kind),
              let stored = objects[ObjectKey(group: type.group, plural: type.plural, namespace: type.namespaced ? namespace ?? "" : "", name: name)]
        else { return nil }
        return render(stored)
    }

    /// All stored objects of a kind.
    public func objects(apiVersion: String, kind: String) -> [JSONValue] {
        guard let type = type(apiVersion: apiVersion, kind: kind) else { return [] }
        return objects.filter { $0.key.group == type.group && $0.key.plural == type.plural }
            .sorted { ($0.key.namespace, $0.key.name) < ($1.key.namespace, $1.key.name) }.map { render($0.value) }
    }

    /// Writes `status` as a controller would (its own manager, the status subresource).
    public func setStatus(apiVersion: String, kind: String, namespace: String?, name: String, status: JSONValue) -> Bool {
        guard let type = type(apiVersion: apiVersion, kind: kind) else { return false }
        let key = ObjectKey(group: type.group, plural: type.plural, namespace: type.namespaced ? namespace ?? "" : "", name: name)
        guard var stored = objects[key] else { return false }
        stored.object["status"] = status
        bump(&stored)
        put(key, stored)
        return true
    }

    /// A change by another field manager (`kubectl edit`, an autoscaler): a merge patch.
    public func edit(apiVersion: String, kind: String, namespace: String?, name: String, manager: String, patch: JSONValue) -> Bool {
        guard let type = type(apiVersion: apiVersion, kind: kind) else { return false }
        return mergePatch(type: type, namespace: namespace, name: name, patch: patch, manager: manager, dryRun: false).status == 200
    }

    /// Deletes an object behind Slipway's back.
    public func remove(apiVersion: String, kind: String, namespace: String?, name: String) {
        guard let type = type(apiVersion: apiVersion, kind: kind) else { return }
        let key = ObjectKey(group: type.group, plural: type.plural, namespace: type.namespaced ? namespace ?? "" : "", name: name)
        if objects[key] != nil { bumpVersion(); put(key, nil) }
    }

    func type(apiVersion: String, kind: String) -> ResourceType? {
        let parts = apiVersion.split(separator: "/").map(String.init)
        let (group, version) = parts.count == 2 ? (parts[0], parts[1]) : ("", parts[0])
        return catalog.types.first { $0.group == group && $0.version == version && $0.kind == kind }
    }

    // MARK: API operations

    func exists(type: ResourceType, namespace: String?, name: String) -> Bool {
        objects[key(type, namespace, name)] != nil
    }

    func get(type: ResourceType, namespace: String?, name: String) -> KubeAnswer {
        guard let stored = objects[key(type, namespace, name)] else { return .notFound(type.plural, name, group: type.group) }
        return .json(200, render(stored))
    }

    /// LIST, in key order, `limit` at a time with a `continue` token shaped like the real
    /// server's (base64 of the list's version and the key to start after; 25, 26).
    func list(type: ResourceType, namespace: String?, selector: String?, fieldSelector: String? = nil, limit: Int? = nil, continueToken: String? = nil) -> KubeAnswer {
        let selection: Selection
        do {
            selection = try Selection(labelSelector: selector, fieldSelector: fieldSelector)
        } catch {
            return .failure(400, reason: "BadRequest", message: error.message)
        }
        var listVersion = resourceVersion
        var startAfter: String?
        if let continueToken {
            guard let token = ContinueToken(continueToken) else {
                return .failure(400, reason: "BadRequest", message: "continue key is not valid: illegal base64 data at input byte 0")
            }
            (listVersion, startAfter) = (token.resourceVersion, token.start)
        }
        var items: [JSONValue] = []
        var next: String?
        for (key, stored) in matching(type: type, namespace: namespace, selection: selection) {
            let listKey = namespace == nil && type.namespaced ? "\(key.namespace)/\(key.name)" : key.name
            if let startAfter, listKey + "\u{0}" <= startAfter { continue }
            if let limit, items.count == limit {
                next = ContinueToken(resourceVersion: listVersion, start: (items.last.flatMap { Self.listKey($0, allNamespaces: namespace == nil && type.namespaced) } ?? "") + "\u{0}").text
                break
            }
            var item = render(stored)
            item["apiVersion"] = nil
            item["kind"] = nil
            items.append(item)
        }
        var metadata: JSONValue = ["resourceVersion": .string(String(listVersion))]
        if let next { metadata["continue"] = .string(next) }
        return .json(200, ["apiVersion": .string(type.groupVersion), "kind": .string(type.kind + "List"), "items": .array(items), "metadata": metadata])
    }

    private static func listKey(_ item: JSONValue, allNamespaces: Bool) -> String? {
        guard let name = item[path: ["metadata", "name"]]?.stringValue else { return nil }
        return allNamespaces ? "\(item[path: ["metadata", "namespace"]]?.stringValue ?? "")/\(name)" : name
    }

    /// Stored objects of a type in a namespace (nil: all) that match a selector, in key order.
    func matching(type: ResourceType, namespace: String?, selection: Selection) -> [(key: ObjectKey, value: Stored)] {
        objects.filter { key, stored in
            key.group == type.group && key.plural == type.plural && (namespace == nil || key.namespace == namespace) && selection.matches(stored.object)
        }.sorted { ($0.key.namespace, $0.key.name) < ($1.key.namespace, $1.key.name) }
    }

    /// DELETE as the API server answers it: foreground propagation marks the object (and
    /// answers with it) before the garbage collector removes it; a Namespace turns Terminating
    /// until the namespace controller has emptied it; kinds that return the deleted object do,
    /// the others answer a `Status` Success (29–32 of the wire recording).
    func delete(type: ResourceType, namespace: String?, name: String, dryRun: Bool, propagation: String?, gracePeriod: Int64? = nil) -> KubeAnswer {
        let objectKey = key(type, namespace, name)
        guard var stored = objects[objectKey] else { return .notFound(type.plural, name, group: type.group) }
        let uid = stored.object[path: ["metadata", "uid"]]?.stringValue ?? ""
        if type.kind == "Namespace" {
            if stored.object[path: ["metadata", "deletionTimestamp"]] == nil {
                stored.object["metadata"]?["deletionTimestamp"] = .string(Self.now())
                stored.object["status"] = ["phase": "Terminating"]
                bump(&stored, dryRun: dryRun)
                if !dryRun { put(objectKey, stored) }
            }
            return .json(200, render(stored))
        }
        if type.plural == "pods", !dryRun, let answer = deletePod(objectKey, propagation: propagation, gracePeriod: gracePeriod) { return answer }
        if propagation == "Foreground" {
            stored.object["metadata"]?["deletionTimestamp"] = .string(Self.now())
            stored.object["metadata"]?["deletionGracePeriodSeconds"] = 0
            stored.object["metadata"]?["finalizers"] = ["foregroundDeletion"]
            if let generation = stored.object[path: ["metadata", "generation"]]?.intValue {
                stored.object["metadata"]?["generation"] = .int(generation + 1)
            }
            bump(&stored, dryRun: dryRun)
            if !dryRun {
                // Still there, marked, until the garbage collector has removed its dependents
                // and then it (recorded: workloads 005–007, 441 ms for a ConfigMap).
                put(objectKey, stored)
                collectLater(objectKey, uid: uid)
            }
            return .json(200, render(stored))
        }
        if !dryRun { remove(objectKey, uid: uid) }
        return Self.returnsDeletedObject.contains(type.plural) ? .json(200, render(stored)) : .deleted(type, name, uid: uid)
    }

    /// Kinds whose registry sets `ReturnDeletedObject` (services recorded in the first set).
    static let returnsDeletedObject: Set<String> = ["pods", "services", "serviceaccounts", "storageclasses"]

    /// The garbage collector's pass over a foreground deletion, a little later.
    func collectLater(_ key: ObjectKey, uid: String, after delay: Duration = .milliseconds(400)) {
        Task {
            try? await Task.sleep(for: delay)
            await self.collect(key, uid: uid)
        }
    }

    private func collect(_ key: ObjectKey, uid: String) {
        guard objects[key]?.object[path: ["metadata", "uid"]]?.stringValue == uid else { return }
        remove(key, uid: uid)
    }

    /// Removes an object and, as the garbage collector does, everything it owns.
    func remove(_ key: ObjectKey, uid: String) {
        guard let stored = objects[key] else { return }
        bumpVersion()
        put(key, nil)
        if let run = podRuns[uid], !run.volumes.isEmpty {
            for container in run.allContainers { container.process?.signal(SIGKILL) }
            try? FileManager.default.removeItem(at: podFolder(uid))
        }
        podRuns[uid] = nil
        if key.group == "apiextensions.k8s.io", let group = stored.object[path: ["spec", "group"]]?.stringValue,
           let plural = stored.object[path: ["spec", "names", "plural"]]?.stringValue {
            catalog.remove(group: group, plural: plural)
        }
        let owned = objects.filter { entry in
            (entry.value.object[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []).contains { $0["uid"]?.stringValue == uid }
        }
        for (ownedKey, ownedObject) in owned { remove(ownedKey, uid: ownedObject.object[path: ["metadata", "uid"]]?.stringValue ?? "") }
    }

    func apply(type: ResourceType, namespace: String?, name: String, body: JSONValue, manager: String, force: Bool, dryRun: Bool) -> KubeAnswer {
        guard body["apiVersion"]?.stringValue == type.groupVersion, body["kind"]?.stringValue == type.kind else {
            return .failure(400, reason: "BadRequest",
                            message: "the apiVersion and kind of the body (\(body["apiVersion"]?.stringValue ?? "?")/\(body["kind"]?.stringValue ?? "?")) do not match the URL (\(type.groupVersion)/\(type.kind))")
        }
        guard body[path: ["metadata", "name"]]?.stringValue == name else {
            return .failure(400, reason: "BadRequest", message: "the name of the object (\(body[path: ["metadata", "name"]]?.stringValue ?? "")) does not match the name on the URL (\(name))")
        }
        let objectKey = key(type, namespace, name)
        if let answer = namespaceRefuses(type, namespace, name: name, creating: objects[objectKey] == nil) { return answer }
        let applied = FieldSet.paths(of: body)
        var stored = objects[objectKey] ?? Stored(object: ["apiVersion": .string(type.groupVersion), "kind": .string(type.kind), "metadata": [:]], managers: [])
        let creating = objects[objectKey] == nil

        // Conflicts: fields another manager owns, set here to a different value.
        var conflicts: [(FieldPath, ManagerEntry)] = []
        for entry in stored.managers where entry.manager != manager {
            for path in applied.intersection(entry.fields).sorted(by: { $0.conflictText < $1.conflictText })
            where FieldSet.value(at: path, in: stored.object) != FieldSet.value(at: path, in: body) {
                conflicts.append((path, entry))
            }
        }
        if !conflicts.isEmpty && !force {
            let causes: [JSONValue] = conflicts.map { path, entry in
                ["reason": "FieldManagerConflict", "message": .string("conflict with \"\(entry.manager)\" using \(entry.apiVersion)"), "field": .string(path.conflictText)]
            }
            let message: String
            if conflicts.count == 1 {
                message = "Apply failed with 1 conflict: conflict with \"\(conflicts[0].1.manager)\" using \(conflicts[0].1.apiVersion): \(conflicts[0].0.conflictText)"
            } else {
                message = "Apply failed with \(conflicts.count) conflicts: " + conflicts.map { "conflict with \"\($0.1.manager)\" using \($0.1.apiVersion): \($0.0.conflictText)" }.joined(separator: "\n")
            }
            return .failure(409, reason: "Conflict", message: message, details: ["causes": .array(causes)])
        }
        if force {
            for index in stored.managers.indices where stored.managers[index].manager != manager {
                stored.managers[index].fields.subtract(applied)
            }
        }
        // Fields this manager set before and no longer sets, and nobody else owns, go away.
        let previous = stored.managers.first { $0.manager == manager && $0.operation == "Apply" }?.fields ?? []
        let othersOwn = stored.managers.filter { $0.manager != manager }.reduce(into: Set<FieldPath>()) { $0.formUnion($1.fields) }
        var object = stored.object
        for path in previous.subtracting(applied).subtracting(othersOwn) {
            object = FieldSet.removing(path, from: object)
        }
        var bodyWithoutStatus = body
        bodyWithoutStatus["status"] = nil
        object = FieldSet.merge(bodyWithoutStatus, into: object)
        if type.namespaced { object["metadata"]?["namespace"] = .string(namespace ?? "") }
        if let invalid = validate(type: type, name: name, object: object) { return invalid }
        if let immutable = jobTemplateRefusal(creating ? nil : objects[objectKey], object, name: name) { return immutable }

        stored.managers.removeAll { $0.manager == manager && $0.operation == "Apply" }
        stored.managers.insert(ManagerEntry(manager: manager, operation: "Apply", apiVersion: type.groupVersion, fields: applied,
                                            time: Self.now(), subresource: nil), at: 0)
        stored.managers.removeAll { $0.fields.isEmpty }
        return commit(type: type, key: objectKey, before: creating ? nil : objects[objectKey], object: object, managers: stored.managers, dryRun: dryRun)
    }

    func mergePatch(type: ResourceType, namespace: String?, name: String, patch: JSONValue, manager: String, dryRun: Bool) -> KubeAnswer {
        let objectKey = key(type, namespace, name)
        guard var stored = objects[objectKey] else { return .notFound(type.plural, name, group: type.group) }
        let object = FieldSet.mergePatch(patch, into: stored.object)
        if let invalid = validate(type: type, name: name, object: object) { return invalid }
        let changed = FieldSet.patchPaths(patch)
        // An update takes the fields it changes from whoever owned them.
        for index in stored.managers.indices { stored.managers[index].fields.subtract(changed) }
        if let index = stored.managers.firstIndex(where: { $0.manager == manager && $0.operation == "Update" }) {
            stored.managers[index].fields.formUnion(changed)
            stored.managers[index].time = Self.now()
        } else {
            stored.managers.append(ManagerEntry(manager: manager, operation: "Update", apiVersion: type.groupVersion, fields: changed, time: Self.now(), subresource: nil))
        }
        stored.managers.removeAll { $0.fields.isEmpty }
        return commit(type: type, key: objectKey, before: objects[objectKey], object: object, managers: stored.managers, dryRun: dryRun)
    }

    // MARK: Internals

    private func commit(type: ResourceType, key: ObjectKey, before: Stored?, object: JSONValue, managers: [ManagerEntry], dryRun: Bool) -> KubeAnswer {
        var stored = Stored(object: object, managers: managers)
        if let before {
            if Self.content(before.object) == Self.content(object) {
                // Nothing changed: same resourceVersion, as the API server answers; the
                // managers' entries keep their times when they own the same fields (094).
                stored.object = before.object
                if before.managers.map({ [$0.manager, $0.operation] }) == managers.map({ [$0.manager, $0.operation] })
                    && zip(before.managers, managers).allSatisfy({ $0.fields == $1.fields }) {
                    stored.managers = before.managers
                }
                if !dryRun { objects[key] = stored }
                return .json(200, render(stored))
            }
            if before.object["spec"] != object["spec"] || Self.nonMetadata(before.object) != Self.nonMetadata(object),
               let generation = before.object[path: ["metadata", "generation"]]?.intValue {
                stored.object["metadata"]?["generation"] = .int(generation + 1)
            }
            bump(&stored, dryRun: dryRun)
        } else {
            created(&stored, type: type)
            bump(&stored, dryRun: dryRun)
        }
        let answer = KubeAnswer.json(before == nil ? 201 : 200, render(stored))
        if !dryRun {
            put(key, stored)
            if before == nil, type.kind == "Namespace" { publishRootCA(in: key.name) }
            // The stand-in kubelet takes a new pod at once (process mode).
            if before == nil, type.kind == "Pod", runsProcesses { podWork?() }
            if type.group == "apiextensions.k8s.io", type.kind == "CustomResourceDefinition" { establish(key) }
        }
        return answer
    }

    func created(_ stored: inout Stored, type: ResourceType) {
        stored.object["metadata"]?["uid"] = .string(UUID().uuidString.lowercased())
        stored.object["metadata"]?["creationTimestamp"] = .string(Self.now())
        // As the API server does: generation for the API groups' objects, not for core ones.
        if !type.group.isEmpty && type.group != "rbac.authorization.k8s.io" { stored.object["metadata"]?["generation"] = 1 }
        switch type.kind {
        case "Namespace":
            let name = stored.object[path: ["metadata", "name"]] ?? ""
            var labels = stored.object[path: ["metadata", "labels"]]?.objectValue ?? [:]
            labels["kubernetes.io/metadata.name"] = name
            stored.object["metadata"]?["labels"] = .object(labels)
            stored.object["spec"] = ["finalizers": ["kubernetes"]]
            stored.object["status"] = ["phase": "Active"]
        case "Job":
            defaultJob(&stored)
        case "Pod":
            if stored.object["status"] == nil { stored.object["status"] = ["phase": "Pending", "qosClass": "BestEffort"] }
        default:
            break
        }
    }

    /// What the API server does right after a CRD is created: accept its names, mark it
    /// Established (as the `kube-apiserver` manager, on the status subresource), and serve it.
    private func establish(_ key: ObjectKey) {
        guard var stored = objects[key] else { return }
        let now = Self.now()
        let status: JSONValue = [
            "acceptedNames": stored.object[path: ["spec", "names"]] ?? [:],
            "conditions": [
                ["type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": .string(now)],
                ["type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": .string(now)],
            ],
        ]
        var full = status
        full["storedVersions"] = .array((stored.object[path: ["spec", "versions"]]?.arrayValue ?? []).filter { $0["storage"]?.boolValue == true }.compactMap { $0["name"] })
        stored.object["status"] = full
        let fields = Set(FieldSet.paths(of: ["spec": status]).map { [PathElement.field("status")] + $0.dropFirst() })
        stored.managers.append(ManagerEntry(manager: "kube-apiserver", operation: "Update", apiVersion: "apiextensions.k8s.io/v1",
                                            fields: fields, time: now, subresource: "status"))
        bump(&stored)
        put(key, stored)
        registerCRD(stored.object)
    }

    private func registerCRD(_ crd: JSONValue) {
        guard let group = crd[path: ["spec", "group"]]?.stringValue, let plural = crd[path: ["spec", "names", "plural"]]?.stringValue,
              let kind = crd[path: ["spec", "names", "kind"]]?.stringValue else { return }
        let namespaced = crd[path: ["spec", "scope"]]?.stringValue != "Cluster"
        for version in crd[path: ["spec", "versions"]]?.arrayValue ?? [] where version["served"]?.boolValue != false {
            guard let name = version["name"]?.stringValue else { continue }
            catalog.add(ResourceType(group: group, version: name, kind: kind, plural: plural, namespaced: namespaced))
        }
    }

    func bump(_ stored: inout Stored, dryRun: Bool = false) {
        if !dryRun { bumpVersion() }
        stored.object["metadata"]?["resourceVersion"] = .string(String(resourceVersion + (dryRun ? 1 : 0)))
    }

    func key(_ type: ResourceType, _ namespace: String?, _ name: String) -> ObjectKey {
        ObjectKey(group: type.group, plural: type.plural, namespace: type.namespaced ? namespace ?? "" : "", name: name)
    }

    /// 404 for a missing namespace; 403 for new content in a terminating one (33).
    private func namespaceRefuses(_ type: ResourceType, _ namespace: String?, name: String, creating: Bool) -> KubeAnswer? {
        guard type.namespaced, let namespace else { return nil }
        guard let stored = objects[ObjectKey(group: "", plural: "namespaces", namespace: "", name: namespace)] else {
            return .notFound("namespaces", namespace)
        }
        guard creating, stored.object[path: ["metadata", "deletionTimestamp"]] != nil else { return nil }
        return .failure(403, reason: "Forbidden",
                        message: "\(type.plural) \"\(name)\" is forbidden: unable to create new content in namespace \(namespace) because it is being terminated",
                        details: ["name": .string(name), "kind": .string(type.plural),
                                  "causes": [["reason": "NamespaceTerminating", "message": .string("namespace \(namespace) is being terminated"),
                                              "field": "metadata.namespace"]]])
    }

    /// What kube-controller-manager's root CA publisher adds to every new namespace.
    private func publishRootCA(in namespace: String) {
        let key = ObjectKey(group: "", plural: "configmaps", namespace: namespace, name: "kube-root-ca.crt")
        var stored = Stored(object: ["apiVersion": "v1", "kind": "ConfigMap",
                                     "metadata": ["name": "kube-root-ca.crt", "namespace": .string(namespace),
                                                  "annotations": ["kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."]],
                                     "data": ["ca.crt": "-----BEGIN CERTIFICATE-----\n(test cluster)\n-----END CERTIFICATE-----\n"]],
                            managers: [ManagerEntry(manager: "kube-controller-manager", operation: "Update", apiVersion: "v1",
                                                    fields: FieldSet.paths(of: ["data": ["ca.crt": ""], "metadata": ["annotations": ["kubernetes.io/description": ""]]]),
                                                    time: Self.now(), subresource: nil)])
        guard let type = catalog.type(group: "", version: "v1", plural: "configmaps") else { return }
        created(&stored, type: type)
        bump(&stored)
        put(key, stored)
    }

    /// The object with its managed fields, as the API server shows it.
    func render(_ stored: Stored) -> JSONValue {
        var object = stored.object
        object["metadata"]?["managedFields"] = .array(stored.managers.map { entry in
            var field: JSONValue = ["manager": .string(entry.manager), "operation": .string(entry.operation), "apiVersion": .string(entry.apiVersion),
                                    "time": .string(entry.time), "fieldsType": "FieldsV1", "fieldsV1": FieldSet.fieldsV1(entry.fields)]
            if let subresource = entry.subresource { field["subresource"] = .string(subresource) }
            return field
        })
        return object
    }

    /// What counts as a change: everything but server-set metadata.
    private static func content(_ object: JSONValue) -> JSONValue {
        var copy = object
        for key in ["resourceVersion", "managedFields", "generation", "uid", "creationTimestamp"] { copy["metadata"]?[key] = nil }
        return copy
    }

    private static func nonMetadata(_ object: JSONValue) -> JSONValue {
        var copy = object
        copy["metadata"] = nil
        copy["status"] = nil
        return copy
    }

    static func now() -> String {
        Date().formatted(.iso8601)
    }

    /// The checks the API server makes that Slipway's tests rely on (Deployments only).
    private func validate(type: ResourceType, name: String, object: JSONValue) -> KubeAnswer? {
        guard type.kind == "Deployment" else { return nil }
        var causes: [(field: String, message: String, reason: String)] = []
        if let replicas = object[path: ["spec", "replicas"]]?.intValue, replicas < 0 {
            causes.append(("spec.replicas", "Invalid value: \(replicas): must be greater than or equal to 0", "FieldValueInvalid"))
        }
        let selector = object[path: ["spec", "selector", "matchLabels"]]?.objectValue ?? [:]
        let labels = object[path: ["spec", "template", "metadata", "labels"]]?.objectValue ?? [:]
        if selector.isEmpty || !selector.allSatisfy({ labels[$0.key] == $0.value }) {
            let shown = labels.keys.sorted().map { "\"\($0)\":\"\(labels[$0]?.stringValue ?? "")\"" }.joined(separator: ", ")
            causes.append(("spec.template.metadata.labels", "Invalid value: map[string]string{\(shown)}: `selector` does not match template `labels`", "FieldValueInvalid"))
        }
        if (object[path: ["spec", "template", "spec", "containers"]]?.arrayValue ?? []).isEmpty {
            causes.append(("spec.template.spec.containers", "Required value", "FieldValueRequired"))
        }
        guard !causes.isEmpty else { return nil }
        let listed = causes.map { "\($0.field): \($0.message)" }
        let message = "Deployment.apps \"\(name)\" is invalid: " + (listed.count == 1 ? listed[0] : "[" + listed.joined(separator: ", ") + "]")
        return .failure(422, reason: "Invalid", message: message, details: [
            "name": .string(name), "group": "apps", "kind": "Deployment",
            "causes": .array(causes.map { ["field": .string($0.field), "message": .string($0.message), "reason": .string($0.reason)] }),
        ])
    }
}
