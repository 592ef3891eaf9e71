public import Foundation
import GRDB
public import SlipwayCore

extension SQLiteJobStore {
    static func registerCommitStatusMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v8-commit-statuses") { db in
            try db.execute(sql: """
                CREATE TABLE commit_statuses (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    app TEXT NOT NULL,
                    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                    commit_sha TEXT NOT NULL,
                    state TEXT NOT NULL,
                    description TEXT,
                    created_at DOUBLE NOT NULL,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at DOUBLE NOT NULL,
                    leased_until DOUBLE,
                    sent_at DOUBLE,
                    refused TEXT,
                    last_error TEXT
                );
                CREATE INDEX commit_statuses_pending ON commit_statuses(job_id, id) WHERE sent_at IS NULL AND refused IS NULL;
                """)
        }
    }

    public func queueCommitStatus(app: String, jobID: JobID, commit: String, state: CommitState, description: String?, now: Date) async throws(StoreError) {
        try await write { db in
            // After a refusal the forge is not asked again for this job. A job's "queued" note
            // can come after its end (a newer push's delivery noted it cancelled, or a short
            // job ended, before the delivery's own note was written): sent last, it would leave
            // the commit pending for good, so it is dropped. After "running" it is kept: the
            // end follows it.
            try db.execute(sql: """
                INSERT INTO commit_statuses (app, job_id, commit_sha, state, description, created_at, next_attempt_at)
                SELECT ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM commit_statuses WHERE job_id = ?
                                  AND (refused IS NOT NULL OR (? AND state IN ('succeeded', 'failed', 'cancelled'))))
                """, arguments: [app, jobID, commit, state.rawValue, description, now.timeIntervalSince1970, now.timeIntervalSince1970, jobID,
                                 state == .queued])
        }
    }

    public func claimCommitStatuses(now: Date, leaseUntil: Date, limit: Int) async throws(StoreError) -> [CommitStatusRecord] {
        try await write { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT s.*, (SELECT j.trigger FROM jobs j WHERE j.id = s.job_id) AS job_trigger FROM commit_statuses s
                WHERE s.sent_at IS NULL AND s.refused IS NULL
                AND s.id = (SELECT MIN(o.id) FROM commit_statuses o WHERE o.job_id = s.job_id AND o.sent_at IS NULL AND o.refused IS NULL)
                AND s.next_attempt_at <= ? AND (s.leased_until IS NULL OR s.leased_until < ?)
                ORDER BY s.id LIMIT ?
                """, arguments: [now.timeIntervalSince1970, now.timeIntervalSince1970, limit])
            for row in rows {
                try db.execute(sql: "UPDATE commit_statuses SET leased_until = ? WHERE id = ?", arguments: [leaseUntil.timeIntervalSince1970, row["id"] as Int64])
            }
            return rows.map { row in
                CommitStatusRecord(id: row["id"], app: row["app"], jobID: row["job_id"], isPreview: (row["job_trigger"] as String?) == JobTrigger.preview.rawValue,
                                   commit: row["commit_sha"], state: CommitState(rawValue: row["state"]) ?? .failed, description: row["description"],
                                   attempts: row["attempts"], nextAttemptAt: Date(timeIntervalSince1970: row["next_attempt_at"]))
            }
        }
    }

    public func commitStatusSent(_ id: Int64, now: Date) async throws(StoreError) {
        try await write { db in
            try db.execute(sql: "UPDATE commit_statuses SET sent_at = ?, leased_until = NULL, attempts = attempts + 1 WHERE id = ?",
                           arguments: [now.timeIntervalSince1970, id])
        }
    }

    public func commitStatusRetry(_ id: Int64, retryAt: Date, error: String) async throws(StoreError) {
        try await write { db in
            try db.execute(sql: "UPDATE commit_statuses SET next_attempt_at = ?, leased_until = NULL, attempts = attempts + 1, last_error = ? WHERE id = ?",
                           arguments: [retryAt.timeIntervalSince1970, error, id])
        }
    }

    public func commitStatusRefused(_ id: Int64, error: String, now: Date) async throws(StoreError) {
        try await write { db in
            // The job's later statuses would be refused the same way: its log says so once.
            try db.execute(sql: """
                UPDATE commit_statuses SET refused = ?, leased_until = NULL, attempts = attempts + 1
                WHERE job_id = (SELECT job_id FROM commit_statuses WHERE id = ?) AND id >= ? AND sent_at IS NULL AND refused IS NULL
                """, arguments: [error, id, id])
        }
    }

    public func appendNote(jobID: JobID, text: String, now: Date) async throws(StoreError) {
        try await write { db in
            try db.execute(sql: """
                INSERT INTO log_chunks (job_id, seq, created_at, text)
                SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ? FROM log_chunks WHERE job_id = ?
                """, arguments: [jobID, now.timeIntervalSince1970, text, jobID])
        }
    }
}
