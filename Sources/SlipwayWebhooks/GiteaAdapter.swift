public import Foundation
public import SlipwayCore

/// Gitea and Forgejo: bare hex HMAC-SHA256 in `X-Gitea-Signature` / `X-Forgejo-Signature`;
/// the payload copies GitHub's shape.
public struct GiteaAdapter: ForgeAdapter {
    public let forge: Forge

    public init(forge: Forge) {
        precondition(forge == .gitea || forge == .forgejo, "GiteaAdapter reads Gitea and Forgejo only")
        self.forge = forge
    }

    /// Forgejo names its headers after itself and also sends Gitea's names for compatibility.
    private var headerPrefixes: [String] {
        forge == .forgejo ? ["x-forgejo-", "x-gitea-"] : ["x-gitea-"]
    }

    private func header(_ suffix: String, in request: WebhookRequest) -> String? {
        headerPrefixes.lazy.compactMap { request[header: $0 + suffix] }.first
    }

    public func verify(_ request: WebhookRequest, secrets: [SecretValue], now: Date) throws(WebhookError) {
        guard let signature = header("signature", in: request),
              SignatureCheck.hmacSHA256Hex(signature, body: request.body, secrets: secrets)
        else { throw .unauthorized }
    }

    public func parse(_ request: WebhookRequest) throws(WebhookError) -> WebhookEvent {
        guard request.mediaType == "application/json" else { throw .unsupportedMediaType(request.mediaType) }
        let delivery = header("delivery", in: request) ?? SignatureCheck.bodyDigestID(request.body)
        switch header("event", in: request) ?? "" {
        case "push":
            let payload = try PayloadDecoding.decode(GitHubPushPayload.self, from: request.body, changedPaths: request.wantsChangedPaths)
            return .push([payload.pushEvent(forge: forge, deliveryID: delivery)])
        // Gitea names a pull request's new commits `pull_request_sync` in its event-type header;
        // the event header says `pull_request` for every pull-request action.
        case "pull_request", "pull_request_sync":
            return .pullRequest(try PayloadDecoding.decode(GitHubPullRequestPayload.self, from: request.body).event(forge: forge, deliveryID: delivery))
        case let other:
            return .other(event: other.isEmpty ? "(none)" : other, deliveryID: delivery)
        }
    }

    public func signedHeaders(body: Data, event: String, deliveryID: String, secret: SecretValue, now: Date) -> [(name: String, value: String)] {
        let name = forge == .forgejo ? "Forgejo" : "Gitea"
        return [
            ("Content-Type", "application/json"),
            ("User-Agent", "Go-http-client/1.1"),
            ("X-\(name)-Event", event),
            ("X-\(name)-Delivery", deliveryID),
            ("X-\(name)-Signature", SignatureCheck.hmacSHA256Hex(body: body, secret: secret)),
        ]
    }
}
