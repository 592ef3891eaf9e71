/// Where an app's forge takes commit statuses: its API base and a token with the least scope
/// the forge needs (GitHub `repo:status`, GitLab `api`, Gitea `write:repository`,
/// Bitbucket `repository:write`).
public struct ForgeAPI: Sendable, Hashable {
    /// `https://api.github.com`, `https://gitlab.example.com/api/v4`,
    /// `https://gitea.example.com/api/v1`, `https://api.bitbucket.org/2.0`, or a Bitbucket
    /// Data Center base (`https://bitbucket.example.com`).
    public var url: String
    public var token: SecretValue
    /// `owner/name` (GitLab: the project's full path), from the repository URL unless given.
    public var repository: String

    public init(url: String, token: SecretValue, repository: String) {
        self.url = url.hasSuffix("/") ? String(url.dropLast()) : url
        self.token = token
        self.repository = repository
    }

    /// The forge's name of the repository cloned from `url` (`https://host/owner/name.git`,
    /// `git@host:owner/name.git`, `ssh://git@host:7999/project/name.git`): `owner/name`, a
    /// GitLab project's full path, a Bitbucket Data Center `PROJECT/name` (without `scm/`).
    /// Nil when the URL does not say it the way the forge spells it: a local or `file://`
    /// path, an ssh alias with a one-part path (`git@deploy:app.git`), a path of another depth
    /// than the forge's names (a forge served under a path prefix).
    public static func repositoryPath(of url: String, forge: Forge) -> String? {
        var path = url
        if let scheme = path.range(of: "://") {
            guard ["https", "http", "ssh", "git"].contains(path[..<scheme.lowerBound].lowercased()) else { return nil }
            path = String(path[scheme.upperBound...])
            guard let slash = path.firstIndex(of: "/") else { return nil }
            path = String(path[path.index(after: slash)...])
        } else if let colon = path.firstIndex(of: ":"), !path[..<colon].contains("/") {
            path = String(path[path.index(after: colon)...])
        } else {
            return nil
        }
        if path.hasSuffix(".git") { path.removeLast(4) }
        var segments = path.split(separator: "/").map(String.init)
        if forge == .bitbucketServer, segments.first == "scm" { segments.removeFirst() }
        let fits = forge == .gitlab ? segments.count >= 2 : segments.count == 2
        return fits ? segments.joined(separator: "/") : nil
    }
}

/// A job's state as a commit status.
public enum CommitState: String, Sendable, Hashable, CaseIterable {
    case queued, running, succeeded, failed, cancelled

    public init(_ status: JobStatus) {
        switch status {
        case .queued: self = .queued
        case .running: self = .running
        case .succeeded: self = .succeeded
        case .failed, .interrupted, .blocked: self = .failed
        case .cancelled, .superseded: self = .cancelled
        }
    }
}
