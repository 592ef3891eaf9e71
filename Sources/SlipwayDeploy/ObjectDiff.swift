import Foundation
public import SlipwayCore

/// One field that differs between a live object and the desired one.
public struct FieldChange: Sendable, Hashable, Codable {
    /// `spec.template.spec.containers[name=web].image`
    public var path: String
    /// JSON text of the live value; nil when the field is absent live.
    public var live: String?
    /// JSON text of the desired value; nil when the field is absent from the desired object.
    public var desired: String?

    public init(path: String, live: String?, desired: String?) {
        self.path = path
        self.live = live
        self.desired = desired
    }
}

/// Field-by-field comparison of Kubernetes objects, as `slipway diff` shows it and drift
/// detection counts it. Server-managed metadata and `status` are never compared; Secret
/// values are masked.
public enum ObjectDiff {
    static let ignoredMetadata: Set<String> = ["managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink"]

    /// The leaf differences from `live` to `desired`. `only` limits the comparison to paths
    /// that start with one of the given paths (the fields a field manager owns).
    public static func changes(live: JSONValue?, desired: JSONValue, only: Set<String>? = nil) -> [FieldChange] {
        var result: [FieldChange] = []
        compare(strip(live) ?? .object([:]), strip(desired), path: "", into: &result)
        let masked = desired["kind"] == "Secret"
        return result.filter { change in
            guard let only else { return true }
            return only.contains { change.path == $0 || change.path.hasPrefix($0 + ".") || change.path.hasPrefix($0 + "[") }
        }.map { change in
            guard masked, change.path.hasPrefix("data.") || change.path.hasPrefix("stringData.") else { return change }
            return FieldChange(path: change.path, live: change.live.map { _ in "\"***\"" }, desired: change.desired.map { _ in "\"***\"" })
        }
    }

    static func strip(_ object: JSONValue?) -> JSONValue? {
        guard var object else { return nil }
        object["status"] = nil
        if case .object(var metadata)? = object["metadata"] {
            for key in ignoredMetadata { metadata[key] = nil }
            object["metadata"] = .object(metadata)
        }
        return object
    }

    private static func compare(_ live: JSONValue?, _ desired: JSONValue?, path: String, into result: inout [FieldChange]) {
        // A whole structure on one side only is shown leaf by leaf, against an empty one.
        switch (live, desired) {
        case (nil, .object?), (.null?, .object?): return compare(.object([:]), desired, path: path, into: &result)
        case (.object?, nil), (.object?, .null?): return compare(live, .object([:]), path: path, into: &result)
        case (nil, .array(let items)?) where keyed(items) != nil: return compare(.array([]), desired, path: path, into: &result)
        case (.array(let items)?, nil) where keyed(items) != nil: return compare(live, .array([]), path: path, into: &result)
        default: break
        }
        switch (live, desired) {
        case (.object(let a)?, .object(let b)?):
            for key in Set(a.keys).union(b.keys).sorted() {
                compare(a[key], b[key], path: path.isEmpty ? key : "\(path).\(key)", into: &result)
            }
        case (.array(let a)?, .array(let b)?) where (keyed(a) ?? keyed(b)) != nil && (a.isEmpty || b.isEmpty || keyed(a) == keyed(b)):
            let key = (keyed(a) ?? keyed(b))!
            let liveByKey = Dictionary(a.map { ("\($0[key]?.stringValue ?? render($0[key]))", $0) }, uniquingKeysWith: { first, _ in first })
            let desiredByKey = Dictionary(b.map { ("\($0[key]?.stringValue ?? render($0[key]))", $0) }, uniquingKeysWith: { first, _ in first })
            for name in Set(liveByKey.keys).union(desiredByKey.keys).sorted() {
                compare(liveByKey[name], desiredByKey[name], path: "\(path)[\(key)=\(name)]", into: &result)
            }
        default:
            if live != desired {
                result.append(FieldChange(path: path, live: live.map(render), desired: desired.map(render)))
            }
        }
    }

    /// Fields that identify elements of lists of objects, in the order they are tried. Drift
    /// paths and ownership paths (`FieldOwnership`) name list elements the same way.
    static let listKeys = ["name", "type", "containerPort", "port", "mountPath"]

    /// The key that identifies elements of a list of objects (`name`, `type`, ...), if any.
    static func keyed(_ items: [JSONValue]) -> String? {
        guard !items.isEmpty, items.allSatisfy({ $0.objectValue != nil }) else { return nil }
        return listKeys.first { key in items.allSatisfy { $0[key] != nil } }
    }

    static func render(_ value: JSONValue?) -> String {
        guard let value else { return "null" }
        switch value {
        case .string(let text): return "\"\(text)\""
        case .int(let number): return String(number)
        case .double(let number): return String(number)
        case .bool(let flag): return String(flag)
        case .null: return "null"
        case .array, .object:
            return (try? SlipwayJSON.string(value)) ?? "?"
        }
    }
}
