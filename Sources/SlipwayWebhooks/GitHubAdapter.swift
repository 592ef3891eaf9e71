public import Foundation
public import SlipwayCore

/// GitHub: `X-Hub-Signature-256: sha256=<hex>` over the raw body; JSON or form-encoded bodies.
public struct GitHubAdapter: ForgeAdapter {
    public var forge: Forge { .github }

    public init() {}

    public func verify(_ request: WebhookRequest, secrets: [SecretValue], now: Date) throws(WebhookError) {
        // The legacy `X-Hub-Signature` header is SHA-1 and deliberately not accepted.
        guard let header = request[header: "x-hub-signature-256"], header.hasPrefix("sha256="),
              SignatureCheck.hmacSHA256Hex(String(header.dropFirst(7)), body: request.body, secrets: secrets)
        else { throw .unauthorized }
    }

    public func parse(_ request: WebhookRequest) throws(WebhookError) -> WebhookEvent {
        let json = try Self.jsonBody(of: request)
        let delivery = request[header: "x-github-delivery"] ?? SignatureCheck.bodyDigestID(request.body)
        switch request[header: "x-github-event"] ?? "" {
        case "push":
            let payload = try PayloadDecoding.decode(GitHubPushPayload.self, from: json, changedPaths: request.wantsChangedPaths)
            return .push([payload.pushEvent(forge: forge, deliveryID: delivery)])
        case "pull_request":
            return .pullRequest(try PayloadDecoding.decode(GitHubPullRequestPayload.self, from: json).event(forge: forge, deliveryID: delivery))
        case "ping":
            return .ping(deliveryID: delivery)
        case let other:
            return .other(event: other.isEmpty ? "(none)" : other, deliveryID: delivery)
        }
    }

    public func signedHeaders(body: Data, event: String, deliveryID: String, secret: SecretValue, now: Date) -> [(name: String, value: String)] {
        [
            ("Content-Type", "application/json"),
            ("User-Agent", "GitHub-Hookshot/slipway-test"),
            ("X-GitHub-Event", event),
            ("X-GitHub-Delivery", deliveryID),
            ("X-Hub-Signature-256", "sha256=" + SignatureCheck.hmacSHA256Hex(body: body, secret: secret)),
        ]
    }

    /// GitHub sends either JSON or `payload=<url-encoded JSON>`, depending on the hook's setting.
    static func jsonBody(of request: WebhookRequest) throws(WebhookError) -> Data {
        switch request.mediaType {
        case "application/json":
            return request.body
        case "application/x-www-form-urlencoded":
            let form = String(decoding: request.body, as: UTF8.self)
            for pair in form.split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2, parts[0] == "payload" else { continue }
                let text = parts[1].replacingOccurrences(of: "+", with: " ")
                guard let decoded = text.removingPercentEncoding else {
                    throw .malformedPayload("the form field 'payload' is not valid percent-encoding")
                }
                return Data(decoded.utf8)
            }
            throw .malformedPayload("the form body has no 'payload' field")
        case let other:
            throw .unsupportedMediaType(other)
        }
    }
}

/// The fields of GitHub's (and Gitea's, which copies it) push payload that Slipway reads.
struct GitHubPushPayload: Decodable {
    struct Repository: Decodable {
        var full_name: String
        var clone_url: String?
    }
    struct Person: Decodable {
        var name: String?
        var email: String?
        var username: String?
    }
    struct Commit: Decodable, ChangedPaths {
        var id: String?
        var message: String?
        var author: Person?
        var added: [String]?
        var removed: [String]?
        var modified: [String]?
    }
    /// The head commit gives the job its message and author; its file lists are not read.
    struct HeadCommit: Decodable {
        var message: String?
        var author: Person?
    }

    var ref: String
    var before: String
    var after: String
    var created: Bool?
    var deleted: Bool?
    var forced: Bool?
    var repository: Repository
    var head_commit: HeadCommit?
    var commits: [Commit]?
    /// Gitea and Forgejo say how many commits the push has (the list may hold fewer).
    var total_commits: Int?

    enum CodingKeys: String, CodingKey {
        case ref, before, after, created, deleted, forced, repository, head_commit, commits, total_commits
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        ref = try container.decode(String.self, forKey: .ref)
        before = try container.decode(String.self, forKey: .before)
        after = try container.decode(String.self, forKey: .after)
        created = try container.decodeIfPresent(Bool.self, forKey: .created)
        deleted = try container.decodeIfPresent(Bool.self, forKey: .deleted)
        forced = try container.decodeIfPresent(Bool.self, forKey: .forced)
        repository = try container.decode(Repository.self, forKey: .repository)
        head_commit = try container.decodeIfPresent(HeadCommit.self, forKey: .head_commit)
        // Without changed paths wanted, the commit list is not read (nil: "not listed").
        let wanted = decoder.userInfo[PayloadDecoding.changedPathsKey] as? Bool ?? true
        commits = wanted ? try container.decodeIfPresent([Commit].self, forKey: .commits) : nil
        total_commits = try container.decodeIfPresent(Int.self, forKey: .total_commits)
    }

    func pushEvent(forge: Forge, deliveryID: String) -> PushEvent {
        let paths = PayloadDecoding.changedPaths(commits, total: total_commits, created: created ?? PayloadDecoding.isZero(before),
                                                 forced: forced ?? false)
        let author = head_commit?.author.flatMap { person in
            person.name.map { name in person.email.map { "\(name) <\($0)>" } ?? name } ?? person.username
        }
        return PushEvent(
            forge: forge, deliveryID: deliveryID, repository: repository.full_name, ref: ref,
            before: before, after: after,
            created: created ?? PayloadDecoding.isZero(before),
            deleted: deleted ?? PayloadDecoding.isZero(after),
            forced: forced ?? false,
            cloneURL: repository.clone_url,
            headCommitMessage: head_commit?.message,
            headCommitAuthor: author,
            changedPaths: paths
        )
    }
}
