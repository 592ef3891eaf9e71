import Foundation
public import SlipwayCore
import Yams

/// A YAML node with its place in the file and its key path, for reading typed values
/// with errors that name file, line and key. Unknown keys are errors: a typo must not be
/// silently ignored in a file that decides what gets deployed.
public struct YAMLNode {
    let node: Node
    public let file: String
    /// Dotted path from the document root, such as `apps[0].forge`.
    public let path: String

    /// Parses `text`; an empty document reads as an empty mapping.
    public static func parse(_ text: String, file: String) throws(ConfigError) -> YAMLNode {
        do {
            // Values are read as text by the typed readers below, so scalars are not resolved
            // to tags: Yams's default resolver tries seven ICU regular expressions on every
            // plain scalar, and compiling them at start maps ICU's regex code and Unicode
            // tables into the server (0.6 MiB of its idle RSS) for a result nothing reads.
            guard let node = try Yams.compose(yaml: text, .basic) else {
                return YAMLNode(node: Node.mapping([:]), file: file, path: "")
            }
            return YAMLNode(node: node, file: file, path: "")
        } catch let error as YamlError {
            throw Self.describe(error, file: file)
        } catch {
            throw ConfigError(file: file, message: "invalid YAML: \(error)")
        }
    }

    static func describe(_ error: YamlError, file: String) -> ConfigError {
        var described = describeRaw(error, file: file)
        described.message = described.message.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }.joined(separator: " ").replacingOccurrences(of: " : ", with: ": ")
        return described
    }

    private static func describeRaw(_ error: YamlError, file: String) -> ConfigError {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _):
            let what = [context?.description, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
            return ConfigError(file: file, line: mark.line, column: mark.column, message: "invalid YAML: \(what)")
        case .composer(let context, let problem, let mark, _):
            let what = [context?.description, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
            return ConfigError(file: file, line: mark.line, column: mark.column, message: "invalid YAML: \(what)")
        default:
            return ConfigError(file: file, message: "invalid YAML: \(error)")
        }
    }

    public var line: Int? { node.mark?.line }

    /// This node's value as JSON, its plain scalars typed as YAML 1.1 types them (`true`, `3`),
    /// though the file is read with the basic resolver (where everything is a string).
    public func json() -> JSONValue {
        JSONValue(yaml: Constructor.default.any(from: Self.typed(node)))
    }

    private static func typed(_ node: Node) -> Node {
        switch node {
        case .scalar(let scalar) where scalar.style == .plain:
            return .scalar(.init(scalar.string, Tag(Resolver.default.resolveTag(of: Node.scalar(.init(scalar.string))))))
        case .mapping(let mapping):
            return .mapping(.init(mapping.map { (typed($0.key), typed($0.value)) }))
        case .sequence(let sequence):
            return .sequence(.init(sequence.map(typed)))
        default:
            return node
        }
    }

    /// An error placed at this node.
    public func error(_ message: String) -> ConfigError {
        let subject = path.isEmpty ? "" : "\(path): "
        return ConfigError(file: file, line: node.mark?.line, column: node.mark?.column, message: subject + message)
    }

    private func child(_ node: Node, _ key: String) -> YAMLNode {
        YAMLNode(node: node, file: file, path: path.isEmpty ? key : "\(path).\(key)")
    }

    // MARK: Mappings

    /// Reads this node as a mapping whose keys must all be in `allowed`.
    public func mapping(allowing allowed: Set<String>) throws(ConfigError) -> YAMLMapping {
        guard case .mapping(let mapping) = node else {
            if isNull {
                return YAMLMapping(entries: [:], owner: self)
            }
            throw error("expected a mapping of keys to values, found \(kind)")
        }
        var entries: [String: YAMLNode] = [:]
        for (key, value) in mapping {
            guard let name = key.string else {
                throw YAMLNode(node: key, file: file, path: path).error("keys must be plain strings")
            }
            guard allowed.contains(name) else {
                let expected = allowed.sorted().joined(separator: ", ")
                throw YAMLNode(node: key, file: file, path: path)
                    .error("unknown key '\(name)' (expected one of: \(expected))")
            }
            guard entries[name] == nil else {
                throw YAMLNode(node: key, file: file, path: path).error("key '\(name)' appears twice")
            }
            entries[name] = child(value, name)
        }
        return YAMLMapping(entries: entries, owner: self)
    }

    /// The entries of a mapping with free-form keys (variable names, say), in file order.
    public func entries() throws(ConfigError) -> [(String, YAMLNode)] {
        guard case .mapping(let mapping) = node else {
            if isNull { return [] }
            throw error("expected a mapping of keys to values, found \(kind)")
        }
        var result: [(String, YAMLNode)] = []
        for (key, value) in mapping {
            guard let name = key.string else { throw YAMLNode(node: key, file: file, path: path).error("keys must be plain strings") }
            result.append((name, child(value, name)))
        }
        return result
    }

    // MARK: Sequences

    public func sequence() throws(ConfigError) -> [YAMLNode] {
        switch node {
        case .sequence(let sequence):
            return sequence.enumerated().map { index, item in
                YAMLNode(node: item, file: file, path: "\(path)[\(index)]")
            }
        case .scalar where isNull:
            return []
        default:
            throw error("expected a list, found \(kind)")
        }
    }

    // MARK: Scalars

    public var isNull: Bool {
        if case .scalar(let scalar) = node { return scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string) }
        return false
    }

    public func string() throws(ConfigError) -> String {
        guard case .scalar(let scalar) = node else { throw error("expected text, found \(kind)") }
        return scalar.string
    }

    public func int() throws(ConfigError) -> Int {
        guard case .scalar(let scalar) = node, let value = Int(scalar.string) else {
            throw error("expected a whole number, found \(describeValue)")
        }
        return value
    }

    public func bool() throws(ConfigError) -> Bool {
        guard case .scalar(let scalar) = node else { throw error("expected true or false, found \(kind)") }
        switch scalar.string.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw error("expected true or false, found \(describeValue)")
        }
    }

    /// A duration such as `30s`, `5m`, `1h`, `250ms`, or a bare number of seconds.
    public func duration() throws(ConfigError) -> Duration {
        let text = try string().trimmingCharacters(in: .whitespaces)
        guard let parsed = Self.parseDuration(text) else {
            throw error("expected a duration such as 30s, 5m, 1h or 250ms, found '\(text)'")
        }
        return parsed
    }

    /// A size in bytes: a number, or with a unit (`512MiB`, `2GiB`, `100M`, `1G`, `64KiB`).
    public func byteSize() throws(ConfigError) -> Int {
        let text = try string().trimmingCharacters(in: .whitespaces)
        let units: [(String, Int)] = [("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30), ("B", 1)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            if let value = Int(text.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), value > 0 { return value * scale }
        }
        if let value = Int(text), value > 0 { return value }
        throw error("expected a size such as 512MiB, 2GiB or a number of bytes, found '\(text)'")
    }

    static func parseDuration(_ text: String) -> Duration? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            let number = text.dropLast(suffix.count)
            // "5ms" also ends in "s": only accept when what precedes is a number.
            if let value = Double(number), value >= 0 { return .milliseconds(Int64((value * scale * 1000).rounded())) }
        }
        if let seconds = Double(text), seconds >= 0 { return .milliseconds(Int64((seconds * 1000).rounded())) }
        return nil
    }

    /// One of the raw values of `T`, with the allowed values in the error.
    public func oneOf<T: RawRepresentable & CaseIterable>(_ type: T.Type) throws(ConfigError) -> T where T.RawValue == String {
        let text = try string()
        guard let value = T(rawValue: text) else {
            let allowed = T.allCases.map(\.rawValue).joined(separator: ", ")
            throw error("'\(text)' is not one of: \(allowed)")
        }
        return value
    }

    private var kind: String {
        switch node {
        case .scalar: "a value (\(describeValue))"
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }

    private var describeValue: String {
        if case .scalar(let scalar) = node { return "'\(scalar.string)'" }
        return "a structure"
    }
}

/// The entries of a mapping read with `YAMLNode.mapping(allowing:)`.
public struct YAMLMapping {
    let entries: [String: YAMLNode]
    let owner: YAMLNode

    public subscript(key: String) -> YAMLNode? {
        guard let node = entries[key], !node.isNull else { return nil }
        return node
    }

    public func required(_ key: String) throws(ConfigError) -> YAMLNode {
        guard let node = self[key] else { throw owner.error("missing required key '\(key)'") }
        return node
    }

    public var keys: Set<String> { Set(entries.keys) }
}
