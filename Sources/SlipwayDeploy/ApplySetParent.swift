import Crypto
import Foundation
public import SlipwayCore

/// The parent object of an app's ApplySet (KEP-3659, "ApplySet: kubectl apply --prune
/// redesign"): a Secret `slipway-APP` in the app's namespace that tells ApplySet-aware tools
/// (kubectl, and others that read the KEP) which objects make up the set. Its `id` label is
/// the value every member carries in `applyset.kubernetes.io/part-of`; its annotations name
/// the tool that manages the set, the group-kinds of its members and the namespaces other
/// than its own that they live in. It holds no data.
public struct ApplySetParent: Sendable, Hashable {
    public var name: String
    public var namespace: String

    public static let idLabel = "applyset.kubernetes.io/id"
    public static let toolingAnnotation = "applyset.kubernetes.io/tooling"
    public static let groupKindsAnnotation = "applyset.kubernetes.io/contains-group-kinds"
    public static let namespacesAnnotation = "applyset.kubernetes.io/additional-namespaces"
    /// `name/version` as the KEP asks; kubectl leaves a set whose tooling is another tool's alone.
    public static let tooling = "slipway/v1"

    public init(app: String, namespace: String) {
        name = "slipway-\(app)"
        self.namespace = namespace
    }

    /// `applyset-<base64url(sha256(NAME.NAMESPACE.Secret.))>-v1`: the KEP's id of a Secret parent.
    public var id: String {
        let digest = SHA256.hash(data: Data("\(name).\(namespace).Secret.".utf8))
        let encoded = Data(digest).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        return "applyset-\(encoded)-v1"
    }

    public var reference: ObjectReference {
        ObjectReference(apiVersion: "v1", kind: "Secret", namespace: namespace, name: name)
    }

    /// The parent for a set of `members`: what server-side apply sends.
    public func object(members: [ObjectReference]) -> JSONValue {
        let kinds = Set(members.map(Self.groupKind)).sorted()
        let others = Set(members.compactMap(\.namespace)).subtracting([namespace]).sorted()
        var annotations: [String: JSONValue] = [
            Self.toolingAnnotation: .string(Self.tooling),
            Self.groupKindsAnnotation: .string(kinds.joined(separator: ",")),
        ]
        if !others.isEmpty { annotations[Self.namespacesAnnotation] = .string(others.joined(separator: ",")) }
        // No `type`: the API server defaults it (Opaque), and the apply stays the recorded shape.
        return ["apiVersion": "v1", "kind": "Secret",
                "metadata": ["name": .string(name), "namespace": .string(namespace),
                             "labels": [Self.idLabel: .string(id)], "annotations": .object(annotations)]]
    }

    /// `Kind.group`, or `Kind` for the core group, as the KEP's annotation spells them.
    static func groupKind(_ reference: ObjectReference) -> String {
        reference.group.isEmpty ? reference.kind : "\(reference.kind).\(reference.group)"
    }
}
