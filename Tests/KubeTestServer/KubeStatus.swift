public import SlipwayCore

/// A response of the test API server: a status code and a JSON body (or plain text, as the
/// real server answers for paths it does not know).
public struct KubeAnswer: Sendable {
    public var status: Int
    public var body: JSONValue?
    public var text: String?

    static func json(_ status: Int, _ body: JSONValue) -> KubeAnswer { KubeAnswer(status: status, body: body, text: nil) }

    /// The `Status` object the API server sends with errors.
    static func failure(_ code: Int, reason: String, message: String, details: JSONValue? = nil) -> KubeAnswer {
        var body: JSONValue = ["kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Failure",
                               "message": .string(message), "reason": .string(reason), "code": .int(Int64(code))]
        if let details { body["details"] = details }
        return .json(code, body)
    }

    static func notFound(_ plural: String, _ name: String) -> KubeAnswer {
        failure(404, reason: "NotFound", message: "\(plural) \"\(name)\" not found", details: ["name": .string(name), "kind": .string(plural)])
    }

    static let pageNotFound = KubeAnswer(status: 404, body: nil, text: "404 page not found")
}
