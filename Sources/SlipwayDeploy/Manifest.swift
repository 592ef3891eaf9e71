public import SlipwayCore

/// One rendered Kubernetes object and where it came from.
public struct Manifest: Sendable, Hashable {
    public var object: JSONValue
    /// The file (relative to the repository) or `render command output`.
    public var source: String
    /// 0-based index of the document in its source.
    public var index: Int
    public var line: Int

    public init(object: JSONValue, source: String, index: Int, line: Int) {
        self.object = object
        self.source = source
        self.index = index
        self.line = line
    }

    public var apiVersion: String { object["apiVersion"]?.stringValue ?? "" }
    public var kind: String { object["kind"]?.stringValue ?? "" }
    public var name: String { object[path: ["metadata", "name"]]?.stringValue ?? "" }
    public var namespace: String? { object[path: ["metadata", "namespace"]]?.stringValue }
    /// The API group (empty for the core group).
    public var group: String { apiVersion.contains("/") ? String(apiVersion.split(separator: "/")[0]) : "" }

    public var reference: ObjectReference {
        ObjectReference(apiVersion: apiVersion, kind: kind, namespace: namespace, name: name)
    }

    /// The manifests a deploy stored (for rollback, self-heal and drift), named after their revision.
    public static func stored(_ objects: JSONValue, commit: String) -> [Manifest] {
        (objects.arrayValue ?? []).enumerated().map {
            Manifest(object: $0.element, source: "revision \(commit.prefix(12))", index: $0.offset, line: 1)
        }
    }

    /// `file.yaml document 2` for error messages.
    public var place: String { "\(source) document \(index + 1) (line \(line))" }
}

/// Identifies a live object: what an inventory records and prune deletes.
public struct ObjectReference: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    public var apiVersion: String
    public var kind: String
    public var namespace: String?
    public var name: String

    public init(apiVersion: String, kind: String, namespace: String?, name: String) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.namespace = namespace
        self.name = name
    }

    public var group: String { apiVersion.contains("/") ? String(apiVersion.split(separator: "/")[0]) : "" }

    /// Identity across versions of the same kind (apps/v1 and apps/v1beta1 are one object).
    public var identity: String { "\(group)/\(kind)/\(namespace ?? "")/\(name)" }

    public var description: String { "\(kind) \(namespace.map { "\($0)/" } ?? "")\(name)" }

    public static func < (lhs: ObjectReference, rhs: ObjectReference) -> Bool { lhs.identity < rhs.identity }
}
