public import Foundation
import GRDB
public import SlipwayCore

extension SQLiteJobStore {
    static func registerRolloutMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v12-rollouts") { db in
            try db.execute(sql: """
                CREATE TABLE rollouts (
                    app TEXT PRIMARY KEY,
                    job_id INTEGER NOT NULL,
                    state TEXT NOT NULL,
                    active INTEGER NOT NULL,
                    promote_requested_by TEXT,
                    abort_requested_by TEXT,
                    updated_at DOUBLE NOT NULL
                ) WITHOUT ROWID;
                """)
        }
    }

    public func saveRollout(_ state: RolloutState, now: Date) async throws(StoreError) {
        let text = try StoreRollouts.text(state)
        try await write { db in
            try db.execute(sql: """
                INSERT INTO rollouts (app, job_id, state, active, updated_at) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (app) DO UPDATE SET
                    promote_requested_by = CASE WHEN rollouts.job_id = excluded.job_id THEN rollouts.promote_requested_by END,
                    abort_requested_by = CASE WHEN rollouts.job_id = excluded.job_id THEN rollouts.abort_requested_by END,
                    job_id = excluded.job_id, state = excluded.state, active = excluded.active, updated_at = excluded.updated_at
                """, arguments: [state.app, state.jobID, text, state.isActive, now.timeIntervalSince1970])
        }
    }

    public func rollout(app: String) async throws(StoreError) -> RolloutRecord? {
        let row = try await read { db in
            try Row.fetchOne(db, sql: "SELECT state, promote_requested_by, abort_requested_by FROM rollouts WHERE app = ?", arguments: [app])
                .map { ($0["state"] as String, $0["promote_requested_by"] as String?, $0["abort_requested_by"] as String?) }
        }
        guard let row else { return nil }
        return RolloutRecord(state: try StoreRollouts.state(row.0, app: app), promoteRequestedBy: row.1, abortRequestedBy: row.2)
    }

    public func rolloutRequests(app: String) async throws(StoreError) -> RolloutRequests? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT job_id, promote_requested_by, abort_requested_by FROM rollouts WHERE app = ?", arguments: [app])
                .map { RolloutRequests(jobID: $0["job_id"], promoteRequestedBy: $0["promote_requested_by"], abortRequestedBy: $0["abort_requested_by"]) }
        }
    }

    public func requestRollout(app: String, _ action: RolloutAction, by who: String, now: Date) async throws(StoreError) -> RolloutRecord? {
        let column = action == .promote ? "promote_requested_by" : "abort_requested_by"
        let changed = try await write { db in
            try db.execute(sql: "UPDATE rollouts SET \(column) = ? WHERE app = ? AND active = 1", arguments: [who, app])
            return db.changesCount
        }
        return changed > 0 ? try await rollout(app: app) : nil
    }

    public func consumePromotion(app: String, jobID: JobID) async throws(StoreError) {
        try await write { db in
            try db.execute(sql: "UPDATE rollouts SET promote_requested_by = NULL WHERE app = ? AND job_id = ?", arguments: [app, jobID])
        }
    }
}
