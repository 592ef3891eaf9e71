/// A git operation that failed, with libgit2's own message.
public struct GitError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The repository URL cannot be used (scheme libgit2 does not speak, empty...).
        case unsupportedURL
        /// Network, TLS, SSH or HTTP trouble reaching the remote.
        case network
        /// The remote refused the credentials (or asked for some and none are configured).
        case authentication
        /// The commit is not in the mirror after a fetch.
        case commitNotFound
        /// The local mirror is damaged.
        case corruptMirror
        case other
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
