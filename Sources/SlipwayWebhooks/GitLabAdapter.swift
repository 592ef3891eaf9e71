public import Foundation
public import SlipwayCore

/// GitLab: either the legacy `X-Gitlab-Token` (the secret itself) or a signing token
/// (`whsec_…`) in the Standard Webhooks form: `webhook-signature: v1,<base64 HMAC-SHA256>`
/// over `{webhook-id}.{webhook-timestamp}.{body}`.
public struct GitLabAdapter: ForgeAdapter {
    public var forge: Forge { .gitlab }
    /// How far a signed delivery's timestamp may be from now, either way: limits replays.
    public static let timestampTolerance: TimeInterval = 5 * 60
    static let signingTokenPrefix = "whsec_"

    public init() {}

    public func verify(_ request: WebhookRequest, secrets: [SecretValue], now: Date) throws(WebhookError) {
        let signingKeys = secrets.filter { $0.value.hasPrefix(Self.signingTokenPrefix) }
            .compactMap { Data(base64Encoded: String($0.value.dropFirst(Self.signingTokenPrefix.count))) }
        let plainTokens = secrets.filter { !$0.value.hasPrefix(Self.signingTokenPrefix) }

        if let signatures = request[header: "webhook-signature"] {
            guard let id = request[header: "webhook-id"],
                  let stamp = request[header: "webhook-timestamp"], let seconds = TimeInterval(stamp),
                  abs(now.timeIntervalSince1970 - seconds) <= Self.timestampTolerance
            else { throw .unauthorized }
            var signed = Data("\(id).\(stamp).".utf8)
            signed.append(request.body)
            // The header may carry several space-separated signatures while GitLab rotates keys.
            for entry in signatures.split(separator: " ") {
                guard entry.hasPrefix("v1,"), let mac = Data(base64Encoded: String(entry.dropFirst(3))) else { continue }
                if SignatureCheck.hmacSHA256(mac, body: signed, keys: signingKeys) { return }
            }
            throw .unauthorized
        }
        guard let token = request[header: "x-gitlab-token"], !plainTokens.isEmpty,
              SignatureCheck.tokenMatches(token, secrets: plainTokens)
        else { throw .unauthorized }
    }

    public func parse(_ request: WebhookRequest) throws(WebhookError) -> WebhookEvent {
        guard request.mediaType == "application/json" else { throw .unsupportedMediaType(request.mediaType) }
        // Idempotency-Key stays the same across GitLab's retries; the event UUID is older.
        let delivery = request[header: "idempotency-key"] ?? request[header: "x-gitlab-event-uuid"]
            ?? SignatureCheck.bodyDigestID(request.body)
        switch request[header: "x-gitlab-event"] ?? "" {
        case "Push Hook":
            let payload = try PayloadDecoding.decode(GitLabPushPayload.self, from: request.body)
            return .push([payload.pushEvent(deliveryID: delivery)])
        case "Merge Request Hook":
            return .pullRequest(try PayloadDecoding.decode(GitLabMergeRequestPayload.self, from: request.body).event(deliveryID: delivery))
        case let other:
            return .other(event: other.isEmpty ? "(none)" : other, deliveryID: delivery)
        }
    }

    public func signedHeaders(body: Data, event: String, deliveryID: String, secret: SecretValue, now: Date) -> [(name: String, value: String)] {
        var headers: [(name: String, value: String)] = [
            ("Content-Type", "application/json"),
            ("User-Agent", "GitLab/slipway-test"),
            ("X-Gitlab-Event", event == "push" ? "Push Hook" : event == "merge_request" ? "Merge Request Hook" : event),
            ("X-Gitlab-Event-UUID", deliveryID),
            ("Idempotency-Key", deliveryID),
        ]
        if secret.value.hasPrefix(Self.signingTokenPrefix),
           let key = Data(base64Encoded: String(secret.value.dropFirst(Self.signingTokenPrefix.count))) {
            let stamp = String(Int(now.timeIntervalSince1970))
            var signed = Data("\(deliveryID).\(stamp).".utf8)
            signed.append(body)
            let mac = SignatureCheck.hmacSHA256Code(signed, key: key)
            headers += [("webhook-id", deliveryID), ("webhook-timestamp", stamp), ("webhook-signature", "v1," + mac.base64EncodedString())]
        } else {
            headers.append(("X-Gitlab-Token", secret.value))
        }
        return headers
    }
}

struct GitLabPushPayload: Decodable {
    struct Project: Decodable {
        var path_with_namespace: String
        var git_http_url: String?
    }
    struct Commit: Decodable, ChangedPaths {
        struct Author: Decodable {
            var name: String?
            var email: String?
        }
        var id: String
        var message: String?
        var author: Author?
        var added: [String]?
        var removed: [String]?
        var modified: [String]?
    }

    var ref: String
    var before: String
    var after: String
    var checkout_sha: String?
    var project: Project
    var commits: [Commit]?
    var total_commits_count: Int?

    func pushEvent(deliveryID: String) -> PushEvent {
        let head = commits?.first { $0.id == after } ?? commits?.last
        let author = head?.author.flatMap { a in a.name.map { name in a.email.map { "\(name) <\($0)>" } ?? name } }
        let paths = PayloadDecoding.changedPaths(commits, total: total_commits_count, created: PayloadDecoding.isZero(before), forced: false)
        return PushEvent(
            forge: .gitlab, deliveryID: deliveryID, repository: project.path_with_namespace, ref: ref,
            before: before, after: after,
            created: PayloadDecoding.isZero(before), deleted: PayloadDecoding.isZero(after),
            // GitLab does not say whether a push was forced.
            forced: false,
            cloneURL: project.git_http_url, headCommitMessage: head?.message, headCommitAuthor: author,
            changedPaths: paths
        )
    }
}
