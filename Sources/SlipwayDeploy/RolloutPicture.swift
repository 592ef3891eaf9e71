public import SlipwayCore
public import SlipwayKube

/// What a Deployment that is not available yet is waiting for, read from its newest
/// ReplicaSet and that ReplicaSet's pods: `api: 0/1 available; ReplicaSet api-7f6: 1 Pending
/// pod, condition PodScheduled=False Unschedulable: 0/3 nodes are available: …`.
///
/// A change of `replicas` alone never makes the Deployment controller report
/// ProgressDeadlineExceeded (it only does while a new ReplicaSet rolls out), so without this
/// picture a wait would run to its timeout with nothing said.
public enum RolloutPicture {
    /// The picture of `deployment`; what cannot be read is left out, never fatal.
    public static func describe(_ deployment: JSONValue, client: KubeClient) async -> String {
        let name = deployment[path: ["metadata", "name"]]?.stringValue ?? "?"
        let namespace = deployment[path: ["metadata", "namespace"]]?.stringValue
        let wanted = deployment[path: ["spec", "replicas"]]?.intValue ?? 1
        let available = deployment[path: ["status", "availableReplicas"]]?.intValue ?? 0
        var parts = ["\(name): \(available)/\(wanted) available"]
        guard let sets = await replicaSets(of: deployment, client: client) else { return parts.joined(separator: "; ") }
        let uid = deployment[path: ["metadata", "uid"]]?.stringValue
        let owned = sets.filter { set in
            uid == nil || (set[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []).contains { $0["uid"]?.stringValue == uid }
        }
        guard let newest = owned.max(by: { revision($0) < revision($1) }) else {
            parts.append("no ReplicaSet yet")
            return parts.joined(separator: "; ")
        }
        let setName = newest[path: ["metadata", "name"]]?.stringValue ?? "?"
        guard let podSelector = labelSelector(newest[path: ["spec", "selector"]]),
              let pods = try? await client.list(apiVersion: "v1", kind: "Pod", namespace: namespace, labelSelector: podSelector)
        else { return parts.joined(separator: "; ") }
        parts.append("ReplicaSet \(setName): " + podSummary(pods))
        return parts.joined(separator: "; ")
    }

    /// Whether the ReplicaSet a Deployment's ProgressDeadlineExceeded names belongs to an
    /// earlier rollout: it was made from another template than the Deployment's current one,
    /// or it is gone. Nil when the ReplicaSets cannot be read.
    ///
    /// When the Deployment controller first records a new generation (a rollback to an
    /// existing ReplicaSet is handled as a scaling event) it still copies the old rollout's
    /// `Progressing=False` into the status and replaces it only on a later pass; the
    /// condition's time cannot tell when the rollback came within the same second.
    public static func deadlineIsFromEarlierRollout(_ deployment: JSONValue, replicaSet name: String, client: KubeClient) async -> Bool? {
        guard let sets = await replicaSets(of: deployment, client: client) else { return nil }
        guard let named = sets.first(where: { $0[path: ["metadata", "name"]]?.stringValue == name }) else { return true }
        // The controller copies the template and adds only the pod-template-hash label.
        var template = named[path: ["spec", "template"]] ?? [:]
        if var labels = template[path: ["metadata", "labels"]]?.objectValue {
            labels["pod-template-hash"] = nil
            template["metadata"]?["labels"] = labels.isEmpty ? nil : .object(labels)
        }
        return template != deployment[path: ["spec", "template"]]
    }

    /// The ReplicaSets the Deployment's selector selects, in one LIST (recorded:
    /// workloads 063, 070); nil when they cannot be read.
    static func replicaSets(of deployment: JSONValue, client: KubeClient) async -> [JSONValue]? {
        guard let selector = labelSelector(deployment[path: ["spec", "selector"]]) else { return nil }
        return try? await client.list(apiVersion: "apps/v1", kind: "ReplicaSet", namespace: deployment[path: ["metadata", "namespace"]]?.stringValue,
                                      labelSelector: selector)
    }

    /// `1 Pending pod, condition PodScheduled=False Unschedulable: …` — counts by phase, and
    /// for the pods that are not ready, the first reason each distinct problem gives.
    static func podSummary(_ pods: [JSONValue]) -> String {
        guard !pods.isEmpty else { return "no pods" }
        var byPhase: [String: Int] = [:]
        for pod in pods { byPhase[pod[path: ["status", "phase"]]?.stringValue ?? "Unknown", default: 0] += 1 }
        var text = byPhase.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key) pod\($0.value == 1 ? "" : "s")" }.joined(separator: ", ")
        var problems: [String] = []
        for pod in pods {
            for condition in pod[path: ["status", "conditions"]]?.arrayValue ?? [] where condition["status"]?.stringValue == "False" {
                let type = condition["type"]?.stringValue ?? "?"
                let reason = condition["reason"]?.stringValue.map { " \($0)" } ?? ""
                let message = condition["message"]?.stringValue.map { ": \($0)" } ?? ""
                problems.append("condition \(type)=False\(reason)\(message)")
            }
            for status in pod[path: ["status", "containerStatuses"]]?.arrayValue ?? [] {
                for state in ["waiting", "terminated"] {
                    guard let detail = status[path: ["state", state]], let reason = detail["reason"]?.stringValue else { continue }
                    let message = detail["message"]?.stringValue.map { ": \($0)" } ?? ""
                    problems.append("container \(status["name"]?.stringValue ?? "?") \(state) \(reason)\(message)")
                }
            }
        }
        var seen: Set<String> = []
        let distinct = problems.filter { seen.insert($0).inserted }
        if !distinct.isEmpty { text += ", " + distinct.prefix(3).joined(separator: ", ") }
        return text
    }

    private static func revision(_ set: JSONValue) -> Int {
        Int(set[path: ["metadata", "annotations", "deployment.kubernetes.io/revision"]]?.stringValue ?? "") ?? 0
    }

    /// `matchLabels` as a selector string (`matchExpressions` are left to the server's own
    /// matching of the ReplicaSet's pods, which carry the template hash).
    static func labelSelector(_ selector: JSONValue?) -> String? {
        guard let labels = selector?["matchLabels"]?.objectValue, !labels.isEmpty else { return nil }
        return labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.stringValue ?? "")" }.joined(separator: ",")
    }
}
