/// A pull (merge) request opened, reopened or given new commits, normalised from whatever shape
/// the forge sent: what a preview job is made of.
public struct PullRequestEvent: Sendable, Hashable, Codable {
    public var forge: Forge
    /// The forge's id for this delivery; redeliveries reuse it.
    public var deliveryID: String
    /// `owner/name` of the repository the request targets.
    public var repository: String
    /// The request's number in that repository (GitLab: the merge request's `iid`).
    public var number: Int
    public var action: PullRequestAction
    public var title: String?
    public var author: String?
    /// The commit at the head of the request's source branch.
    public var headCommit: String
    /// The source branch's name (in the fork, for a request from a fork).
    public var sourceBranch: String
    /// The branch the request would merge into.
    public var targetBranch: String
    /// Whether the source branch is in another repository: such a request never gets the app's
    /// secrets and never runs steps.
    public var fromFork: Bool

    public init(forge: Forge, deliveryID: String, repository: String, number: Int, action: PullRequestAction, title: String?,
                author: String?, headCommit: String, sourceBranch: String, targetBranch: String, fromFork: Bool) {
        self.forge = forge
        self.deliveryID = deliveryID
        self.repository = repository
        self.number = number
        self.action = action
        self.title = title
        self.author = author
        self.headCommit = headCommit
        self.sourceBranch = sourceBranch
        self.targetBranch = targetBranch
        self.fromFork = fromFork
    }

    /// The ref under which the target repository publishes the request's head, which the
    /// mirror fetches: forks' commits included, except on Bitbucket Cloud, which publishes
    /// none (there only a same-repository request's source branch can be fetched).
    public var headRef: String {
        switch forge {
        case .github, .gitea, .forgejo: "refs/pull/\(number)/head"
        case .gitlab: "refs/merge-requests/\(number)/head"
        case .bitbucketServer: "refs/pull-requests/\(number)/from"
        case .bitbucketCloud: PushEvent.branchPrefix + sourceBranch
        }
    }
}

/// What happened to a pull request, in the terms a preview cares about.
public enum PullRequestAction: String, Sendable, Hashable, Codable {
    case opened
    case reopened
    /// New commits on the source branch.
    case updated
    /// Anything else (closed, merged, labelled, edited, approved…): no preview.
    case other
}
