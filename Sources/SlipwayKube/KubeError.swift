public import SlipwayCore

/// Why a Kubernetes API call failed, with the API server's own words where it gave any.
public enum KubeError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The API server answered with a `Status` failure.
    case status(code: Int, reason: String, message: String, causes: [Cause])
    /// The server could not be reached, or answered something that is not the API.
    case transport(String)
    /// Discovery does not know this apiVersion and kind on the cluster.
    case unknownKind(apiVersion: String, kind: String)
    /// The kubeconfig or in-cluster credentials cannot be used.
    case configuration(String)

    public struct Cause: Sendable, Hashable {
        public var field: String?
        public var message: String
        public var reason: String?
    }

    public var description: String {
        switch self {
        case .status(let code, let reason, let message, let causes):
            let detail = causes.isEmpty ? "" : " (" + causes.map { [$0.field, $0.message].compactMap { $0 }.joined(separator: ": ") }.joined(separator: "; ") + ")"
            return "\(code) \(reason): \(message)\(causes.count > 1 ? detail : "")"
        case .transport(let why): return why
        case .unknownKind(let apiVersion, let kind): return "the cluster does not serve \(kind) in \(apiVersion) (no such resource in discovery)"
        case .configuration(let why): return why
        }
    }

    public var code: Int? {
        if case .status(let code, _, _, _) = self { return code }
        return nil
    }

    /// Reads a `Status` answer; nil when the body is not one.
    static func fromStatus(_ body: JSONValue?, code: Int) -> KubeError {
        guard let body, body["kind"] == "Status" else {
            return .status(code: code, reason: "Unknown", message: "the API server answered \(code)", causes: [])
        }
        let causes = (body[path: ["details", "causes"]]?.arrayValue ?? []).map {
            Cause(field: $0["field"]?.stringValue, message: $0["message"]?.stringValue ?? "", reason: $0["reason"]?.stringValue)
        }
        return .status(code: code, reason: body["reason"]?.stringValue ?? "Unknown",
                       message: body["message"]?.stringValue ?? "the API server answered \(code)", causes: causes)
    }
}
