/// Why a delivery was refused. The server maps each case to one status code.
public enum WebhookError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Missing, malformed or wrong signature or token. Deliberately carries no detail:
    /// a caller without the secret learns nothing about which check failed.
    case unauthorized
    /// The body is not in a media type this forge's adapter reads.
    case unsupportedMediaType(String?)
    /// The signature was right but the payload cannot be read as the forge's push event.
    case malformedPayload(String)

    public var description: String {
        switch self {
        case .unauthorized:
            "signature verification failed"
        case .unsupportedMediaType(let type):
            "unsupported content type \(type.map { "'\($0)'" } ?? "(none)"); send application/json"
        case .malformedPayload(let why):
            "payload could not be read: \(why)"
        }
    }
}
