import Foundation
public import SlipwayCore

/// Reads `managedFields` into the dotted paths `ObjectDiff` uses, so drift is counted only on
/// fields a given field manager owns.
public enum FieldOwnership {
    /// The paths `manager` owns through Apply in `object` (`data.LOG_LEVEL`,
    /// `spec.template.spec.containers[name=web].image`).
    public static func ownedPaths(of object: JSONValue, manager: String) -> Set<String> {
        var result: Set<String> = []
        for entry in object[path: ["metadata", "managedFields"]]?.arrayValue ?? []
        where entry["manager"]?.stringValue == manager && entry["operation"]?.stringValue == "Apply" {
            if let fields = entry["fieldsV1"] { collect(fields, prefix: "", into: &result) }
        }
        return result
    }

    private static func collect(_ tree: JSONValue, prefix: String, into result: inout Set<String>) {
        guard case .object(let children) = tree, !children.isEmpty else {
            if !prefix.isEmpty { result.insert(prefix) }
            return
        }
        var hasChild = false
        for (key, child) in children {
            if key == "." { continue }
            hasChild = true
            if key.hasPrefix("f:") {
                let name = String(key.dropFirst(2))
                collect(child, prefix: prefix.isEmpty ? name : "\(prefix).\(name)", into: &result)
            } else if key.hasPrefix("k:"), let element = elementKey(String(key.dropFirst(2))) {
                collect(child, prefix: "\(prefix)[\(element)]", into: &result)
            }
        }
        if !hasChild && !prefix.isEmpty { result.insert(prefix) }
    }

    /// `{"name":"web"}` → `name=web`, choosing the key as `ObjectDiff` does.
    static func elementKey(_ json: String) -> String? {
        guard let data = json.data(using: .utf8), let fields = try? JSONDecoder().decode([String: JSONValue].self, from: data) else { return nil }
        for key in ObjectDiff.listKeys {
            if let value = fields[key] { return "\(key)=\(value.stringValue ?? ObjectDiff.render(value))" }
        }
        return nil
    }
}
