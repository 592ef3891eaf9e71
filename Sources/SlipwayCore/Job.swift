public import Foundation

/// Store-assigned identifier of a job.
public typealias JobID = Int64

/// Where a job is in its life. Only `queued` and `running` are not final.
public enum JobStatus: String, Sendable, Codable, CaseIterable, Hashable {
    case queued
    case running
    case succeeded
    case failed
    case cancelled
    case superseded
    case interrupted
    /// An app it depends on did not deploy the same commit; retried when that app next
    /// deploys successfully.
    case blocked

    /// A final status never changes again.
    public var isFinal: Bool {
        switch self {
        case .queued, .running: false
        default: true
        }
    }
}

/// What made a job exist.
public enum JobTrigger: String, Sendable, Codable, CaseIterable, Hashable {
    /// A verified webhook delivery.
    case push
    /// The reconciler saw a branch head that no webhook announced.
    case poll
    /// Someone asked through the API or CLI.
    case manual
    /// The reconciler re-applies the last applied revision to correct drift.
    case selfHeal = "self-heal"
    /// A pull request's head, dry-run against the cluster and reported on the request;
    /// nothing is applied.
    case preview
}

/// A pipeline run for one commit of one app.
public struct Job: Sendable, Hashable, Codable, Identifiable {
    public var id: JobID
    public var app: String
    public var forge: Forge?
    public var deliveryID: String?
    public var trigger: JobTrigger
    public var ref: String
    public var before: String?
    public var commit: String
    public var message: String?
    public var author: String?
    public var status: JobStatus
    /// Why the job reached its status, in words a user can act on.
    public var reason: String?
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    /// 1 for a first run; an interrupted job's next attempt counts on.
    public var attempt: Int
    /// The interrupted job this one continues.
    public var retryOf: JobID?
    /// The job that continues this one after it was interrupted.
    public var retriedAs: JobID?
    /// The pull request a `preview` job previews.
    public var pullRequest: Int?
    /// Whether that pull request comes from a fork (no secrets, no steps).
    public var fromFork: Bool = false

    /// The API's field names (snake_case, as in every Slipway JSON answer).
    enum CodingKeys: String, CodingKey {
        case id, app, forge, trigger, ref, before, commit, message, author, status, reason
        case deliveryID = "delivery_id"
        case createdAt = "created_at"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
        case attempt
        case retryOf = "retry_of"
        case retriedAs = "retried_as"
        case pullRequest = "pull_request"
        case fromFork = "from_fork"
    }

    public init(
        id: JobID, app: String, forge: Forge?, deliveryID: String?, trigger: JobTrigger,
        ref: String, before: String?, commit: String, message: String?, author: String?,
        status: JobStatus, reason: String?, createdAt: Date, startedAt: Date?, finishedAt: Date?,
        attempt: Int = 1, retryOf: JobID? = nil, retriedAs: JobID? = nil, pullRequest: Int? = nil, fromFork: Bool = false
    ) {
        self.pullRequest = pullRequest
        self.fromFork = fromFork
        self.attempt = attempt
        self.retryOf = retryOf
        self.retriedAs = retriedAs
        self.id = id
        self.app = app
        self.forge = forge
        self.deliveryID = deliveryID
        self.trigger = trigger
        self.ref = ref
        self.before = before
        self.commit = commit
        self.message = message
        self.author = author
        self.status = status
        self.reason = reason
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
    }
}

extension Job {
    /// The longest reason a job keeps; the job log has the whole story.
    public static let reasonLimit = 500

    /// `reason` cut to `reasonLimit` characters, saying where the rest is: a deploy of
    /// a thousand refused objects must not make a reason of a hundred kilobytes.
    public static func summarized(reason: String?) -> String? {
        guard let reason, reason.count > reasonLimit else { return reason }
        let kept = reason.prefix(reasonLimit - 60)
        return "\(kept)… (\(reason.count - kept.count) more characters: see the job log)"
    }
}
