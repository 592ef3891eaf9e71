public import Foundation
public import SlipwayCore

/// Verifies and reads one forge's webhook deliveries.
public protocol ForgeAdapter: Sendable {
    var forge: Forge { get }
    /// Throws `WebhookError.unauthorized` unless one of `secrets` signed this exact body.
    func verify(_ request: WebhookRequest, secrets: [SecretValue], now: Date) throws(WebhookError)
    /// Reads a verified delivery. Call only after `verify` succeeded.
    func parse(_ request: WebhookRequest) throws(WebhookError) -> WebhookEvent
    /// The headers this forge would send with `body`, signed with `secret`: used by
    /// `slipway send-test-hook` and by tests to play the forge.
    func signedHeaders(body: Data, event: String, deliveryID: String, secret: SecretValue, now: Date) -> [(name: String, value: String)]
}

extension Forge {
    /// The adapter that reads this forge's deliveries.
    public var adapter: any ForgeAdapter {
        switch self {
        case .github: GitHubAdapter()
        case .gitlab: GitLabAdapter()
        case .gitea: GiteaAdapter(forge: .gitea)
        case .forgejo: GiteaAdapter(forge: .forgejo)
        case .bitbucketCloud, .bitbucketServer: BitbucketAdapter(forge: self)
        }
    }
}
