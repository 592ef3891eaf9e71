public import Foundation
public import SlipwayCore

/// Bitbucket Cloud (`X-Event-Key: repo:push`) and Bitbucket Data Center
/// (`repo:refs_changed`). Both sign with `X-Hub-Signature: sha256=<hex>` (GitHub's header of
/// the same name is SHA-1: the algorithm comes from the forge, never from the header name),
/// and one delivery may update several refs.
public struct BitbucketAdapter: ForgeAdapter {
    public let forge: Forge

    public init(forge: Forge) {
        precondition(forge == .bitbucketCloud || forge == .bitbucketServer, "BitbucketAdapter reads Bitbucket only")
        self.forge = forge
    }

    private var pushEventKey: String { forge == .bitbucketCloud ? "repo:push" : "repo:refs_changed" }
    private var deliveryHeader: String { forge == .bitbucketCloud ? "X-Request-UUID" : "X-Request-Id" }

    public func verify(_ request: WebhookRequest, secrets: [SecretValue], now: Date) throws(WebhookError) {
        guard let header = request[header: "x-hub-signature"], header.hasPrefix("sha256="),
              SignatureCheck.hmacSHA256Hex(String(header.dropFirst(7)), body: request.body, secrets: secrets)
        else { throw .unauthorized }
    }

    public func parse(_ request: WebhookRequest) throws(WebhookError) -> WebhookEvent {
        guard request.mediaType == "application/json" else { throw .unsupportedMediaType(request.mediaType) }
        let delivery = request[header: deliveryHeader] ?? SignatureCheck.bodyDigestID(request.body)
        switch request[header: "x-event-key"] ?? "" {
        case pushEventKey where forge == .bitbucketCloud:
            return .push(try PayloadDecoding.decode(BitbucketCloudPushPayload.self, from: request.body).pushEvents(deliveryID: delivery))
        case pushEventKey:
            return .push(try PayloadDecoding.decode(BitbucketServerPushPayload.self, from: request.body).pushEvents(deliveryID: delivery))
        case "pullrequest:created" where forge == .bitbucketCloud, "pullrequest:updated" where forge == .bitbucketCloud:
            let action: PullRequestAction = request[header: "x-event-key"] == "pullrequest:created" ? .opened : .updated
            return .pullRequest(try PayloadDecoding.decode(BitbucketCloudPullRequestPayload.self, from: request.body).event(action: action, deliveryID: delivery))
        case "pr:opened" where forge == .bitbucketServer, "pr:from_ref_updated" where forge == .bitbucketServer:
            let action: PullRequestAction = request[header: "x-event-key"] == "pr:opened" ? .opened : .updated
            return .pullRequest(try PayloadDecoding.decode(BitbucketServerPullRequestPayload.self, from: request.body).event(action: action, deliveryID: delivery))
        case "diagnostics:ping":
            return .ping(deliveryID: delivery)
        case let other:
            return .other(event: other.isEmpty ? "(none)" : other, deliveryID: delivery)
        }
    }

    public func signedHeaders(body: Data, event: String, deliveryID: String, secret: SecretValue, now: Date) -> [(name: String, value: String)] {
        [
            ("Content-Type", "application/json"),
            ("X-Event-Key", event == "push" ? pushEventKey : event),
            (deliveryHeader, deliveryID),
            ("X-Hub-Signature", "sha256=" + SignatureCheck.hmacSHA256Hex(body: body, secret: secret)),
        ]
    }
}

struct BitbucketCloudPushPayload: Decodable {
    struct Repository: Decodable {
        struct Links: Decodable {
            struct Link: Decodable { var href: String }
            var html: Link?
        }
        var full_name: String
        var links: Links?
    }
    struct RefState: Decodable {
        struct Target: Decodable {
            struct Author: Decodable { var raw: String? }
            var hash: String
            var message: String?
            var author: Author?
        }
        var type: String
        var name: String
        var target: Target
    }
    struct Change: Decodable {
        var old: RefState?
        var new: RefState?
        var created: Bool?
        var closed: Bool?
        var forced: Bool?
    }
    struct Push: Decodable { var changes: [Change] }

    var repository: Repository
    var push: Push

    func pushEvents(deliveryID: String) -> [PushEvent] {
        push.changes.compactMap { change in
            guard let state = change.new ?? change.old else { return nil }
            let prefix = state.type == "tag" ? "refs/tags/" : PushEvent.branchPrefix
            return PushEvent(
                forge: .bitbucketCloud, deliveryID: deliveryID, repository: repository.full_name,
                ref: prefix + state.name,
                before: change.old?.target.hash ?? PushEvent.zeroCommit,
                after: change.new?.target.hash ?? PushEvent.zeroCommit,
                created: change.created ?? (change.old == nil),
                deleted: change.closed ?? (change.new == nil),
                forced: change.forced ?? false,
                cloneURL: repository.links?.html.map { $0.href + ".git" },
                headCommitMessage: change.new?.target.message,
                headCommitAuthor: change.new?.target.author?.raw,
                changedPaths: nil
            )
        }
    }
}

struct BitbucketServerPushPayload: Decodable {
    struct Repository: Decodable {
        struct Project: Decodable { var key: String }
        struct Links: Decodable {
            struct Clone: Decodable { var href: String; var name: String }
            var clone: [Clone]?
        }
        var slug: String
        var project: Project
        var links: Links?
        /// `key/slug`, the key lower-cased: how Slipway names a Data Center repository.
        var path: String { "\(project.key.lowercased())/\(slug)" }
    }
    struct Change: Decodable {
        var refId: String
        var fromHash: String
        var toHash: String
        var type: String
    }

    var repository: Repository
    var changes: [Change]

    func pushEvents(deliveryID: String) -> [PushEvent] {
        changes.map { change in
            PushEvent(
                forge: .bitbucketServer, deliveryID: deliveryID,
                repository: repository.path,
                ref: change.refId, before: change.fromHash, after: change.toHash,
                created: change.type == "ADD", deleted: change.type == "DELETE", forced: false,
                cloneURL: repository.links?.clone?.first { $0.name == "http" }?.href,
                headCommitMessage: nil, headCommitAuthor: nil, changedPaths: nil
            )
        }
    }
}
