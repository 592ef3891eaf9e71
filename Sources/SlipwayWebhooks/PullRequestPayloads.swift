import Foundation
import SlipwayCore

/// The fields of each forge's pull-request payload that a preview reads.

/// GitHub `pull_request`, and Gitea/Forgejo's copy of it (which says `synchronized` where
/// GitHub says `synchronize`).
struct GitHubPullRequestPayload: Decodable {
    typealias Repository = GitHubPushPayload.Repository
    struct Side: Decodable {
        var ref: String
        var sha: String
        /// Null when the fork was deleted.
        var repo: Repository?
    }
    struct User: Decodable { var login: String? }
    struct PullRequest: Decodable {
        var number: Int
        var title: String?
        var user: User?
        var head: Side
        var base: Side
    }

    var action: String
    var number: Int?
    var pull_request: PullRequest
    var repository: Repository

    func event(forge: Forge, deliveryID: String) -> PullRequestEvent {
        let action: PullRequestAction = switch self.action {
        case "opened": .opened
        case "reopened": .reopened
        case "synchronize", "synchronized": .updated
        default: .other
        }
        let base = pull_request.base.repo?.full_name ?? repository.full_name
        return PullRequestEvent(
            forge: forge, deliveryID: deliveryID, repository: repository.full_name, number: number ?? pull_request.number,
            action: action, title: pull_request.title, author: pull_request.user?.login, headCommit: pull_request.head.sha,
            sourceBranch: pull_request.head.ref, targetBranch: pull_request.base.ref,
            fromFork: pull_request.head.repo?.full_name != base)
    }
}

/// GitLab `Merge Request Hook`.
struct GitLabMergeRequestPayload: Decodable {
    typealias Project = GitLabPushPayload.Project
    struct User: Decodable { var username: String? }
    struct Attributes: Decodable {
        struct Commit: Decodable { var id: String }
        var iid: Int
        var title: String?
        var action: String?
        var source_branch: String
        var target_branch: String
        var source_project_id: Int
        var target_project_id: Int
        var last_commit: Commit
        /// Present on an `update` that brought new commits.
        var oldrev: String?
    }

    var project: Project
    var user: User?
    var object_attributes: Attributes

    func event(deliveryID: String) -> PullRequestEvent {
        let attributes = object_attributes
        let action: PullRequestAction = switch attributes.action {
        case "open": .opened
        case "reopen": .reopened
        // A title or label edit is an `update` too; only one with new commits is previewed.
        case "update" where attributes.oldrev != nil: .updated
        default: .other
        }
        return PullRequestEvent(
            forge: .gitlab, deliveryID: deliveryID, repository: project.path_with_namespace, number: attributes.iid, action: action,
            title: attributes.title, author: user?.username, headCommit: attributes.last_commit.id,
            sourceBranch: attributes.source_branch, targetBranch: attributes.target_branch,
            fromFork: attributes.source_project_id != attributes.target_project_id)
    }
}

/// Bitbucket Cloud `pullrequest:created` / `pullrequest:updated`.
struct BitbucketCloudPullRequestPayload: Decodable {
    typealias Repository = BitbucketCloudPushPayload.Repository
    struct Side: Decodable {
        struct Branch: Decodable { var name: String }
        struct Commit: Decodable { var hash: String }
        var branch: Branch
        /// Bitbucket Cloud sends the short (12-character) hash here.
        var commit: Commit
        var repository: Repository?
    }
    struct PullRequest: Decodable {
        struct Author: Decodable { var display_name: String? }
        var id: Int
        var title: String?
        var author: Author?
        var source: Side
        var destination: Side
    }

    var pullrequest: PullRequest
    var repository: Repository

    func event(action: PullRequestAction, deliveryID: String) -> PullRequestEvent {
        let request = pullrequest
        let target = request.destination.repository?.full_name ?? repository.full_name
        return PullRequestEvent(
            forge: .bitbucketCloud, deliveryID: deliveryID, repository: repository.full_name, number: request.id, action: action,
            title: request.title, author: request.author?.display_name, headCommit: request.source.commit.hash,
            sourceBranch: request.source.branch.name, targetBranch: request.destination.branch.name,
            fromFork: request.source.repository?.full_name != target)
    }
}

/// Bitbucket Data Center `pr:opened` / `pr:from_ref_updated`.
struct BitbucketServerPullRequestPayload: Decodable {
    typealias Repository = BitbucketServerPushPayload.Repository
    struct Ref: Decodable {
        var id: String
        var displayId: String
        var latestCommit: String
        var repository: Repository
    }
    struct PullRequest: Decodable {
        struct Participant: Decodable {
            struct User: Decodable { var name: String?; var displayName: String? }
            var user: User
        }
        var id: Int
        var title: String?
        var author: Participant?
        var fromRef: Ref
        var toRef: Ref
    }

    var pullRequest: PullRequest

    func event(action: PullRequestAction, deliveryID: String) -> PullRequestEvent {
        let request = pullRequest
        let branch = { (ref: Ref) in ref.id.hasPrefix(PushEvent.branchPrefix) ? String(ref.id.dropFirst(PushEvent.branchPrefix.count)) : ref.displayId }
        return PullRequestEvent(
            forge: .bitbucketServer, deliveryID: deliveryID, repository: request.toRef.repository.path, number: request.id, action: action,
            title: request.title, author: request.author?.user.displayName ?? request.author?.user.name,
            headCommit: request.fromRef.latestCommit, sourceBranch: branch(request.fromRef), targetBranch: branch(request.toRef),
            fromFork: request.fromRef.repository.path != request.toRef.repository.path)
    }
}
