/// How Slipway authenticates to an app's git remote.
public enum RepositoryAuth: Sendable, Hashable {
    case none
    /// HTTPS basic auth, or a token as the password (any user name works with GitHub and GitLab tokens).
    case userPassword(username: String, password: SecretValue)
    /// An SSH private key file, with its passphrase if it has one. The server's host key must
    /// be listed in `knownHosts` (OpenSSH known_hosts format; `ssh-keyscan` writes it).
    case sshKey(username: String, privateKeyPath: String, passphrase: SecretValue?, knownHosts: String)
}
