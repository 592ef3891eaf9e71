public import Foundation
public import SlipwayCore

/// A page of the job list: newest first, optionally filtered.
public struct JobQuery: Sendable, Hashable {
    public var app: String?
    public var status: JobStatus?
    /// Only jobs with an id below this one (the previous page's last id).
    public var before: JobID?
    /// Only jobs that deploy (no pull-request previews).
    public var deploysOnly: Bool
    public var limit: Int

    public init(app: String? = nil, status: JobStatus? = nil, before: JobID? = nil, deploysOnly: Bool = false, limit: Int = 50) {
        self.app = app
        self.status = status
        self.before = before
        self.deploysOnly = deploysOnly
        self.limit = limit
    }
}

/// A piece of a job's log, in the order it was written.
public struct LogChunk: Sendable, Hashable, Codable {
    public var jobID: JobID
    public var seq: Int64
    public var text: String

    public init(jobID: JobID, seq: Int64, text: String) {
        self.jobID = jobID
        self.seq = seq
        self.text = text
    }
}

/// The result of offering a push to the queue.
public enum EnqueueResult: Sendable, Hashable {
    /// A new job was committed; the queued jobs of its queue it superseded at once.
    case created(Job, superseded: [Job])
    /// The delivery, or the same revision of the same app, was seen before: no new job.
    case existing(Job)

    public var job: Job {
        switch self {
        case .created(let job, _), .existing(let job): job
        }
    }

    /// The queued jobs the new one superseded (none for a duplicate).
    public var superseded: [Job] {
        if case .created(_, let superseded) = self { return superseded }
        return []
    }
}

/// What a successful (or rolled back) deploy left in the cluster: the app's inventory.
public struct DeploymentRecord: Sendable, Hashable {
    public var app: String
    public var jobID: JobID
    public var commit: String
    /// The applied objects, as JSON references (`apiVersion`, `kind`, `namespace`, `name`).
    public var objects: JSONValue
    /// The rendered manifests, to re-apply on rollback or self-heal.
    public var manifests: JSONValue
    public var healthy: Bool
    public var createdAt: Date
}

/// Where a step's process group runs: enough to find it again after a crash, and to never
/// signal a group on another machine or from before a reboot.
public struct StepProcess: Sendable, Hashable {
    public var jobID: JobID
    public var processGroup: Int32
    /// The machine (its machine-id, or host name).
    public var host: String
    /// The kernel's boot id: a process group from an earlier boot is long gone.
    public var bootID: String

    public init(jobID: JobID, processGroup: Int32, host: String, bootID: String) {
        self.jobID = jobID
        self.processGroup = processGroup
        self.host = host
        self.bootID = bootID
    }
}


/// What the app views show of an app from the store: its newest job (previews left out) and
/// the commit of its newest healthy deploy.
public struct AppSummary: Sendable, Hashable {
    public var latestJob: JobID?
    public var latestJobStatus: JobStatus?
    public var deployedCommit: String?

    public init(latestJob: JobID? = nil, latestJobStatus: JobStatus? = nil, deployedCommit: String? = nil) {
        self.latestJob = latestJob
        self.latestJobStatus = latestJobStatus
        self.deployedCommit = deployedCommit
    }
}

/// What the reconciler keeps of an app between turns, in the store so that every replica
/// sees it and a restart keeps it: its last status and its drift-correction back-off.
public struct ReconcileRecord: Sendable, Hashable {
    public var app: String
    /// The app's last status, as the API shows it (JSON).
    public var status: String?
    /// Corrections in a row that did not make the drift go away.
    public var corrections: Int
    public var nextCorrectionAllowed: Date?
    public var reconciledAt: Date?

    public init(app: String, status: String? = nil, corrections: Int = 0, nextCorrectionAllowed: Date? = nil, reconciledAt: Date? = nil) {
        self.app = app
        self.status = status
        self.corrections = corrections
        self.nextCorrectionAllowed = nextCorrectionAllowed
        self.reconciledAt = reconciledAt
    }
}

/// A browser signed in with an API token. The store keeps the SHA-256 digest of the cookie's
/// random id, never the id itself, and the token's name, never the token: a copy of the
/// database signs no one in.
public struct WebSession: Sendable, Hashable {
    public var digest: String
    public var tokenName: String
    /// Sent with every state-changing request from the pages.
    public var csrfToken: String
    public var createdAt: Date
    public var expiresAt: Date

    public init(digest: String, tokenName: String, csrfToken: String, createdAt: Date, expiresAt: Date) {
        self.digest = digest
        self.tokenName = tokenName
        self.csrfToken = csrfToken
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}

/// A commit status waiting in the outbox to be sent to the forge.
public struct CommitStatusRecord: Sendable, Hashable {
    public var id: Int64
    public var app: String
    public var jobID: JobID
    /// Whether the job is a pull request's preview (its status has a context of its own).
    public var isPreview = false
    public var commit: String
    public var state: CommitState
    /// Why the job ended, for the status's description.
    public var description: String?
    public var attempts: Int
    public var nextAttemptAt: Date

    public init(id: Int64, app: String, jobID: JobID, isPreview: Bool = false, commit: String, state: CommitState, description: String?,
                attempts: Int, nextAttemptAt: Date) {
        self.isPreview = isPreview
        self.id = id
        self.app = app
        self.jobID = jobID
        self.commit = commit
        self.state = state
        self.description = description
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
    }
}

/// A job that was claimed, and the older queued jobs of its app it superseded.
public struct Claim: Sendable, Hashable {
    public var job: Job
    public var superseded: [Job]

    public init(job: Job, superseded: [Job]) {
        self.job = job
        self.superseded = superseded
    }
}

/// The one comment an app keeps on a pull request, as the outbox holds it.
public struct PreviewCommentRecord: Sendable, Hashable {
    public var app: String
    public var pullRequest: Int
    /// The preview job that wrote the newest text.
    public var jobID: JobID
    public var body: String
    /// Counts the texts queued; the forge has `revision` once this one is sent.
    public var revision: Int
    /// The forge's id of the comment once it exists.
    public var commentID: String?
    public var commentVersion: Int?
    public var attempts: Int

    public init(app: String, pullRequest: Int, jobID: JobID, body: String, revision: Int, commentID: String?, commentVersion: Int?, attempts: Int) {
        self.app = app
        self.pullRequest = pullRequest
        self.jobID = jobID
        self.body = body
        self.revision = revision
        self.commentID = commentID
        self.commentVersion = commentVersion
        self.attempts = attempts
    }
}
