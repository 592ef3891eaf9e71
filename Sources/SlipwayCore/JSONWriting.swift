public import Foundation

/// How Slipway writes JSON, everywhere: request bodies to Kubernetes, API answers, CLI
/// `--json` output and JSON kept in the store.
///
/// A Kubernetes API server reads apply bodies with a YAML 1.1 reader, also when they are
/// JSON. That reader refuses `\/` and surrogate-pair escapes (`\ud83d\ude80`), folds raw line
/// separators inside quoted strings, and refuses raw non-printable characters. So the one
/// writing Slipway uses is: keys sorted (stable bodies and diffs), `/` and non-ASCII text
/// written as they are (UTF-8), only `"`, `\` and characters a YAML 1.1 reader would not
/// keep escaped (`\n`, `\t`, `\u0085`, `\u2028`, …), and whole numbers written as integers
/// (`replicas: 1.0` becomes `1`; an int32 field refuses `1.0` from some encoders).
public enum SlipwayJSON {
    /// Why a value cannot be written as JSON.
    public struct EncodingError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// The canonical text of `value`.
    public static func data(_ value: JSONValue) throws(EncodingError) -> Data {
        var output = [UInt8]()
        output.reserveCapacity(256)
        try write(value, into: &output)
        return Data(output)
    }

    /// The canonical text of any `Encodable` value (dates as ISO 8601): Foundation's encoder
    /// builds the tree, `data(_ value: JSONValue)` writes it, so every answer reads alike.
    public static func data(_ value: some Encodable) throws -> Data {
        let tree = try JSONDecoder().decode(JSONValue.self, from: foundationEncoder.encode(value))
        return try data(tree)
    }

    /// `data(_:)` as a string.
    public static func string(_ value: JSONValue) throws(EncodingError) -> String {
        String(decoding: try data(value), as: UTF8.self)
    }

    /// The same text indented by two spaces a level, for people (CLI `--json`).
    public static func prettyData(_ value: some Encodable) throws -> Data {
        let tree = try JSONDecoder().decode(JSONValue.self, from: foundationEncoder.encode(value))
        var output = [UInt8]()
        try write(tree, into: &output, indent: 0)
        output.append(UInt8(ascii: "\n"))
        return Data(output)
    }

    private static var foundationEncoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    // MARK: Writing

    private static func write(_ value: JSONValue, into output: inout [UInt8], indent: Int? = nil) throws(EncodingError) {
        switch value {
        case .null: output.append(contentsOf: "null".utf8)
        case .bool(let flag): output.append(contentsOf: (flag ? "true" : "false").utf8)
        case .int(let number): output.append(contentsOf: String(number).utf8)
        case .double(let number): output.append(contentsOf: try text(of: number).utf8)
        case .string(let text): writeString(text, into: &output)
        case .array(let items):
            output.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                newline(indent.map { $0 + 1 }, into: &output)
                try write(item, into: &output, indent: indent.map { $0 + 1 })
            }
            if !items.isEmpty { newline(indent, into: &output) }
            output.append(UInt8(ascii: "]"))
        case .object(let fields):
            output.append(UInt8(ascii: "{"))
            // Byte order, as Go sorts map keys: the same bytes for the same object, always.
            let keys = fields.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            for (index, key) in keys.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                newline(indent.map { $0 + 1 }, into: &output)
                writeString(key, into: &output)
                output.append(UInt8(ascii: ":"))
                if indent != nil { output.append(UInt8(ascii: " ")) }
                try write(fields[key]!, into: &output, indent: indent.map { $0 + 1 })
            }
            if !fields.isEmpty { newline(indent, into: &output) }
            output.append(UInt8(ascii: "}"))
        }
    }

    private static func newline(_ indent: Int?, into output: inout [UInt8]) {
        guard let indent else { return }
        output.append(UInt8(ascii: "\n"))
        output.append(contentsOf: repeatElement(UInt8(ascii: " "), count: indent * 2))
    }

    /// Whole numbers as integers; others in the shortest form that reads back the same.
    static func text(of number: Double) throws(EncodingError) -> String {
        guard number.isFinite else { throw EncodingError(description: "\(number) cannot be written as JSON") }
        if number == number.rounded(), abs(number) < 9.2e18 { return String(Int64(number)) }
        return "\(number)"
    }

    private static let hex = Array("0123456789abcdef".utf8)

    private static func writeString(_ text: String, into output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x22: output.append(contentsOf: [0x5C, 0x22])
            case 0x5C: output.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: output.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: output.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: output.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0x08: output.append(contentsOf: [0x5C, UInt8(ascii: "b")])
            case 0x0C: output.append(contentsOf: [0x5C, UInt8(ascii: "f")])
            // Not printable for YAML 1.1 (C0, DEL, C1, BOM, non-characters) or a line break
            // inside a quoted scalar (NEL, LS, PS): escaped, never raw.
            case 0x00..<0x20, 0x7F...0x9F, 0x2028, 0x2029, 0xFEFF, 0xFFFE, 0xFFFF:
                let value = scalar.value
                output.append(contentsOf: [0x5C, UInt8(ascii: "u"), hex[Int(value >> 12 & 0xF)], hex[Int(value >> 8 & 0xF)],
                                           hex[Int(value >> 4 & 0xF)], hex[Int(value & 0xF)]])
            case 0x20..<0x80:
                output.append(UInt8(scalar.value))
            default:
                UTF8.encode(scalar) { output.append($0) }
            }
        }
        output.append(UInt8(ascii: "\""))
    }
}
