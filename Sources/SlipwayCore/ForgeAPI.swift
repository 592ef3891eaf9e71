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

    /// `owner/name` from a clone URL (`https://host/owner/name.git`, `git@host:owner/name.git`).
    public static func repositoryPath(of url: String) -> String {
        var path = url
        if let scheme = path.range(of: "://") {
            path = String(path[scheme.upperBound...])
            path = path.firstIndex(of: "/").map { String(path[path.index(after: $0)...]) } ?? ""
        } else if let colon = path.firstIndex(of: ":") {
            path = String(path[path.index(after: colon)...])
        }
        if path.hasSuffix(".git") { path.removeLast(4) }
        return path.split(separator: "/").joined(separator: "/")
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
