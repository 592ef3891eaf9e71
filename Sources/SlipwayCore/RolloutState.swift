public import Foundation

/// Where an app's progressive rollout stands: kept in the store after every change, so the
/// next owner of the job continues it, and shown by the API, the CLI and the App page.
public struct RolloutState: Codable, Sendable, Hashable {
    public enum Phase: String, Codable, Sendable, CaseIterable {
        /// Scaling the canary to a weight and waiting for it to be healthy.
        case progressing
        /// Waiting a duration or for a promotion.
        case paused
        /// Taking measurements.
        case analysing
        /// The stable Deployment gets the new template; the canary goes after.
        case promoting
        case promoted
        case aborted
    }

    public var app: String
    public var jobID: JobID
    public var commit: String
    /// `Deployment/web`.
    public var target: String
    public var namespace: String
    /// The steps as text (`weight 20%`, `pause 2m`, `analysis success-rate`, `pause until promoted`).
    public var steps: [String]
    /// The step being run (0-based); `steps.count` once every step is done.
    public var step: Int
    public var phase: Phase
    /// The canary's share of the replicas now (0–100).
    public var weight: Int
    /// The target's replicas as its manifest asks.
    public var replicas: Int
    public var canaryReplicas: Int
    public var stableReplicas: Int
    public var measurements: [AnalysisMeasurement]
    /// Each analysis' success condition (`>= 0.99`), by name.
    public var analyses: [String: String]?
    /// What the rollout waits for, or why it ended.
    public var message: String?
    /// When a timed pause ends.
    public var pauseEndsAt: Date?
    public var startedAt: Date
    public var updatedAt: Date

    public init(app: String, jobID: JobID, commit: String, target: String, namespace: String, steps: [String], replicas: Int, now: Date) {
        self.app = app
        self.jobID = jobID
        self.commit = commit
        self.target = target
        self.namespace = namespace
        self.steps = steps
        self.step = 0
        self.phase = .progressing
        self.weight = 0
        self.replicas = replicas
        self.canaryReplicas = 0
        self.stableReplicas = replicas
        self.measurements = []
        self.startedAt = now
        self.updatedAt = now
    }

    enum CodingKeys: String, CodingKey {
        case app, commit, target, namespace, steps, step, phase, weight, replicas, measurements, message, analyses
        case jobID = "job_id"
        case canaryReplicas = "canary_replicas"
        case stableReplicas = "stable_replicas"
        case pauseEndsAt = "pause_ends_at"
        case startedAt = "started_at"
        case updatedAt = "updated_at"
    }

    /// Whether the rollout still runs (neither promoted nor aborted).
    public var isActive: Bool { phase != .promoted && phase != .aborted }
}

/// One measurement of an analysis.
public struct AnalysisMeasurement: Codable, Sendable, Hashable {
    public enum Result: String, Codable, Sendable, CaseIterable {
        /// The value met the success condition.
        case successful
        /// The value did not meet it.
        case failed
        /// No value could be read (no answer in time, no result, several results).
        case error
    }

    public var analysis: String
    /// The rollout step it was taken in.
    public var step: Int
    public var time: Date
    public var value: Double?
    public var result: Result
    /// Why it failed or could not be read.
    public var note: String?

    public init(analysis: String, step: Int, time: Date, value: Double?, result: Result, note: String? = nil) {
        self.analysis = analysis
        self.step = step
        self.time = time
        self.value = value
        self.result = result
        self.note = note
    }

    /// A failed or unreadable measurement counts against the failure limit.
    public var counted: Bool { result != .successful }
}

/// What a person asks of a running rollout.
public enum RolloutAction: String, Sendable, Codable, CaseIterable {
    case promote, abort
}
