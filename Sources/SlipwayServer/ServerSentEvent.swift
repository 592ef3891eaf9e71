import HTTPTypes
import Hummingbird
import NIOCore

/// One event of a `text/event-stream` answer (the HTML standard's Server-Sent Events).
struct ServerSentEvent: Sendable {
    var id: String?
    var event: String?
    var data: String

    /// The wire form: each line of `data` as its own `data:` field; a blank line ends it.
    var encoded: String {
        var text = ""
        if let event { text += "event: \(event)\n" }
        if let id { text += "id: \(id)\n" }
        for line in data.split(separator: "\n", omittingEmptySubsequences: false) {
            text += "data: \(line.replacingOccurrences(of: "\r", with: ""))\n"
        }
        return text + "\n"
    }

    /// A comment line: keeps proxies from closing an idle stream, ignored by browsers.
    static let keepAlive = ": keep-alive\n\n"
    /// How long a browser waits before it reconnects, in milliseconds.
    static let retry = "retry: 2000\n\n"

    static let headers: HTTPFields = [.contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-store",
                                      HTTPField.Name("X-Accel-Buffering")!: "no"]

    /// Whether the client asked for an event stream.
    static func isWanted(by request: Request) -> Bool {
        request.headers[values: .accept].contains { $0.contains("text/event-stream") }
    }

    /// Where a reconnecting client left off: `Last-Event-ID` (sent by the browser on its
    /// own) or `?after=` (for the first connection).
    static func lastEventID(of request: Request) -> String? {
        request.headers[HTTPField.Name("Last-Event-ID")!] ?? request.uri.queryParameters.get("after").map { String($0) }
    }
}

extension ResponseBodyWriter {
    mutating func write(_ event: ServerSentEvent) async throws {
        try await write(ByteBuffer(string: event.encoded))
    }
}
