/// The git hosting product that sends an app's webhooks. Each forge signs differently,
/// so the adapter is chosen from the app's configuration, never guessed from headers.
public enum Forge: String, Sendable, Codable, CaseIterable, Hashable {
    case github
    case gitlab
    case gitea
    case forgejo
    case bitbucketCloud = "bitbucket-cloud"
    case bitbucketServer = "bitbucket-server"
}
