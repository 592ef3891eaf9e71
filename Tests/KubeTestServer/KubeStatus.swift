public import SlipwayCore

/// A response of the test API server: a status code and a JSON body (or plain text, as the
/// real server answers for paths it does not know).
public struct KubeAnswer: Sendable {
    public var status: Int
    public var body: JSONValue?
    public var text: String?
    /// A pod's log: `text/plain`, the bytes exactly.
    public var log: String?

    init(status: Int, body: JSONValue?, text: String?, log: String? = nil) {
        self.status = status
        self.body = body
        self.text = text
        self.log = log
    }

    static func text(_ status: Int, _ log: String) -> KubeAnswer { KubeAnswer(status: status, body: nil, text: nil, log: log) }

    static func json(_ status: Int, _ body: JSONValue) -> KubeAnswer { KubeAnswer(status: status, body: body, text: nil) }

    /// The `Status` object the API server sends with errors.
    /// `reason` nil: the real server sends none (its 500 for a failed conversion, say).
    static func failure(_ code: Int, reason: String?, message: String, details: JSONValue? = nil) -> KubeAnswer {
        var body: JSONValue = ["kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Failure",
                               "message": .string(message), "code": .int(Int64(code))]
        if let reason { body["reason"] = .string(reason) }
        if let details { body["details"] = details }
        return .json(code, body)
    }

    /// 404 naming the resource as the API server does: `deployments.apps "web" not found`.
    static func notFound(_ plural: String, _ name: String, group: String = "") -> KubeAnswer {
        var details: JSONValue = ["name": .string(name), "kind": .string(plural)]
        if !group.isEmpty { details["group"] = .string(group) }
        let qualified = group.isEmpty ? plural : "\(plural).\(group)"
        return failure(404, reason: "NotFound", message: "\(qualified) \"\(name)\" not found", details: details)
    }

    /// A delete whose object is gone at once: `Status` Success naming it.
    static func deleted(_ type: ResourceType, _ name: String, uid: String) -> KubeAnswer {
        var details: JSONValue = ["kind": .string(type.plural), "name": .string(name), "uid": .string(uid)]
        if !type.group.isEmpty { details["group"] = .string(type.group) }
        return .json(200, ["kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Success", "details": details])
    }

    /// 403 as the RBAC authorizer words it.
    static func forbidden(user: String, verb: String, type: ResourceType, namespace: String?, name: String?) -> KubeAnswer {
        let qualified = type.group.isEmpty ? type.plural : "\(type.plural).\(type.group)"
        let subject = name.map { "\(qualified) \"\($0)\"" } ?? qualified
        let scope = namespace.map { "in the namespace \"\($0)\"" } ?? "at the cluster scope"
        var details: JSONValue = ["kind": .string(type.plural)]
        if let name { details["name"] = .string(name) }
        if !type.group.isEmpty { details["group"] = .string(type.group) }
        return failure(403, reason: "Forbidden",
                       message: "\(subject) is forbidden: User \"\(user)\" cannot \(verb) resource \"\(type.plural)\" in API group \"\(type.group)\" \(scope)",
                       details: details)
    }

    static let pageNotFound = KubeAnswer(status: 404, body: nil, text: "404 page not found")
}
