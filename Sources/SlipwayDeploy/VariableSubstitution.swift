/// `${NAME}` and `${NAME:=default}` in manifest text, as Flux's post-build substitution
/// does; `$${NAME}` stays literally `${NAME}`. An undefined variable without a default is an
/// error, never an empty string.
public enum VariableSubstitution {
    public struct Undefined: Error, Equatable {
        public var name: String
        public var line: Int

        public init(name: String, line: Int) {
            self.name = name
            self.line = line
        }
    }

    public static func apply(_ text: String, variables: [String: String]) throws(Undefined) -> String {
        var output = ""
        output.reserveCapacity(text.utf8.count)
        var index = text.startIndex
        var line = 1
        while index < text.endIndex {
            let character = text[index]
            if character == "\n" { line += 1 }
            if character == "$", text[index...].hasPrefix("$${") {
                // Escaped: drop one dollar, keep the rest as is.
                index = text.index(after: index)
                if let close = text[index...].firstIndex(of: "}") {
                    output += text[index...close]
                    index = text.index(after: close)
                }
                continue
            }
            if character == "$", text[index...].hasPrefix("${"), let close = text[index...].firstIndex(of: "}") {
                let inner = text[text.index(index, offsetBy: 2)..<close]
                let (name, fallback): (Substring, Substring?) = if let range = inner.range(of: ":=") {
                    (inner[..<range.lowerBound], inner[range.upperBound...])
                } else {
                    (inner, nil)
                }
                if isVariableName(name) {
                    if let value = variables[String(name)] ?? fallback.map(String.init) {
                        output += value
                    } else {
                        throw Undefined(name: String(name), line: line)
                    }
                    index = text.index(after: close)
                    continue
                }
            }
            output.append(character)
            index = text.index(after: index)
        }
        return output
    }

    static func isVariableName(_ name: Substring) -> Bool {
        guard let first = name.first, first.isLetter || first == "_" else { return false }
        return name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" }
    }
}
