public import Foundation
public import SlipwayCore
import Yams

/// One document of a multi-document YAML (or JSON) file, with where it starts.
public struct YAMLDocument: Sendable, Hashable {
    public var value: JSONValue
    /// 0-based position of the document in its file.
    public var index: Int
    /// 1-based line the document starts on.
    public var line: Int
}

public enum YAMLDocuments {
    /// Every non-empty document of `text` as JSON values. YAML is a superset of JSON, so JSON
    /// files read the same way. Errors name the file and the line.
    public static func parse(_ text: String, file: String) throws(ConfigError) -> [YAMLDocument] {
        var documents: [YAMLDocument] = []
        do {
            // YamlSequence is a value: iterate this very copy, or its error is lost.
            var sequence = try Yams.compose_all(yaml: text)
            var index = 0
            while let node = sequence.next() {
                defer { index += 1 }
                // Yams's constructor traps on a key that is not a plain value (`? {a: 1}`):
                // such a file must be an error with its line, not the end of the server.
                try checkKeys(node, file: file)
                let value = JSONValue(yaml: Constructor.default.any(from: node))
                if value == .null { continue }
                documents.append(YAMLDocument(value: value, index: index, line: node.mark?.line ?? 1))
            }
            // The sequence stops at a parse error and only records it.
            if let error = sequence.error { throw error }
        } catch let error as YamlError {
            throw YAMLNode.describe(error, file: file)
        } catch let error as ConfigError {
            throw error
        } catch {
            throw ConfigError(file: file, message: "invalid YAML: \(error)")
        }
        return documents
    }

    /// Every mapping key in `node` is a plain value (JSON objects have string keys).
    static func checkKeys(_ node: Node, file: String) throws(ConfigError) {
        var pending = [node]
        while let next = pending.popLast() {
            switch next {
            case .mapping(let mapping):
                for (key, value) in mapping {
                    guard case .scalar = key else {
                        throw ConfigError(file: file, line: key.mark?.line, column: key.mark?.column,
                                          message: "a mapping key must be a plain value, not a mapping, a list or an alias")
                    }
                    pending.append(value)
                }
            case .sequence(let sequence):
                pending.append(contentsOf: sequence)
            case .scalar, .alias:
                break
            }
        }
    }

    /// Parses a single document (an apply body, say).
    public static func parseOne(_ text: String, file: String) throws(ConfigError) -> JSONValue {
        let documents = try parse(text, file: file)
        guard documents.count == 1 else {
            throw ConfigError(file: file, message: "expected exactly one document, found \(documents.count)")
        }
        return documents[0].value
    }
}

extension JSONValue {
    /// Converts what Yams constructs (`[AnyHashable: Any]`, `[Any]`, scalars) into a JSON value.
    init(yaml any: Any) {
        switch any {
        case is NSNull: self = .null
        case let value as Bool: self = .bool(value)
        case let value as Int: self = .int(Int64(value))
        case let value as Double: self = .double(value)
        case let value as String: self = .string(value)
        case let value as Date: self = .string(ISO8601DateFormatter().string(from: value))
        case let value as Data: self = .string(value.base64EncodedString())
        case let value as [Any]: self = .array(value.map(JSONValue.init(yaml:)))
        case let value as [AnyHashable: Any]:
            var fields: [String: JSONValue] = [:]
            for (key, item) in value { fields["\(key.base)"] = JSONValue(yaml: item) }
            self = .object(fields)
        default: self = .string("\(any)")
        }
    }
}
