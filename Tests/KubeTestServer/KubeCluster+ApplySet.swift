import Crypto
import Foundation
import SlipwayCore

/// What the ApplySet KEP (KEP-3659) requires of a set, read the way an ApplySet-aware tool
/// (kubectl apply --applyset) reads the cluster. Not enforced on writes (a real API server
/// accepts anything): tests ask for the problems after a deploy.
extension KubeCluster {
    /// Every way the stored objects break the KEP, as sentences; empty when the sets are sound.
    ///
    /// - A parent is a Secret or ConfigMap (or an object of a CRD that says it may be one)
    ///   labelled `applyset.kubernetes.io/id` with the id of its own name, namespace, kind and
    ///   group: `applyset-` + base64url(sha256("NAME.NAMESPACE.KIND.GROUP")) + `-v1`.
    /// - It carries `applyset.kubernetes.io/tooling: NAME/VERSION` and
    ///   `applyset.kubernetes.io/contains-group-kinds` listing (sorted, comma-separated,
    ///   `Kind.group`, core kinds bare) every group-kind of its members, and
    ///   `applyset.kubernetes.io/additional-namespaces` every namespace of a namespaced member
    ///   other than its own.
    /// - Every object labelled `applyset.kubernetes.io/part-of` has a parent with that id
    ///   (objects being deleted are on their way out and not judged).
    public func applySetProblems() -> [String] {
        var problems: [String] = []
        var parents: [String: (kinds: Set<String>, namespaces: Set<String>, namespace: String, name: String)] = [:]
        for (key, stored) in objects {
            guard let id = stored.object[path: ["metadata", "labels", "applyset.kubernetes.io/id"]]?.stringValue else { continue }
            let kind = stored.object["kind"]?.stringValue ?? ""
            let place = "parent \(kind) \(key.namespace)/\(key.name)"
            guard ["Secret", "ConfigMap"].contains(kind) && key.group.isEmpty else {
                problems.append("\(place): only a Secret or ConfigMap may be a parent here")
                continue
            }
            let digest = SHA256.hash(data: Data("\(key.name).\(key.namespace).\(kind).".utf8))
            let expected = "applyset-" + Data(digest).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "") + "-v1"
            if id != expected { problems.append("\(place): id label \(id) is not the id of its name, namespace and kind (\(expected))") }
            let annotations = stored.object[path: ["metadata", "annotations"]]?.objectValue ?? [:]
            let tooling = annotations["applyset.kubernetes.io/tooling"]?.stringValue ?? ""
            let toolParts = tooling.split(separator: "/", omittingEmptySubsequences: false)
            if toolParts.count != 2 || toolParts.contains(where: \.isEmpty) {
                problems.append("\(place): applyset.kubernetes.io/tooling is '\(tooling)', not NAME/VERSION")
            }
            guard let kinds = annotations["applyset.kubernetes.io/contains-group-kinds"]?.stringValue else {
                problems.append("\(place): no applyset.kubernetes.io/contains-group-kinds annotation")
                continue
            }
            let listed = kinds.split(separator: ",").map(String.init)
            if listed != listed.sorted() { problems.append("\(place): contains-group-kinds is not sorted: \(kinds)") }
            let namespaces = (annotations["applyset.kubernetes.io/additional-namespaces"]?.stringValue ?? "").split(separator: ",").map(String.init)
            parents[id] = (Set(listed), Set(namespaces), key.namespace, key.name)
        }
        for (key, stored) in objects {
            guard let id = stored.object[path: ["metadata", "labels", "applyset.kubernetes.io/part-of"]]?.stringValue,
                  stored.object[path: ["metadata", "deletionTimestamp"]] == nil else { continue }
            let kind = stored.object["kind"]?.stringValue ?? ""
            let place = "\(kind) \(key.namespace.isEmpty ? "" : key.namespace + "/")\(key.name)"
            guard let parent = parents[id] else {
                problems.append("\(place) is part of ApplySet \(id), which has no parent")
                continue
            }
            let groupKind = key.group.isEmpty ? kind : "\(kind).\(key.group)"
            if !parent.kinds.contains(groupKind) {
                problems.append("\(place): its group-kind \(groupKind) is not in the contains-group-kinds of \(parent.namespace)/\(parent.name)")
            }
            if !key.namespace.isEmpty, key.namespace != parent.namespace, !parent.namespaces.contains(key.namespace) {
                problems.append("\(place): its namespace is not in the additional-namespaces of \(parent.namespace)/\(parent.name)")
            }
        }
        return problems.sorted()
    }
}
