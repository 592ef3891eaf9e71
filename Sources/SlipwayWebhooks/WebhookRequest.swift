public import Foundation

/// A webhook delivery as it arrived: headers and the exact body bytes the forge signed.
public struct WebhookRequest: Sendable {
    /// Header names lower-cased; a repeated header keeps its first value.
    public let headers: [String: String]
    public let body: Data
    /// Whether a push's changed files are read from the payload: only path filters and
    /// repositories several apps share need them, and reading every commit's file lists was
    /// the largest part of decoding a GitHub push.
    public var wantsChangedPaths = true

    public init(headers: [(name: String, value: String)], body: Data) {
        var map: [String: String] = [:]
        for header in headers {
            let key = header.name.lowercased()
            if map[key] == nil { map[key] = header.value }
        }
        self.headers = map
        self.body = body
    }

    public subscript(header name: String) -> String? {
        headers[name.lowercased()]
    }

    /// The media type without parameters, lower-cased (`application/json`).
    public var mediaType: String? {
        guard let raw = self[header: "content-type"] else { return nil }
        // Read on every delivery: Foundation's `trimmingCharacters(in:)` here was 1.5 % of the
        // server's CPU at full intake.
        let isBlank = { (c: Character) in c == " " || c == "\t" }
        var type = raw.prefix { $0 != ";" }.drop(while: isBlank)
        while let last = type.last, isBlank(last) { type = type.dropLast() }
        return type.contains(where: \.isUppercase) ? type.lowercased() : String(type)
    }
}
