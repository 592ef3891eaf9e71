public import SlipwayCore

/// A page of the job list: newest first, optionally filtered.
public struct JobQuery: Sendable, Hashable {
    public var app: String?
    public var status: JobStatus?
    /// Only jobs with an id below this one (the previous page's last id).
    public var before: JobID?
    public var limit: Int

    public init(app: String? = nil, status: JobStatus? = nil, before: JobID? = nil, limit: Int = 50) {
        self.app = app
        self.status = status
        self.before = before
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
    /// A new job was committed.
    case created(Job)
    /// The delivery, or the same revision of the same app, was seen before: no new job.
    case existing(Job)

    public var job: Job {
        switch self {
        case .created(let job), .existing(let job): job
        }
    }
}
