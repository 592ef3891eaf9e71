/// One deployable application as the server configuration declares it.
public struct AppConfig: Sendable, Hashable {
    public var name: String
    public var repoURL: String
    public var branch: String
    public var forge: Forge
    /// Every secret currently accepted for this app's webhooks; more than one while rotating.
    public var webhookSecrets: [SecretValue]

    public init(name: String, repoURL: String, branch: String = "main", forge: Forge, webhookSecrets: [SecretValue]) {
        self.name = name
        self.repoURL = repoURL
        self.branch = branch
        self.forge = forge
        self.webhookSecrets = webhookSecrets
    }
}
