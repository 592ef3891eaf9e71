import Foundation
import SlipwayCore

/// The controllers that do not run here, played just far enough for Slipway's tests.
extension KubeCluster {
    /// Plays the workload controllers that do not run here: every Deployment, StatefulSet and
    /// DaemonSet whose status lags its spec gets the status of a finished rollout, except
    /// those with an image tagged `broken`, which report ProgressDeadlineExceeded, and
    /// Deployments with an image tagged `unschedulable`, whose pods stay Pending (as a cluster
    /// without room does: the Deployment controller never reports a deadline for a scale-up).
    public func reconcileWorkloads() {
        finalizeTerminatingNamespaces()
        runJobsAndPods()
        for (key, stored) in objects where ["deployments", "statefulsets", "daemonsets"].contains(key.plural) && key.group == "apps" {
            let generation = stored.object[path: ["metadata", "generation"]]?.intValue ?? 1
            guard stored.object[path: ["status", "observedGeneration"]]?.intValue != generation else { continue }
            let replicas = stored.object[path: ["spec", "replicas"]]?.intValue ?? 1
            let images = (stored.object[path: ["spec", "template", "spec", "containers"]]?.arrayValue ?? []).compactMap { $0["image"]?.stringValue }
            var status: JSONValue
            if images.contains(where: { $0.hasSuffix(":unschedulable") }), key.plural == "deployments" {
                status = rollOutUnschedulable(key, stored, generation: generation, replicas: replicas)
            } else if images.contains(where: { $0.hasSuffix(":broken") }) {
                status = ["observedGeneration": .int(generation), "replicas": .int(replicas), "updatedReplicas": .int(replicas),
                          "unavailableReplicas": .int(replicas),
                          "conditions": [["type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                                          "message": .string("ReplicaSet \"\(key.name)\" has timed out progressing.")]]]
            } else {
                switch key.plural {
                case "statefulsets":
                    status = ["observedGeneration": .int(generation), "replicas": .int(replicas), "readyReplicas": .int(replicas),
                              "updatedReplicas": .int(replicas), "currentRevision": "r1", "updateRevision": "r1"]
                case "daemonsets":
                    status = ["observedGeneration": .int(generation), "desiredNumberScheduled": 2, "updatedNumberScheduled": 2, "numberAvailable": 2]
                default:
                    status = ["observedGeneration": .int(generation), "replicas": .int(replicas), "updatedReplicas": .int(replicas),
                              "availableReplicas": .int(replicas), "readyReplicas": .int(replicas),
                              "conditions": [["type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"],
                                             ["type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"]]]
                }
            }
            var updated = stored
            updated.object["status"] = status
            bump(&updated)
            put(key, updated)
        }
    }


    /// A Deployment whose pods cannot be scheduled: a ReplicaSet, Pending pods with
    /// `PodScheduled=False Unschedulable`, and the status the Deployment controller writes.
    private func rollOutUnschedulable(_ key: ObjectKey, _ deployment: Stored, generation: Int64, replicas: Int64) -> JSONValue {
        let uid = deployment.object[path: ["metadata", "uid"]]?.stringValue ?? ""
        let template = deployment.object[path: ["spec", "template"]] ?? [:]
        let hash = String(UInt32(truncatingIfNeeded: (try? SlipwayJSON.string(template))?.hashValue ?? 0) % 0xFFFFF, radix: 16)
        let setName = "\(key.name)-\(hash)"
        var labels = template[path: ["metadata", "labels"]]?.objectValue ?? [:]
        labels["pod-template-hash"] = .string(hash)
        let setKey = ObjectKey(group: "apps", plural: "replicasets", namespace: key.namespace, name: setName)
        if objects[setKey] == nil {
            let owner: JSONValue = ["apiVersion": "apps/v1", "kind": "Deployment", "name": .string(key.name), "uid": .string(uid), "controller": true]
            var set = Stored(object: ["apiVersion": "apps/v1", "kind": "ReplicaSet",
                                      "metadata": ["name": .string(setName), "namespace": .string(key.namespace), "labels": .object(labels),
                                                   "annotations": ["deployment.kubernetes.io/revision": "1"], "ownerReferences": [owner]],
                                      "spec": ["replicas": .int(replicas), "selector": ["matchLabels": .object(labels)], "template": template],
                                      "status": ["replicas": .int(replicas), "observedGeneration": 1]],
                             managers: [])
            if let type = catalog.type(group: "apps", version: "v1", plural: "replicasets") { created(&set, type: type) }
            bump(&set)
            put(setKey, set)
            let setUID = set.object[path: ["metadata", "uid"]]?.stringValue ?? ""
            for index in 0..<Int(replicas) {
                let podName = "\(setName)-\(String(index, radix: 36))x\(hash.prefix(3))"
                var pod = Stored(object: ["apiVersion": "v1", "kind": "Pod",
                                          "metadata": ["name": .string(podName), "namespace": .string(key.namespace), "labels": .object(labels),
                                                       "ownerReferences": [["apiVersion": "apps/v1", "kind": "ReplicaSet", "name": .string(setName),
                                                                            "uid": .string(setUID), "controller": true]]],
                                          "spec": template["spec"] ?? [:],
                                          "status": ["phase": "Pending", "conditions": [[
                                              "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                              "message": "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod..",
                                          ]]]],
                               managers: [])
                if let type = catalog.type(group: "", version: "v1", plural: "pods") { created(&pod, type: type) }
                bump(&pod)
                put(ObjectKey(group: "", plural: "pods", namespace: key.namespace, name: podName), pod)
            }
        }
        return ["observedGeneration": .int(generation), "replicas": .int(replicas), "updatedReplicas": .int(replicas),
                "unavailableReplicas": .int(replicas),
                "conditions": [["type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "message": "Deployment does not have minimum availability."],
                               ["type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
                                "message": .string("ReplicaSet \"\(setName)\" is progressing.")]]]
    }

    /// The Job controller and the kubelet, far enough for hooks: a Job runs one pod that
    /// succeeds (Complete) unless a container's image is tagged `fails` (the pod exits 1,
    /// the Job is Failed with BackoffLimitExceeded); a bare Pod ends Succeeded or Failed the
    /// same way.
    func runJobsAndPods() {
        func containerStatuses(_ spec: JSONValue?, fails: Bool) -> JSONValue {
            .array((spec?["containers"]?.arrayValue ?? []).map { container in
                ["name": container["name"] ?? "main", "ready": false, "restartCount": 0,
                 "state": ["terminated": ["exitCode": .int(fails ? 1 : 0), "reason": .string(fails ? "Error" : "Completed")]]]
            })
        }
        func fails(_ spec: JSONValue?) -> Bool {
            (spec?["containers"]?.arrayValue ?? []).contains { $0["image"]?.stringValue?.hasSuffix(":fails") == true }
        }
        for (key, stored) in objects where key.group == "batch" && key.plural == "jobs" {
            guard (stored.object[path: ["status", "conditions"]]?.arrayValue ?? []).isEmpty,
                  stored.object[path: ["metadata", "deletionTimestamp"]] == nil else { continue }
            let podSpec = stored.object[path: ["spec", "template", "spec"]]
            let failing = fails(podSpec)
            let uid = stored.object[path: ["metadata", "uid"]]?.stringValue ?? ""
            let podName = "\(key.name)-\(String(UInt32.random(in: 0...0xFFFFF), radix: 36))"
            let labels: JSONValue = ["job-name": .string(key.name), "batch.kubernetes.io/job-name": .string(key.name)]
            var pod = Stored(object: ["apiVersion": "v1", "kind": "Pod",
                                      "metadata": ["name": .string(podName), "namespace": .string(key.namespace), "labels": labels,
                                                   "ownerReferences": [["apiVersion": "batch/v1", "kind": "Job", "name": .string(key.name),
                                                                        "uid": .string(uid), "controller": true]]],
                                      "spec": podSpec ?? [:],
                                      "status": ["phase": .string(failing ? "Failed" : "Succeeded"),
                                                 "containerStatuses": containerStatuses(podSpec, fails: failing)]],
                             managers: [])
            if let type = catalog.type(group: "", version: "v1", plural: "pods") { created(&pod, type: type) }
            bump(&pod)
            put(ObjectKey(group: "", plural: "pods", namespace: key.namespace, name: podName), pod)
            var job = stored
            job.object["status"] = failing
                ? ["failed": 1, "conditions": [["type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                                                "message": "Job has reached the specified backoff limit"]]]
                : ["succeeded": 1, "conditions": [["type": "Complete", "status": "True"]]]
            bump(&job)
            put(key, job)
        }
        for (key, stored) in objects where key.group == "" && key.plural == "pods" {
            guard stored.object[path: ["status", "phase"]] == nil,
                  (stored.object[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []).isEmpty else { continue }
            let spec = stored.object["spec"]
            var pod = stored
            pod.object["status"] = ["phase": .string(fails(spec) ? "Failed" : "Succeeded"), "containerStatuses": containerStatuses(spec, fails: fails(spec))]
            bump(&pod)
            put(key, pod)
        }
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
