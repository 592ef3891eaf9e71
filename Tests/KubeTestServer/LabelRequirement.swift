import SlipwayCore

/// One term of a label selector: `key=value`, `key==value`, `key!=value`, `key`, `!key`.
struct LabelRequirement {
    enum Operation { case equals(String), notEquals(String), exists, notExists }
    var key: String
    var operation: Operation

    struct ParseError: Error, CustomStringConvertible { var description: String }

    static func parse(_ selector: String) throws -> [LabelRequirement] {
        try selector.split(separator: ",").map { raw in
            let term = raw.trimmingCharacters(in: .whitespaces)
            if let range = term.range(of: "!=") {
                return LabelRequirement(key: String(term[..<range.lowerBound]), operation: .notEquals(String(term[range.upperBound...])))
            }
            if let range = term.range(of: "==") ?? term.range(of: "=") {
                return LabelRequirement(key: String(term[..<range.lowerBound]), operation: .equals(String(term[range.upperBound...])))
            }
            if term.hasPrefix("!") { return LabelRequirement(key: String(term.dropFirst()), operation: .notExists) }
            guard !term.isEmpty, !term.contains(" ") else { throw ParseError(description: "'\(term)' is not a label requirement") }
            return LabelRequirement(key: term, operation: .exists)
        }
    }

    func matches(_ labels: [String: JSONValue]) -> Bool {
        let value = labels[key]?.stringValue
        switch operation {
        case .equals(let expected): return value == expected
        case .notEquals(let expected): return value != expected
        case .exists: return value != nil
        case .notExists: return value == nil
        }
    }
}

/// What a LIST or WATCH selects: its label selector and its field selector (only
/// `metadata.name` and `metadata.namespace`, which every kind supports).
struct Selection {
    var labels: [LabelRequirement] = []
    var fields: [LabelRequirement] = []

    static let supportedFields: Set<String> = ["metadata.name", "metadata.namespace"]

    /// The refusal of the API server for a selector it cannot read.
    struct Refusal: Error { var message: String }

    init(labels: [LabelRequirement] = [], fields: [LabelRequirement] = []) {
        self.labels = labels
        self.fields = fields
    }

    init(labelSelector: String?, fieldSelector: String?) throws(Refusal) {
        do {
            labels = try LabelRequirement.parse(labelSelector ?? "")
        } catch {
            throw Refusal(message: "unable to parse requirement: \(error)")
        }
        do {
            fields = try LabelRequirement.parse(fieldSelector ?? "")
        } catch {
            throw Refusal(message: "invalid selector: '\(fieldSelector ?? "")'; can't understand '\(fieldSelector ?? "")'")
        }
        if let unknown = fields.first(where: { !Self.supportedFields.contains($0.key) }) {
            throw Refusal(message: "field label not supported: \(unknown.key)")
        }
    }

    func matches(_ object: JSONValue) -> Bool {
        let metadata = object["metadata"] ?? [:]
        let fieldValues: [String: JSONValue] = ["metadata.name": metadata["name"] ?? "", "metadata.namespace": metadata["namespace"] ?? ""]
        return labels.allSatisfy { $0.matches(metadata["labels"]?.objectValue ?? [:]) } && fields.allSatisfy { $0.matches(fieldValues) }
    }
}
