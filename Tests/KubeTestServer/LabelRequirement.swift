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
