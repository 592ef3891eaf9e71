import Foundation
public import SlipwayCore

/// One step into an object, as server-side apply tracks ownership: a map key (`f:name`) or
/// an element of an associative list, identified by its key fields (`k:{"name":"cart"}`).
public enum PathElement: Hashable, Sendable, Comparable {
    case field(String)
    case key([String: JSONValue])

    /// The `fieldsV1` spelling.
    var fieldsV1Key: String {
        switch self {
        case .field(let name): "f:\(name)"
        case .key(let fields): "k:" + FieldSet.canonicalJSON(.object(fields))
        }
    }

    /// How the API server names the path in conflict messages: `.data.X`, `[name="cart"]`.
    var conflictText: String {
        switch self {
        case .field(let name): ".\(name)"
        case .key(let fields):
            "[" + fields.keys.sorted().map { key in
                let value = fields[key]!
                return "\(key)=" + (value.stringValue.map { "\"\($0)\"" } ?? FieldSet.canonicalJSON(value))
            }.joined(separator: ",") + "]"
        }
    }

    public static func < (lhs: PathElement, rhs: PathElement) -> Bool { lhs.fieldsV1Key < rhs.fieldsV1Key }
}

public typealias FieldPath = [PathElement]

/// Field sets of server-side apply: which leaves an applied configuration sets.
enum FieldSet {
    /// Keys that identify elements of associative lists, tried in order, as the built-in
    /// types declare them (containers and env by name, ports by port and protocol, ...).
    static func listKey(_ items: [JSONValue]) -> [String]? {
        guard !items.isEmpty, items.allSatisfy({ $0.objectValue != nil }) else { return nil }
        let candidates: [[String]] = [["containerPort", "protocol"], ["port", "protocol"], ["name"], ["type"], ["mountPath"], ["ip"]]
        for keys in candidates {
            if items.allSatisfy({ item in keys.allSatisfy { key in item[key] != nil || key == "protocol" } }) && items.allSatisfy({ $0[keys[0]] != nil }) {
                return keys
            }
        }
        return nil
    }

    static func elementKey(_ item: JSONValue, keys: [String]) -> PathElement {
        var fields: [String: JSONValue] = [:]
        for key in keys {
            if let value = item[key] { fields[key] = value } else if key == "protocol" { fields[key] = "TCP" }
        }
        return .key(fields)
    }

    /// Every leaf path of an applied object, as server-side apply owns them. `apiVersion`,
    /// `kind`, name and namespace identify the object and are not owned.
    static func paths(of object: JSONValue) -> Set<FieldPath> {
        var result: Set<FieldPath> = []
        guard case .object(let fields) = object else { return result }
        for (key, value) in fields where !["apiVersion", "kind", "status"].contains(key) {
            if key == "metadata", case .object(let metadata) = value {
                for (metaKey, metaValue) in metadata where ["labels", "annotations", "finalizers", "ownerReferences"].contains(metaKey) {
                    collect(metaValue, at: [.field("metadata"), .field(metaKey)], into: &result)
                }
                continue
            }
            collect(value, at: [.field(key)], into: &result)
        }
        return result
    }

    /// Fields the built-in schemas declare atomic: owned and replaced as a whole.
    /// (Label selectors are `x-kubernetes-map-type: atomic`; a CRD's `versions` is an atomic list;
    /// a binding's `roleRef` and `subjects` are atomic, as recorded in wire/14.)
    static func isAtomic(_ path: FieldPath, _ value: JSONValue) -> Bool {
        guard case .field(let name)? = path.last else { return false }
        switch (name, value) {
        case ("selector", .object), ("versions", .array), ("roleRef", .object), ("subjects", .array): return true
        default: return false
        }
    }

    private static func collect(_ value: JSONValue, at path: FieldPath, into result: inout Set<FieldPath>) {
        if isAtomic(path, value) {
            result.insert(path)
            return
        }
        switch value {
        case .object(let fields) where !fields.isEmpty:
            for (key, child) in fields { collect(child, at: path + [.field(key)], into: &result) }
        case .array(let items):
            guard let keys = listKey(items) else { result.insert(path); return }
            for item in items {
                let element = path + [elementKey(item, keys: keys)]
                result.insert(element + [.field(".")])
                collect(item, at: element, into: &result)
            }
        default:
            result.insert(path)
        }
    }

    /// The value at `path`, or nil when absent.
    static func value(at path: FieldPath, in object: JSONValue) -> JSONValue? {
        var current = object
        for element in path {
            switch element {
            case .field("."):
                return current
            case .field(let name):
                guard let next = current[name] else { return nil }
                current = next
            case .key(let keyFields):
                guard let items = current.arrayValue,
                      let match = items.first(where: { item in keyFields.allSatisfy { item[$0.key] ?? (($0.key == "protocol") ? "TCP" : nil) == $0.value } })
                else { return nil }
                current = match
            }
        }
        return current
    }

