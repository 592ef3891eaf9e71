import Foundation
import SlipwayConfig
import Yams
public import SlipwayCore

/// Reads an apply body the way kube-apiserver does (recorded in Fixtures/kube/wire, 01–09): as
/// YAML 1.1 (sigs.k8s.io/yaml over go-yaml v2), also when it is JSON. So `\/` is not an escape
/// (400 `found unknown escape character`), `\ud83d\ude80` is refused (400 `found invalid
/// Unicode character escape code`), a duplicated key is accepted with the last value winning,
/// and `1.0` is a number like `1` while `1.5` in an integer field fails the conversion (500).
enum ApplyBodyReader {
    struct Refusal: Error {
        var answer: KubeAnswer
    }

    /// The escapes go-yaml v2 (a port of libyaml 0.1) knows in double-quoted scalars: libyaml's
    /// list without YAML 1.2's `\/`.
    private static let simpleEscapes = Set("0abt\tnvfre \"\\N_LP".utf8)
    private static let codeEscapes: [UInt8: Int] = [UInt8(ascii: "x"): 2, UInt8(ascii: "u"): 4, UInt8(ascii: "U"): 8]

    static func read(_ body: String) throws(Refusal) -> JSONValue {
        if let problem = escapeProblem(in: Array(body.utf8)) { throw Refusal(answer: yamlError(problem)) }
        let trimmed = body.drop { $0.isWhitespace }
        if trimmed.first == "{" {
            // JSON is a YAML flow mapping; Foundation's JSON reader keeps the last of duplicated
            // keys, as go-yaml does.
            guard let any = try? JSONSerialization.jsonObject(with: Data(body.utf8), options: [.fragmentsAllowed]) else {
                throw Refusal(answer: yamlError("did not find expected node content"))
            }
            return value(any)
        }
        do {
            return try YAMLDocuments.parseOne(body, file: "body")
        } catch {
            // Only a refused body is looked at again, for the key go-yaml would name.
            if let key = (try? Yams.compose(yaml: body)).flatMap({ $0.flatMap(complexKey) }) {
                throw Refusal(answer: yamlError("invalid map key: \(goValue(key))"))
            }
            throw Refusal(answer: yamlError(error.message))
        }
    }

    /// The first mapping key that is itself a mapping or a list: JSON cannot hold it, and
    /// sigs.k8s.io/yaml refuses it naming the key as Go prints it (recorded: 183–185).
    private static func complexKey(_ node: Node) -> Node? {
        switch node {
        case .mapping(let mapping):
            for (key, value) in mapping {
                if key.scalar == nil { return key }
                if let found = complexKey(value) { return found }
            }
            return nil
        case .sequence(let sequence):
            return sequence.lazy.compactMap(complexKey).first
        default:
            return nil
        }
    }

    /// A YAML node as Go's `%#v` prints what go-yaml v2 decodes it to.
    private static func goValue(_ node: Node) -> String {
        switch node {
        case .mapping(let mapping):
            let pairs = mapping.map { (goValue($0.key), goValue($0.value)) }.sorted { $0.0 < $1.0 }
            return "map[interface {}]interface {}{" + pairs.map { "\($0.0):\($0.1)" }.joined(separator: ", ") + "}"
        case .sequence(let sequence):
            return "[]interface {}{" + sequence.map(goValue).joined(separator: ", ") + "}"
        case .scalar(let scalar):
            if scalar.style == .plain {
                if Int(scalar.string) != nil || ["true", "false"].contains(scalar.string) { return scalar.string }
                if ["", "~", "null"].contains(scalar.string) { return "interface {}(nil)" }
            }
            return "\"" + scalar.string.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        default:
            return "interface {}(nil)"
        }
    }

    private static func yamlError(_ problem: String) -> KubeAnswer {
        .failure(400, reason: "BadRequest", message: "error decoding YAML: error converting YAML to JSON: yaml: \(problem)")
    }

