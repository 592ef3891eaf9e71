import Foundation
public import SlipwayCore

/// Who a request comes from: a user name and its groups.
public struct KubeUser: Sendable, Hashable {
    public var name: String
    public var groups: [String]

    public init(name: String, groups: [String]) {
        self.name = name
        self.groups = groups
    }

    /// The cluster administrator the test token stands for (`system:masters` may do anything).
    public static let admin = KubeUser(name: "admin", groups: ["system:masters", "system:authenticated"])

    /// A service account, with the groups the API server gives it.
    public static func serviceAccount(namespace: String, name: String) -> KubeUser {
        KubeUser(name: "system:serviceaccount:\(namespace):\(name)",
                 groups: ["system:serviceaccounts", "system:serviceaccounts:\(namespace)", "system:authenticated"])
    }

    /// `(namespace, name)` when this is a service account.
    var serviceAccount: (namespace: String, name: String)? {
        let parts = name.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 4, parts[0] == "system", parts[1] == "serviceaccount" else { return nil }
        return (parts[2], parts[3])
    }
}

/// What a request asks to do, in RBAC's terms.
struct AccessRequest {
    var verb: String
    var group: String
    var resource: String
    var namespace: String?
    var name: String?
}

/// Authentication by bearer token and RBAC authorization from the Roles, ClusterRoles and
/// their bindings stored in the cluster, as kube-apiserver's RBAC authorizer decides
/// (recorded in 15–24 of the wire recording).
extension KubeCluster {
    /// Registers a token for `user`.
    public func addToken(_ token: String, for user: KubeUser) {
        users[token] = user
    }

    /// A new token for a service account (as a TokenRequest would give).
    public func serviceAccountToken(namespace: String, name: String) -> String {
        let token = "sa-\(namespace)-\(name)-\(UUID().uuidString.prefix(8))"
        users[token] = .serviceAccount(namespace: namespace, name: name)
        return token
    }

    func user(forToken token: String) -> KubeUser? {
        users[token]
    }

    /// Whether RBAC lets `user` do `request`.
    func allows(_ user: KubeUser, _ request: AccessRequest) -> Bool {
        if user.groups.contains("system:masters") { return true }
        for (key, stored) in objects where key.group == "rbac.authorization.k8s.io" {
            let binding = stored.object
            switch key.plural {
            case "clusterrolebindings":
                guard bindingNames(binding, user, bindingNamespace: nil) else { continue }
                if rules(of: binding, in: nil).contains(where: { Self.rule($0, allows: request) }) { return true }
            case "rolebindings":
                guard let namespace = request.namespace, key.namespace == namespace,
                      bindingNames(binding, user, bindingNamespace: key.namespace) else { continue }
                if rules(of: binding, in: key.namespace).contains(where: { Self.rule($0, allows: request) }) { return true }
            default:
                continue
            }
        }
        return false
    }

    private func bindingNames(_ binding: JSONValue, _ user: KubeUser, bindingNamespace: String?) -> Bool {
        (binding["subjects"]?.arrayValue ?? []).contains { subject in
            let name = subject["name"]?.stringValue ?? ""
            switch subject["kind"]?.stringValue {
            case "User": return name == user.name
            case "Group": return user.groups.contains(name)
            case "ServiceAccount":
                let namespace = subject["namespace"]?.stringValue ?? bindingNamespace ?? ""
                return user.name == "system:serviceaccount:\(namespace):\(name)"
            default: return false
            }
        }
    }

    /// The rules of the role a binding refers to (a Role in the binding's namespace, or a ClusterRole).
    private func rules(of binding: JSONValue, in namespace: String?) -> [JSONValue] {
        guard let name = binding[path: ["roleRef", "name"]]?.stringValue else { return [] }
        let key: ObjectKey = switch binding[path: ["roleRef", "kind"]]?.stringValue {
        case "Role": ObjectKey(group: "rbac.authorization.k8s.io", plural: "roles", namespace: namespace ?? "", name: name)
        default: ObjectKey(group: "rbac.authorization.k8s.io", plural: "clusterroles", namespace: "", name: name)
        }
        return objects[key]?.object["rules"]?.arrayValue ?? []
    }

    private static func rule(_ rule: JSONValue, allows request: AccessRequest) -> Bool {
        func list(_ field: String) -> [String] { (rule[field]?.arrayValue ?? []).compactMap(\.stringValue) }
        func matches(_ field: String, _ value: String) -> Bool { list(field).contains("*") || list(field).contains(value) }
        guard matches("verbs", request.verb), matches("apiGroups", request.group), matches("resources", request.resource) else { return false }
        let names = list("resourceNames")
        return names.isEmpty || request.name.map(names.contains) == true
    }
}