    /// `object` without the value at `path` (and without maps the removal left empty).
    static func removing(_ path: FieldPath, from object: JSONValue) -> JSONValue {
        guard let first = path.first else { return object }
        let rest = Array(path.dropFirst())
        switch (first, object) {
        case (.field("."), _):
            return .null
        case (.field(let name), .object(var fields)):
            guard let child = fields[name] else { return object }
            if rest.isEmpty || rest == [.field(".")] {
                fields[name] = nil
            } else {
                let updated = removing(rest, from: child)
                if updated == .null || updated.objectValue?.isEmpty == true || updated.arrayValue?.isEmpty == true {
                    fields[name] = nil
                } else {
                    fields[name] = updated
                }
            }
            return .object(fields)
        case (.key(let keyFields), .array(var items)):
            guard let index = items.firstIndex(where: { item in keyFields.allSatisfy { item[$0.key] ?? (($0.key == "protocol") ? "TCP" : nil) == $0.value } }) else { return object }
            if rest == [.field(".")] || rest.isEmpty {
                items.remove(at: index)
            } else {
                items[index] = removing(rest, from: items[index])
            }
            return .array(items)
        default:
            return object
        }
    }

    /// Deep merge of an applied configuration into a live object: maps merge, associative
    /// lists merge by key, other lists and scalars are replaced.
    static func merge(_ applied: JSONValue, into live: JSONValue) -> JSONValue {
        switch (applied, live) {
        case (.object(let appliedFields), .object(var liveFields)):
            for (key, value) in appliedFields {
                if isAtomic([.field(key)], value) {
                    liveFields[key] = value
                } else {
                    liveFields[key] = liveFields[key].map { merge(value, into: $0) } ?? value
                }
            }
            return .object(liveFields)
        case (.array(let appliedItems), .array(let liveItems)):
            guard let keys = listKey(appliedItems), listKey(liveItems) == keys || liveItems.isEmpty else { return applied }
            var merged = liveItems
            for item in appliedItems {
                let key = elementKey(item, keys: keys)
                if let index = merged.firstIndex(where: { elementKey($0, keys: keys) == key }) {
                    merged[index] = merge(item, into: merged[index])
                } else {
                    merged.append(item)
                }
            }
            return .array(merged)
        default:
            return applied
        }
    }

    /// The `fieldsV1` tree for a set of paths.
    static func fieldsV1(_ paths: Set<FieldPath>) -> JSONValue {
        var root: [String: JSONValue] = [:]
        for path in paths {
            insert(path.map(\.fieldsV1KeyDot), into: &root)
        }
        return .object(root)
    }

    private static func insert(_ keys: [String], into tree: inout [String: JSONValue]) {
        guard let first = keys.first else { return }
        var child = tree[first]?.objectValue ?? [:]
        insert(Array(keys.dropFirst()), into: &child)
        tree[first] = .object(child)
    }

    /// JSON with sorted keys and no spaces, as `k:` entries are spelled.
    static func canonicalJSON(_ value: JSONValue) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(value)) ?? Data(), as: UTF8.self)
    }

    /// The changed leaves of a merge patch, for Update ownership.
    static func patchPaths(_ patch: JSONValue, prefix: FieldPath = []) -> Set<FieldPath> {
        guard case .object(let fields) = patch else { return [prefix] }
        var result: Set<FieldPath> = []
        for (key, value) in fields where !(prefix.isEmpty && ["apiVersion", "kind"].contains(key)) {
            if prefix.isEmpty, key == "metadata", case .object(let metadata) = value {
                for (metaKey, metaValue) in metadata where ["labels", "annotations"].contains(metaKey) {
                    result.formUnion(patchPaths(metaValue, prefix: [.field("metadata"), .field(metaKey)]))
                }
                continue
            }
            if case .object(let nested) = value, !nested.isEmpty {
                result.formUnion(patchPaths(value, prefix: prefix + [.field(key)]))
            } else {
                result.insert(prefix + [.field(key)])
            }
        }
        return result
    }

    /// RFC 7386 JSON merge patch.
    static func mergePatch(_ patch: JSONValue, into target: JSONValue) -> JSONValue {
        guard case .object(let patchFields) = patch else { return patch }
        var result = target.objectValue ?? [:]
        for (key, value) in patchFields {
            if value == .null {
                result[key] = nil
            } else {
                result[key] = mergePatch(value, into: result[key] ?? .null)
            }
        }
        return .object(result)
    }
}

extension PathElement {
    /// `fieldsV1` key, with "." for the element itself.
    var fieldsV1KeyDot: String {
        if case .field(".") = self { return "." }
        return fieldsV1Key
    }
}

extension FieldPath {
    /// `.spec.template.spec.containers[name="cart"].image`
    var conflictText: String {
        filter { $0 != .field(".") }.map(\.conflictText).joined()
    }
}
