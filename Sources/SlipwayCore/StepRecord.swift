public import Foundation

/// How one step (or hook) of a job went, as the job API shows it.
public struct StepRecord: Sendable, Hashable, Codable {
    /// `build`, `test`, `deploy`, or the hook point (`pre-deploy`, `post-deploy`, `on-failure`).
    public var stage: String
    public var name: String
    public var status: StepStatus
    public var startedAt: Date?
    public var finishedAt: Date?
    public var exitCode: Int?
    /// Why the step ended, when its exit code does not say it all (a pod's container).
    public var message: String?

    public init(stage: String, name: String, status: StepStatus, startedAt: Date? = nil, finishedAt: Date? = nil, exitCode: Int? = nil,
                message: String? = nil) {
        self.stage = stage
        self.name = name
        self.status = status
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.exitCode = exitCode
        self.message = message
    }

    enum CodingKeys: String, CodingKey {
        case stage, name, status
        case startedAt = "started_at"
        case finishedAt = "finished_at"
        case exitCode = "exit_code"
        case message
    }
}

public enum StepStatus: String, Sendable, Hashable, Codable, CaseIterable {
    case pending, running, succeeded, failed, skipped, cancelled, timedOut = "timed-out"
}
