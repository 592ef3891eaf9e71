import Foundation
import SlipwayCore

/// The controllers that do not run here, played just far enough for Slipway's tests.
extension KubeCluster {
    /// Plays the workload controllers that do not run here, in passes as the real ones write
    /// (`workloads/` 050–078 of the recorded answers): after an apply, a Deployment first gets
    /// the ReplicaSet of its template (created, or an older one adopted with the next revision)
    /// with its status untouched, then `observedGeneration` caught up while the conditions
    /// and counts are still those of the rollout before, and only then the new rollout's
    /// outcome. StatefulSets and DaemonSets get the same two last passes. One pass per object
    /// per call (the loop calls every 50 ms), so a client sees every state in between.
    ///
    /// Outcomes: a finished rollout; an image tagged `broken` reports ProgressDeadlineExceeded
    /// naming its ReplicaSet while the old pods keep serving; a Deployment with an image
    /// tagged `unschedulable` gets Pending pods (as a cluster without room does: the
    /// Deployment controller never reports a deadline for a scale-up).
    public func reconcileWorkloads() {
        finalizeTerminatingNamespaces()
        runJobs()
        runPods()
        for (key, stored) in objects where key.group == "apps" && key.plural == "deployments" {
            rollOut(key, stored)
        }
        for (key, stored) in objects where key.group == "apps" && ["statefulsets", "daemonsets"].contains(key.plural) {
            let generation = stored.object[path: ["metadata", "generation"]]?.intValue ?? 1
            var status = stored.object["status"] ?? [:]
            if status["observedGeneration"]?.intValue != generation {
                status["observedGeneration"] = .int(generation)
            } else {
                status = settledStatus(key, stored, generation: generation)
            }
            writeStatus(key, stored, status)
        }
    }

