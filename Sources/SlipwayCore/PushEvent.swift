/// One push, normalised from whatever shape the forge sent.
public struct PushEvent: Sendable, Hashable, Codable {
    public var forge: Forge
    /// The forge's id for this delivery; redeliveries reuse it.
    public var deliveryID: String
    /// `owner/name` as the forge knows the repository.
    public var repository: String
    /// The full ref, such as `refs/heads/main` or `refs/tags/v1.0`.
    public var ref: String
    public var before: String
    public var after: String
    public var created: Bool
    public var deleted: Bool
    public var forced: Bool
    public var cloneURL: String?
    public var headCommitMessage: String?
    public var headCommitAuthor: String?
    /// Paths the payload lists as added, modified or removed; nil when the forge does not list them.
    public var changedPaths: [String]?

    public init(
        forge: Forge, deliveryID: String, repository: String, ref: String,
        before: String, after: String, created: Bool = false, deleted: Bool = false,
        forced: Bool = false, cloneURL: String? = nil, headCommitMessage: String? = nil,
        headCommitAuthor: String? = nil, changedPaths: [String]? = nil
    ) {
        self.forge = forge
        self.deliveryID = deliveryID
        self.repository = repository
        self.ref = ref
        self.before = before
        self.after = after
        self.created = created
        self.deleted = deleted
        self.forced = forced
        self.cloneURL = cloneURL
        self.headCommitMessage = headCommitMessage
        self.headCommitAuthor = headCommitAuthor
        self.changedPaths = changedPaths
    }

    /// The branch name when the ref is a branch, nil for tags and other refs.
    public var branch: String? {
        ref.hasPrefix(Self.branchPrefix) ? String(ref.dropFirst(Self.branchPrefix.count)) : nil
    }

    public static let branchPrefix = "refs/heads/"
    /// Forges mark a created or deleted side of a push with this all-zero object id.
    public static let zeroCommit = String(repeating: "0", count: 40)
}
