public import Foundation
import GRDB
public import SlipwayCore

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

extension JobStore {
    static func registerDeploymentMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v3-deployments") { db in
            try db.execute(sql: """
                CREATE TABLE deployments (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    app TEXT NOT NULL,
                    job_id INTEGER NOT NULL,
                    commit_sha TEXT NOT NULL,
                    objects TEXT NOT NULL,
                    manifests TEXT NOT NULL,
                    healthy INTEGER NOT NULL,
                    created_at DOUBLE NOT NULL
                );
                CREATE INDEX deployments_by_app ON deployments(app, id);
                CREATE TABLE bad_commits (
                    app TEXT NOT NULL,
                    commit_sha TEXT NOT NULL,
                    job_id INTEGER NOT NULL,
                    reason TEXT NOT NULL,
                    created_at DOUBLE NOT NULL,
                    PRIMARY KEY (app, commit_sha)
                ) WITHOUT ROWID;
                """)
        }
    }

    /// Records what a deploy applied (the inventory prune works from next time).
    public func recordDeployment(app: String, jobID: JobID, commit: String, objects: JSONValue, manifests: JSONValue,
                                 healthy: Bool, now: Date = Date()) async throws(StoreError) {
        try await write { db in
            try db.execute(sql: """
                INSERT INTO deployments (app, job_id, commit_sha, objects, manifests, healthy, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [app, jobID, commit, try SlipwayJSON.string(objects),
                                 try SlipwayJSON.string(manifests), healthy, now.timeIntervalSince1970])
        }
    }

    /// The newest deploy of an app (only healthy ones when asked).
    public func lastDeployment(app: String, healthyOnly: Bool = false) throws(StoreError) -> DeploymentRecord? {
        try deployments(app: app, healthyOnly: healthyOnly, limit: 1).first
    }

    /// An app's deploys, newest first (its deploy history).
    public func deployments(app: String, healthyOnly: Bool = false, limit: Int = 100) throws(StoreError) -> [DeploymentRecord] {
        try read { db in
            let filter = healthyOnly ? "AND healthy = 1" : ""
            let decoder = JSONDecoder()
            return try Row.fetchAll(db, sql: "SELECT * FROM deployments WHERE app = ? \(filter) ORDER BY id DESC LIMIT ?", arguments: [app, limit]).map { row in
                DeploymentRecord(
                    app: row["app"], jobID: row["job_id"], commit: row["commit_sha"],
                    objects: try decoder.decode(JSONValue.self, from: Data((row["objects"] as String).utf8)),
                    manifests: try decoder.decode(JSONValue.self, from: Data((row["manifests"] as String).utf8)),
                    healthy: row["healthy"], createdAt: Date(timeIntervalSince1970: row["created_at"]))
            }
        }
    }

    /// Marks a commit that failed and was rolled back: it is not deployed again.
    public func markBad(app: String, commit: String, jobID: JobID, reason: String, now: Date = Date()) throws(StoreError) {
        try write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO bad_commits (app, commit_sha, job_id, reason, created_at) VALUES (?, ?, ?, ?, ?)",
                           arguments: [app, commit, jobID, reason, now.timeIntervalSince1970])
        }
    }

    /// Why a commit was marked bad, or nil when it was not.
    public func badCommit(app: String, commit: String) throws(StoreError) -> (jobID: JobID, reason: String)? {
        try read { db in
            try Row.fetchOne(db, sql: "SELECT job_id, reason FROM bad_commits WHERE app = ? AND commit_sha = ?", arguments: [app, commit])
                .map { ($0["job_id"], $0["reason"]) }
        }
    }
}