    private func settledStatus(_ key: ObjectKey, _ stored: Stored, generation: Int64) -> JSONValue {
        let replicas = stored.object[path: ["spec", "replicas"]]?.intValue ?? 1
        if images(stored.object).contains(where: { $0.hasSuffix(":broken") }) {
            return ["observedGeneration": .int(generation), "replicas": .int(replicas), "updatedReplicas": .int(replicas),
                    "unavailableReplicas": .int(replicas),
                    "conditions": [["type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                                    "message": .string("ReplicaSet \"\(key.name)\" has timed out progressing.")]]]
        }
        if key.plural == "statefulsets" {
            return ["observedGeneration": .int(generation), "replicas": .int(replicas), "readyReplicas": .int(replicas),
                    "updatedReplicas": .int(replicas), "currentRevision": "r1", "updateRevision": "r1"]
        }
        return ["observedGeneration": .int(generation), "desiredNumberScheduled": 2, "updatedNumberScheduled": 2, "numberAvailable": 2]
    }

    private func images(_ workload: JSONValue) -> [String] {
        (workload[path: ["spec", "template", "spec", "containers"]]?.arrayValue ?? []).compactMap { $0["image"]?.stringValue }
    }

    /// Writes `status` when it differs from the stored one.
    private func writeStatus(_ key: ObjectKey, _ stored: Stored, _ status: JSONValue) {
        guard stored.object["status"] != status else { return }
        var updated = stored
        updated.object["status"] = status
        bump(&updated)
        put(key, updated)
    }

    /// One pass of the Deployment controller over `deployment` (see `reconcileWorkloads`).
    private func rollOut(_ key: ObjectKey, _ deployment: Stored) {
        guard deployment.object[path: ["metadata", "deletionTimestamp"]] == nil else { return }
        let generation = deployment.object[path: ["metadata", "generation"]]?.intValue ?? 1
        let replicas = deployment.object[path: ["spec", "replicas"]]?.intValue ?? 1
        let template = deployment.object[path: ["spec", "template"]] ?? [:]
        let uid = deployment.object[path: ["metadata", "uid"]]?.stringValue ?? ""
        let sets = owned(by: uid, plural: "replicasets", namespace: key.namespace)
        func revision(_ object: JSONValue) -> Int64 {
            Int64(object[path: ["metadata", "annotations", "deployment.kubernetes.io/revision"]]?.stringValue ?? "") ?? 0
        }
        let newest = sets.values.map { revision($0.object) }.max() ?? 0
        let hash = Self.templateHash(template)
        let setKey = ObjectKey(group: "apps", plural: "replicasets", namespace: key.namespace, name: "\(key.name)-\(hash)")

        // Pass 1: the ReplicaSet of the current template, with the newest revision.
        let current = sets[setKey]
        if current == nil || revision(current!.object) < newest
            || revision(deployment.object) != revision(current!.object) {
            let next = current.map { revision($0.object) == newest && newest > 0 ? newest : newest + 1 } ?? newest + 1
            var set = current ?? newReplicaSet(setKey, of: deployment, template: template, hash: hash)
            set.object["metadata"]?["annotations"]?["deployment.kubernetes.io/revision"] = .string(String(next))
            bump(&set)
            put(setKey, set)
            var updated = deployment
            var annotations = updated.object[path: ["metadata", "annotations"]]?.objectValue ?? [:]
            annotations["deployment.kubernetes.io/revision"] = .string(String(next))
            updated.object["metadata"]?["annotations"] = .object(annotations)
            if current == nil {
                // A new ReplicaSet is reported at once; an adopted one changes no condition.
                let before = updated.object[path: ["status", "conditions"]]?.arrayValue ?? []
                var conditions = before.filter { $0["type"] != "Progressing" }
                conditions.append(["type": "Progressing", "status": "True", "reason": "NewReplicaSetCreated",
                                   "message": .string("Created new replica set \"\(setKey.name)\"")])
                let stamped = JSONValue.array(Self.stamped(conditions, previous: before))
                updated.object["status"]?["conditions"] = stamped
            }
            bump(&updated)
            put(key, updated)
            return
        }
        var status = deployment.object["status"] ?? [:]
        // Pass 2: the new generation observed, the conditions still those of the last rollout.
        if status["observedGeneration"]?.intValue != generation {
            status["observedGeneration"] = .int(generation)
            let counts = sets.values.map { ($0.object[path: ["status", "replicas"]]?.intValue ?? 0, $0.object[path: ["status", "availableReplicas"]]?.intValue ?? 0) }
            let total = counts.map(\.0).reduce(0, +), available = counts.map(\.1).reduce(0, +)
            status["replicas"] = .int(total)
            status["updatedReplicas"] = .int(current?.object[path: ["status", "replicas"]]?.intValue ?? 0)
            status["availableReplicas"] = .int(available)
            status["readyReplicas"] = .int(available)
            status["unavailableReplicas"] = total > available ? .int(total - available) : nil
            writeStatus(key, deployment, status)
            return
        }
        // Pass 3 and later: the rollout as the new ReplicaSet's pods go.
        let images = images(deployment.object)
        let setName = setKey.name
        let others = sets.filter { $0.key != setKey }
        let previousProgress = deployment.object[path: ["status", "conditions"]]?.arrayValue?.first { $0["type"] == "Progressing" }?["reason"]?.stringValue
        var conditions: [JSONValue]
        let old = others.values
        let oldReplicas = old.map { $0.object[path: ["status", "replicas"]]?.intValue ?? 0 }.reduce(0, +)
        let oldAvailable = old.map { $0.object[path: ["status", "availableReplicas"]]?.intValue ?? 0 }.reduce(0, +)
        func available(_ ready: Bool) -> JSONValue {
            ready ? ["type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability."]
                : ["type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "message": "Deployment does not have minimum availability."]
        }
        let progressingUpdated: JSONValue = ["type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated", "message": .string("ReplicaSet \"\(setName)\" is progressing.")]
        let deadline: JSONValue = ["type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": .string("ReplicaSet \"\(setName)\" has timed out progressing.")]
        if unschedulable(template["spec"] ?? [:]) != nil {
            // Pods that cannot be scheduled: no deadline is ever reported for them.
            scale(setKey, to: replicas)
            status = ["observedGeneration": .int(generation), "replicas": .int(replicas), "updatedReplicas": .int(replicas),
                      "unavailableReplicas": .int(replicas)]
            conditions = [available(false), progressingUpdated]
        } else if images.contains(where: { $0.hasSuffix(":broken") }) {
            // The new pods never become available; the old ones keep serving (maxUnavailable 0).
            let surge = oldReplicas > 0 ? max(1, (replicas + 3) / 4) : replicas
            scale(setKey, to: surge)
            status = ["observedGeneration": .int(generation), "replicas": .int(oldReplicas + surge), "updatedReplicas": .int(surge),
                      "unavailableReplicas": .int(surge)]
            if oldAvailable > 0 {
                status["availableReplicas"] = .int(oldAvailable)
                status["readyReplicas"] = .int(oldAvailable)
            }
            conditions = [available(oldAvailable >= replicas - replicas / 4), deadline]
        } else {
            scale(setKey, to: replicas)
            let ready = objects[setKey]?.object[path: ["status", "availableReplicas"]]?.intValue ?? 0
            let updated = objects[setKey]?.object[path: ["status", "replicas"]]?.intValue ?? 0
            let complete = ready >= replicas
            if complete { for other in others.keys { scale(other, to: 0) } }
            let total = complete ? updated : oldReplicas + updated
            let availableNow = complete ? ready : oldAvailable + ready
            status = ["observedGeneration": .int(generation), "replicas": .int(total), "updatedReplicas": .int(updated)]
            if availableNow > 0 {
                status["availableReplicas"] = .int(availableNow)
                status["readyReplicas"] = .int(availableNow)
            }
            if total > availableNow || replicas > availableNow { status["unavailableReplicas"] = .int(max(total, replicas) - availableNow) }
            if total == 0 { status["replicas"] = nil; status["updatedReplicas"] = nil }
            let progressing: JSONValue
            if complete {
                progressing = ["type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": .string("ReplicaSet \"\(setName)\" has successfully progressed.")]
            } else if previousProgress == "NewReplicaSetAvailable"
                        && others.values.allSatisfy({ ($0.object[path: ["spec", "replicas"]]?.intValue ?? 0) == 0 }) {
                // A change of replicas alone: the rollout of this ReplicaSet stays done.
                progressing = deployment.object[path: ["status", "conditions"]]?.arrayValue?.first { $0["type"] == "Progressing" } ?? progressingUpdated
            } else if stuckSince(setKey, deployment: deployment) {
                progressing = deadline
            } else {
                progressing = progressingUpdated
            }
            conditions = [available(availableNow >= replicas - replicas / 4 && availableNow > 0), progressing]
        }
        status["conditions"] = .array(Self.stamped(conditions, previous: deployment.object[path: ["status", "conditions"]]?.arrayValue ?? []))
        writeStatus(key, deployment, status)
    }

    /// Why a pod with this spec cannot be scheduled on the node, or nil: an image tagged
    /// `unschedulable` (no room), or a nodeSelector the node's labels do not meet.
    func unschedulable(_ spec: JSONValue) -> String? {
        let images = (spec["containers"]?.arrayValue ?? []).compactMap { $0["image"]?.stringValue }
        if images.contains(where: { $0.hasSuffix(":unschedulable") }) {
            return "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.."
        }
        let labels = objects[ObjectKey(group: "", plural: "nodes", namespace: "", name: Self.nodeName)]?.object[path: ["metadata", "labels"]]?.objectValue
        let selector = spec["nodeSelector"]?.objectValue ?? [:]
        if labels == nil || selector.contains(where: { labels?[$0.key] != $0.value }) {
            return "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.."
        }
        return nil
    }

    /// Whether the new ReplicaSet's pods cannot start (an image that cannot be pulled, a
    /// missing Secret) for longer than `progressDeadlineSeconds` (at the kubelet's time scale).
    private func stuckSince(_ setKey: ObjectKey, deployment: Stored) -> Bool {
        guard let set = objects[setKey], let uid = set.object[path: ["metadata", "uid"]]?.stringValue else { return false }
        let stuck = owned(by: uid, plural: "pods", namespace: setKey.namespace).contains { entry in
            (entry.value.object[path: ["status", "containerStatuses"]]?.arrayValue ?? []).contains { status in
                    ["ErrImageNeverPull", "ErrImagePull", "ImagePullBackOff", "CreateContainerConfigError"].contains(status[path: ["state", "waiting", "reason"]]?.stringValue ?? "")
                }
        }
        guard stuck, let created = set.object[path: ["metadata", "creationTimestamp"]]?.stringValue.flatMap({ try? Date($0, strategy: .iso8601) }) else { return false }
        let seconds = Double(deployment.object[path: ["spec", "progressDeadlineSeconds"]]?.intValue ?? 600)
        return Date().timeIntervalSince(created) >= seconds * ContainerProgram.timeScale
    }

    /// Conditions with the controller's times: an unchanged condition keeps its times, one
    /// whose status stays keeps its transition time, as the Deployment controller does.
    static func stamped(_ conditions: [JSONValue], previous: [JSONValue]) -> [JSONValue] {
        let now = JSONValue.string(Self.now())
        return conditions.map { condition in
            var stamped = condition
            let before = previous.first { $0["type"] == condition["type"] }
            let same = before?["status"] == condition["status"] && before?["reason"] == condition["reason"] && before?["message"] == condition["message"]
            stamped["lastUpdateTime"] = same ? before?["lastUpdateTime"] ?? now : now
            stamped["lastTransitionTime"] = before?["status"] == condition["status"] ? before?["lastTransitionTime"] ?? now : now
            return stamped
        }
    }

    /// The pod-template-hash of a template: stable for equal templates within a run.
    static func templateHash(_ template: JSONValue) -> String {
        var hash: UInt64 = 0xcbf29ce484222325
        for byte in (try? SlipwayJSON.string(template))?.utf8 ?? "".utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100000001b3
        }
        return String(hash % 0xFFFFFFFFFF, radix: 16)
    }

    private func newReplicaSet(_ setKey: ObjectKey, of deployment: Stored, template: JSONValue, hash: String) -> Stored {
        let name = deployment.object[path: ["metadata", "name"]] ?? ""
        var labels = template[path: ["metadata", "labels"]]?.objectValue ?? [:]
        labels["pod-template-hash"] = .string(hash)
        var setTemplate = template
        setTemplate["metadata"] = (template["metadata"] ?? [:])
        setTemplate["metadata"]?["labels"] = .object(labels)
        var selector = deployment.object[path: ["spec", "selector", "matchLabels"]]?.objectValue ?? [:]
        selector["pod-template-hash"] = .string(hash)
        let owner: JSONValue = ["apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": deployment.object[path: ["metadata", "uid"]] ?? "",
                                "controller": true, "blockOwnerDeletion": true]
        var set = Stored(object: ["apiVersion": "apps/v1", "kind": "ReplicaSet",
                                  "metadata": ["name": .string(setKey.name), "namespace": .string(setKey.namespace), "labels": .object(labels),
                                               "annotations": [:], "ownerReferences": [owner]],
                                  "spec": ["replicas": 0, "selector": ["matchLabels": .object(selector)], "template": setTemplate],
                                  "status": ["replicas": 0, "observedGeneration": 1]],
                         managers: [])
        if let type = catalog.type(group: "apps", version: "v1", plural: "replicasets") { created(&set, type: type) }
        return set
    }

    /// The kinds whose owners the controllers look up.
    static let ownedKinds: Set<String> = ["replicasets", "pods", "jobs"]

    /// Objects of a kind in a namespace whose ownerReferences name `uid`.
    func owned(by uid: String, plural: String, namespace: String) -> [ObjectKey: Stored] {
        if ownedIndex == nil {
            var index: [String: Set<ObjectKey>] = [:]
            for (key, stored) in objects where Self.ownedKinds.contains(key.plural) {
                for reference in stored.object[path: ["metadata", "ownerReferences"]]?.arrayValue ?? [] {
                    if let owner = reference["uid"]?.stringValue { index[owner, default: []].insert(key) }
                }
            }
            ownedIndex = index
        }
        var found: [ObjectKey: Stored] = [:]
        for key in ownedIndex?[uid] ?? [] where key.plural == plural && key.namespace == namespace {
            if let stored = objects[key] { found[key] = stored }
        }
        return found
    }

    /// Sets a ReplicaSet's replicas, gives it as many pods, and its status from them.
    func scale(_ setKey: ObjectKey, to replicas: Int64) {
        guard var set = objects[setKey], let uid = set.object[path: ["metadata", "uid"]]?.stringValue else { return }
        if set.object[path: ["spec", "replicas"]]?.intValue != replicas {
            set.object["spec"]?["replicas"] = .int(replicas)
            var annotations = set.object[path: ["metadata", "annotations"]]?.objectValue ?? [:]
            annotations["deployment.kubernetes.io/desired-replicas"] = .string(String(replicas))
            annotations["deployment.kubernetes.io/max-replicas"] = .string(String(replicas + max(1, (replicas + 3) / 4)))
            set.object["metadata"]?["annotations"] = .object(annotations)
            bump(&set)
            put(setKey, set)
            syncPods(of: setKey)
            set = objects[setKey] ?? set
        }
        let pods = owned(by: uid, plural: "pods", namespace: setKey.namespace).values
        let running = pods.filter { $0.object[path: ["status", "phase"]] == "Running" }.count
        var status: JSONValue = ["replicas": .int(Int64(pods.count)), "observedGeneration": 1]
        if !pods.isEmpty { status["fullyLabeledReplicas"] = .int(Int64(pods.count)) }
        if running > 0 {
            status["availableReplicas"] = .int(Int64(running))
            status["readyReplicas"] = .int(Int64(running))
        }
        guard set.object["status"] != status else { return }
        set.object["status"] = status
        bump(&set)
        put(setKey, set)
    }

    /// The namespace controller: a Terminating namespace is emptied, then removed.
    func finalizeTerminatingNamespaces() {
        for (key, stored) in objects where key.plural == "namespaces" && stored.object[path: ["metadata", "deletionTimestamp"]] != nil {
            for (contentKey, content) in objects where contentKey.namespace == key.name {
                remove(contentKey, uid: content.object[path: ["metadata", "uid"]]?.stringValue ?? "")
            }
            remove(key, uid: stored.object[path: ["metadata", "uid"]]?.stringValue ?? "")
        }
    }
}
