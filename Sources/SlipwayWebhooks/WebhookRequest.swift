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
            let key = Self.lowercased(header.name)
            if map[key] == nil { map[key] = header.value }
        }
        self.headers = map
        self.body = body
    }

    public subscript(header name: String) -> String? {
        headers[Self.lowercased(name)]
    }

    /// `text` lower-cased. Header names and media types are ASCII, and most arrive lower-case
    /// already (HTTP/2, the server's canonical names): then no copy is made (`lowercased()`
    /// copied every header name of every delivery, with a Unicode lookup per character).
    static func lowercased(_ text: some StringProtocol) -> String {
        text.utf8.contains { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") } ? text.lowercased() : String(text)
    }

    /// The media type without parameters, lower-cased (`application/json`).
    public var mediaType: String? {
        guard let raw = self[header: "content-type"] else { return nil }
        // Read on every delivery, as bytes: Foundation's `trimmingCharacters(in:)` here was
        // 1.5 % of the server's CPU at full intake, a walk over `Character`s still 1.3 %.
        let isBlank = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        var type = raw.utf8.prefix { $0 != UInt8(ascii: ";") }.drop(while: isBlank)
        while let last = type.last, isBlank(last) { type = type.dropLast() }
        return Self.lowercased(Substring(type))
    }
}