    /// The first escape a YAML 1.1 reader refuses inside a double-quoted scalar. A scalar is
    /// double-quoted when its `"` starts a token: at the start of a line or after `[ { , : - ?`
    /// (comments and single-quoted scalars are skipped; block scalars hold no quoted scalars in
    /// what Slipway or its tests send).
    static func escapeProblem(in bytes: [UInt8]) -> String? {
        var index = 0
        var lastToken: UInt8 = UInt8(ascii: "\n")
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\"") where "\n[{,:-?".utf8.contains(lastToken):
                index += 1
                while index < bytes.count, bytes[index] != UInt8(ascii: "\"") {
                    if bytes[index] == UInt8(ascii: "\\") {
                        guard index + 1 < bytes.count else { return "found unexpected end of stream" }
                        let escape = bytes[index + 1]
                        if let length = codeEscapes[escape] {
                            let digits = bytes[min(index + 2, bytes.count)..<min(index + 2 + length, bytes.count)]
                            guard digits.count == length, let code = UInt32(String(decoding: digits, as: UTF8.self), radix: 16) else {
                                return "did not find expected hexdecimal number"
                            }
                            if (0xD800...0xDFFF).contains(code) || code > 0x10FFFF { return "found invalid Unicode character escape code" }
                            index += 2 + length
                            continue
                        }
                        guard simpleEscapes.contains(escape) else { return "found unknown escape character" }
                        index += 2
                        continue
                    }
                    index += 1
                }
                lastToken = UInt8(ascii: "\"")
            case UInt8(ascii: "'") where "\n[{,:-?".utf8.contains(lastToken):
                index += 1
                while index < bytes.count {
                    if bytes[index] == UInt8(ascii: "'") {
                        if index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "'") { index += 2; continue }
                        break
                    }
                    index += 1
                }
                lastToken = UInt8(ascii: "'")
            case UInt8(ascii: "#") where lastToken == UInt8(ascii: "\n") || (index > 0 && bytes[index - 1] == UInt8(ascii: " ")):
                while index < bytes.count, bytes[index] != UInt8(ascii: "\n") { index += 1 }
                continue
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"):
                break
            default:
                lastToken = byte
            }
            index += 1
        }
        return nil
    }

    /// What Foundation's JSON reader made, as a JSON value (booleans and numbers told apart by
    /// their stored type).
    private static func value(_ any: Any) -> JSONValue {
        switch any {
        case is NSNull: return .null
        case let string as String: return .string(string)
        case let number as NSNumber:
            switch String(cString: number.objCType) {
            case "c", "B": return .bool(number.boolValue)
            case "d", "f": return .double(number.doubleValue)
            default: return .int(number.int64Value)
            }
        case let array as [Any]: return .array(array.map(value))
        case let object as [String: Any]: return .object(object.mapValues(value))
        default: return .string("\(any)")
        }
    }

    // MARK: Conversion to the typed object

    /// Integer fields of the built-in kinds (int32 unless listed in `int64Fields`).
    private static let integerFields: Set<String> = [
        "replicas", "minReadySeconds", "revisionHistoryLimit", "progressDeadlineSeconds", "containerPort", "hostPort", "port",
        "nodePort", "terminationGracePeriodSeconds", "initialDelaySeconds", "periodSeconds", "timeoutSeconds", "failureThreshold",
        "successThreshold", "completions", "parallelism", "backoffLimit", "activeDeadlineSeconds", "ttlSecondsAfterFinished",
        "defaultMode", "runAsUser", "runAsGroup", "fsGroup", "weight",
    ]
    private static let int64Fields: Set<String> = ["terminationGracePeriodSeconds", "activeDeadlineSeconds", "runAsUser", "runAsGroup", "fsGroup"]

    /// The object as the server converts it to its Go type: whole floats in integer fields
    /// become integers; a fraction fails as recorded (08). Only built-in kinds have Go types.
    static func convert(_ object: JSONValue, type: ResourceType, namespace: String?, name: String, builtIn: Bool) throws(Refusal) -> JSONValue {
        guard builtIn else { return object }
        var failure: String?
        let converted = convertNumbers(object, key: nil, failure: &failure)
        if let failure {
            let gvk = "\(type.groupVersion), Kind=\(type.kind)"
            let objectName = namespace.map { "\($0)/\(name)" } ?? name
            throw Refusal(answer: .failure(500, reason: nil, message: "failed to convert new object (\(objectName); \(gvk)) to proper version: unable to convert unstructured object to \(gvk): cannot convert float64 to \(failure)"))
        }
        return converted
    }

    private static func convertNumbers(_ value: JSONValue, key: String?, failure: inout String?) -> JSONValue {
        switch value {
        case .object(let fields):
            var result: [String: JSONValue] = [:]
            for (field, item) in fields { result[field] = convertNumbers(item, key: field, failure: &failure) }
            return .object(result)
        case .array(let items):
            return .array(items.map { convertNumbers($0, key: key, failure: &failure) })
        case .double(let number) where key.map(integerFields.contains) == true:
            if number == number.rounded() { return .int(Int64(number)) }
            if failure == nil { failure = int64Fields.contains(key!) ? "int64" : "int32" }
            return value
        default:
            return value
        }
    }
}
