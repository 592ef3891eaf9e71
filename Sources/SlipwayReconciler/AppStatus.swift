public import Foundation
public import SlipwayDeploy

/// What the API shows about an app.
public struct AppStatus: Sendable, Codable, Hashable {
    public enum Sync: String, Sendable, Codable { case synced = "Synced", outOfSync = "OutOfSync", unknown = "Unknown" }

    public var app: String
    public var sync: Sync
    /// `Healthy`, `Progressing`, `Degraded`, `Missing`, or nil when not known.
    public var health: String?
    public var deployedCommit: String?
    public var lastJob: Int64?
    public var lastJobStatus: String?
    public var branchHead: String?
    public var drifted: [ObjectDrift]
    public var objectHealth: [String: String]
    public var objectCount: Int
    /// Why the status is Unknown, or what the reconciler did last.
    public var message: String?
    public var reconciledAt: Date?
    public var nextCorrectionAt: Date?
    /// What the reconcile under way waits for (a forge's answer, a cluster's), if one is.
    public var waitingFor: String?

    public init(app: String) {
        self.app = app
        sync = .unknown
        drifted = []
        objectHealth = [:]
        objectCount = 0
    }

    enum CodingKeys: String, CodingKey {
        case app, sync, health, drifted, message
        case deployedCommit = "deployed_commit"
        case lastJob = "last_job"
        case lastJobStatus = "last_job_status"
        case branchHead = "branch_head"
        case objectHealth = "object_health"
        case objectCount = "object_count"
        case reconciledAt = "reconciled_at"
        case nextCorrectionAt = "next_correction_at"
        case waitingFor = "waiting_for"
    }
}
