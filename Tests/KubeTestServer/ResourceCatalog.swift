import Foundation
public import SlipwayCore

/// A resource type the test cluster serves.
public struct ResourceType: Hashable, Sendable {
    public var group: String
    public var version: String
    public var kind: String
    /// The plural, lower-case name in URLs (`deployments`).
    public var plural: String
    public var namespaced: Bool

    public var groupVersion: String { group.isEmpty ? version : "\(group)/\(version)" }

    var discoveryEntry: JSONValue {
        [
            "name": .string(plural), "kind": .string(kind), "namespaced": .bool(namespaced),
            "singularName": .string(kind.lowercased()),
            "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
        ]
    }
}

/// Which resource types exist: the built-in ones (core and apps from the recorded discovery
/// documents, a table for the other groups Slipway applies), plus those CRDs add.
struct ResourceCatalog {
    private(set) var types: [ResourceType] = []
    /// Discovery documents recorded from a real API server, served as they are.
    let recorded: [String: JSONValue]

    init(fixtures: URL) {
        var recorded: [String: JSONValue] = [:]
        for (path, file) in [("/api", "01-discovery-api"), ("/api/v1", "02-discovery-api-v1"), ("/apis", "03-discovery-apis"), ("/apis/apps/v1", "04-discovery-apps-v1"),
                             ("/apis/batch/v1", "workloads/041-discovery-batch-v1-200")] {
            if let data = try? Data(contentsOf: fixtures.appendingPathComponent("\(file).json")),
               let value = try? JSONDecoder().decode(JSONValue.self, from: data) {
                recorded[path] = value
            }
        }
        self.recorded = recorded
        for (path, group) in [("/api/v1", ""), ("/apis/apps/v1", "apps"), ("/apis/batch/v1", "batch")] {
            for entry in recorded[path]?["resources"]?.arrayValue ?? [] {
                guard let name = entry["name"]?.stringValue, !name.contains("/"), let kind = entry["kind"]?.stringValue else { continue }
                types.append(ResourceType(group: group, version: "v1", kind: kind, plural: name, namespaced: entry["namespaced"]?.boolValue ?? true))
            }
        }
        let others: [(String, String, String, String, Bool)] = [
            ("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", false),
            ("rbac.authorization.k8s.io", "v1", "Role", "roles", true),
            ("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", true),
            ("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", false),
            ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", false),
            ("networking.k8s.io", "v1", "Ingress", "ingresses", true),
            ("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", true),
            ("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", true),
            ("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true),
            ("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration", "validatingwebhookconfigurations", false),
            ("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations", false),
        ]
        for (group, version, kind, plural, namespaced) in others {
            types.append(ResourceType(group: group, version: version, kind: kind, plural: plural, namespaced: namespaced))
        }
        builtIn = Set(types)
    }

    /// Kinds the server has Go types for (not those a CRD added).
    private(set) var builtIn: Set<ResourceType> = []

    func isBuiltIn(_ type: ResourceType) -> Bool { builtIn.contains(type) }

    func type(group: String, version: String, plural: String) -> ResourceType? {
        types.first { $0.group == group && $0.version == version && $0.plural == plural }
    }

    mutating func add(_ type: ResourceType) {
        guard self.type(group: type.group, version: type.version, plural: type.plural) == nil else { return }
        types.append(type)
    }

    mutating func remove(group: String, plural: String) {
        types.removeAll { $0.group == group && $0.plural == plural }
    }

    /// `/apis`: the recorded groups plus any a CRD added.
    var apiGroupList: JSONValue {
        var groups = recorded["/apis"]?["groups"]?.arrayValue ?? []
        let known = Set(groups.compactMap { $0["name"]?.stringValue })
        var added: [String: String] = [:]
        for type in types where !type.group.isEmpty && !known.contains(type.group) { added[type.group] = type.version }
        for (group, version) in added.sorted(by: { $0.key < $1.key }) {
            let gv: JSONValue = ["groupVersion": .string("\(group)/\(version)"), "version": .string(version)]
            groups.append(["name": .string(group), "versions": [gv], "preferredVersion": gv])
        }
        return ["kind": "APIGroupList", "apiVersion": "v1", "groups": .array(groups)]
    }

    /// `/api/v1` or `/apis/GROUP/VERSION`: recorded where it was recorded, built otherwise.
    func resourceList(group: String, version: String) -> JSONValue? {
        let path = group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)"
        if let recorded = recorded[path] { return recorded }
        let matching = types.filter { $0.group == group && $0.version == version }
        guard !matching.isEmpty else { return nil }
        return ["kind": "APIResourceList", "apiVersion": "v1", "groupVersion": .string(group.isEmpty ? version : "\(group)/\(version)"),
                "resources": .array(matching.map(\.discoveryEntry))]
    }
}
