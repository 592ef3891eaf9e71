public import Foundation
import GRDB
public import SlipwayCore

extension SQLiteJobStore {
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
                                 healthy: Bool, now: Date) async throws(StoreError) {
        try await write { db in
            try db.execute(sql: """
                INSERT INTO deployments (app, job_id, commit_sha, objects, manifests, healthy, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [app, jobID, commit, try SlipwayJSON.string(objects),
                                 try SlipwayJSON.string(manifests), healthy, now.timeIntervalSince1970])
        }
    }

    /// An app's deploys, newest first (its deploy history).
    public func deployments(app: String, healthyOnly: Bool, limit: Int) async throws(StoreError) -> [DeploymentRecord] {
        try await read { db in
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
    public func markBad(app: String, commit: String, jobID: JobID, reason: String, now: Date) async throws(StoreError) {
        try await write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO bad_commits (app, commit_sha, job_id, reason, created_at) VALUES (?, ?, ?, ?, ?)",
                           arguments: [app, commit, jobID, reason, now.timeIntervalSince1970])
        }
    }

    /// Why a commit was marked bad, or nil when it was not.
    public func badCommit(app: String, commit: String) async throws(StoreError) -> BadCommit? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT job_id, reason FROM bad_commits WHERE app = ? AND commit_sha = ?", arguments: [app, commit])
                .map { BadCommit(jobID: $0["job_id"], reason: $0["reason"]) }
        }
    }
}
