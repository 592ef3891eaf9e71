public import Foundation
public import SlipwayDeploy
public import SlipwayCore

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
    /// The app's newest progressive rollout (filled in for one app's status, not in lists).
    public var rollout: RolloutState?

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
        case rollout
    }
}

extension AppStatus {
    /// The status as the API writes it: the same tree `Encodable` gives, built directly, since
    /// the app list writes a thousand of them (through `Encodable` each was encoded, parsed
    /// back and written again).
    public var json: JSONValue {
        var tree: [String: JSONValue] = [
            "app": .string(app), "sync": .string(sync.rawValue), "object_count": .int(Int64(objectCount)),
            "object_health": .object(objectHealth.mapValues(JSONValue.string)),
            "drifted": .array(drifted.map { drift in
                .object(["object": .string(drift.object), "kind": .string(drift.kind.rawValue), "fields": .array(drift.fields.map { field in
                    var change: [String: JSONValue] = ["path": .string(field.path)]
                    if let live = field.live { change["live"] = .string(live) }
                    if let desired = field.desired { change["desired"] = .string(desired) }
                    return .object(change)
                })])
            }),
        ]
        let optional: [(String, JSONValue?)] = [
            ("health", health.map(JSONValue.string)), ("deployed_commit", deployedCommit.map(JSONValue.string)),
            ("last_job", lastJob.map(JSONValue.int)), ("last_job_status", lastJobStatus.map(JSONValue.string)),
            ("branch_head", branchHead.map(JSONValue.string)), ("message", message.map(JSONValue.string)),
            ("reconciled_at", reconciledAt.map { .string($0.formatted(.iso8601)) }),
            ("next_correction_at", nextCorrectionAt.map { .string($0.formatted(.iso8601)) }),
            ("waiting_for", waitingFor.map(JSONValue.string)),
        ]
        for (key, value) in optional { tree[key] = value }
        return .object(tree)
    }
}
