public import SlipwayCore

/// The order objects are applied in, and where namespaces were filled in. Like Flux: first
/// CRDs and Namespaces (and a wait until they are usable), then everything else in a stable
/// kind order, webhook configurations last.
public struct ApplyPlan: Sendable {
    /// Stage 0: CustomResourceDefinitions and Namespaces. Stage 1: the rest.
    public var stages: [[Manifest]]

    public var all: [Manifest] { stages.flatMap { $0 } }

    /// Kinds in the order they are applied; kinds not listed go between Ingress-like kinds and
    /// the webhook configurations, by name.
    public static let kindOrder = [
        "CustomResourceDefinition", "Namespace", "ResourceQuota", "LimitRange", "PriorityClass", "StorageClass",
        "ServiceAccount", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding",
        "ConfigMap", "Secret", "PersistentVolume", "PersistentVolumeClaim", "Service",
        "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob",
        "Ingress", "NetworkPolicy", "HorizontalPodAutoscaler", "PodDisruptionBudget",
    ]
    public static let lastKinds = ["APIService", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"]

    static func rank(_ kind: String) -> (Int, String) {
        if let index = kindOrder.firstIndex(of: kind) { return (index, "") }
        if let index = lastKinds.firstIndex(of: kind) { return (kindOrder.count + 1 + index, "") }
        return (kindOrder.count, kind)
    }

    static func sorted(_ manifests: [Manifest]) -> [Manifest] {
        manifests.sorted { a, b in
            let (ra, rb) = (rank(a.kind), rank(b.kind))
            if ra != rb { return ra < rb }
            return (a.namespace ?? "", a.name) < (b.namespace ?? "", b.name)
        }
    }

    /// Orders `manifests` and fills in namespaces. `namespaced` answers from discovery (nil:
    /// the cluster does not know the kind); kinds defined by a CRD in the same set count as known.
    public static func make(_ manifests: [Manifest], defaultNamespace: String,
                            namespaced: (String, String) async throws(DeployError) -> Bool?) async throws(DeployError) -> ApplyPlan {
        var fromCRDs: [String: Bool] = [:]
        for manifest in manifests where manifest.kind == "CustomResourceDefinition" {
            guard let group = manifest.object[path: ["spec", "group"]]?.stringValue,
                  let kind = manifest.object[path: ["spec", "names", "kind"]]?.stringValue else { continue }
            for version in manifest.object[path: ["spec", "versions"]]?.arrayValue ?? [] {
                if let name = version["name"]?.stringValue {
                    fromCRDs["\(group)/\(name)|\(kind)"] = manifest.object[path: ["spec", "scope"]]?.stringValue != "Cluster"
                }
            }
        }
        var resolved: [Manifest] = []
        for var manifest in manifests {
            let scope: Bool?
            if let fromCRD = fromCRDs["\(manifest.apiVersion)|\(manifest.kind)"] {
                scope = fromCRD
            } else {
                scope = try await namespaced(manifest.apiVersion, manifest.kind)
            }
            guard let isNamespaced = scope else {
                throw DeployError("\(manifest.place): the cluster does not know kind \(manifest.kind) in \(manifest.apiVersion)")
            }
            if isNamespaced {
                if manifest.namespace == nil { manifest.object["metadata"]?["namespace"] = .string(defaultNamespace) }
            } else {
                manifest.object["metadata"]?["namespace"] = nil
            }
            resolved.append(manifest)
        }
        let first = resolved.filter { $0.kind == "CustomResourceDefinition" || $0.kind == "Namespace" }
        let rest = resolved.filter { $0.kind != "CustomResourceDefinition" && $0.kind != "Namespace" }
        return ApplyPlan(stages: [sorted(first), sorted(rest)])
    }

    /// The order prune deletes in: the reverse of apply order, Namespaces and CRDs last.
    public static func pruneOrder(_ references: [ObjectReference]) -> [ObjectReference] {
        references.sorted { a, b in
            let (ra, rb) = (rank(a.kind), rank(b.kind))
            let lastA = a.kind == "Namespace" || a.kind == "CustomResourceDefinition"
            let lastB = b.kind == "Namespace" || b.kind == "CustomResourceDefinition"
            if lastA != lastB { return !lastA }
            if ra != rb { return ra > rb }
            return (a.namespace ?? "", a.name) < (b.namespace ?? "", b.name)
        }
    }
}
