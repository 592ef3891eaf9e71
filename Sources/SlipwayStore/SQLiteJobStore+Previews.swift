public import Foundation
import GRDB
public import SlipwayCore

/// Pull-request previews: the jobs' request columns and the comment outbox.
extension SQLiteJobStore {
    static func registerPreviewMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v9-previews") { db in
            try db.execute(sql: """
                ALTER TABLE jobs ADD COLUMN pull_request INTEGER;
                ALTER TABLE jobs ADD COLUMN from_fork INTEGER NOT NULL DEFAULT 0;
                CREATE TABLE preview_comments (
                    app TEXT NOT NULL,
                    pull_request INTEGER NOT NULL,
                    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                    body TEXT NOT NULL,
                    revision INTEGER NOT NULL,
                    sent_revision INTEGER NOT NULL DEFAULT 0,
                    comment_id TEXT,
                    comment_version INTEGER,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at DOUBLE NOT NULL,
                    leased_until DOUBLE,
                    refused TEXT,
                    last_error TEXT,
                    PRIMARY KEY (app, pull_request)
                );
                """)
        }
        migrator.registerMigration("v10-claim-order-index") { db in
            // The claim orders apps by their last start: without this index, MAX(started_at)
            // read every job the app ever had, on every claim.
            try db.execute(sql: "CREATE INDEX jobs_by_app_started ON jobs(app, started_at)")
        }
        migrator.registerMigration("v11-step-messages") { db in
            // Why a step ended, in words (a pod's container: "killed: out of memory (limit 1Gi)").
            try db.execute(sql: "ALTER TABLE job_steps ADD COLUMN message TEXT")
        }
    }

    public func queuePreviewComment(app: String, pullRequest: Int, jobID: JobID, body: String, now: Date) async throws(StoreError) {
        try await write { db in
            try db.execute(sql: """
                INSERT INTO preview_comments (app, pull_request, job_id, body, revision, next_attempt_at) VALUES (?, ?, ?, ?, 1, ?)
                ON CONFLICT (app, pull_request) DO UPDATE SET job_id = excluded.job_id, body = excluded.body, revision = revision + 1,
                    next_attempt_at = excluded.next_attempt_at, attempts = 0, refused = NULL
                """, arguments: [app, pullRequest, jobID, body, now.timeIntervalSince1970])
        }
    }

    public func claimPreviewComments(now: Date, leaseUntil: Date, limit: Int) async throws(StoreError) -> [PreviewCommentRecord] {
        try await write { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT * FROM preview_comments
                WHERE revision > sent_revision AND refused IS NULL AND next_attempt_at <= ? AND (leased_until IS NULL OR leased_until < ?)
                ORDER BY next_attempt_at LIMIT ?
                """, arguments: [now.timeIntervalSince1970, now.timeIntervalSince1970, limit])
            for row in rows {
                try db.execute(sql: "UPDATE preview_comments SET leased_until = ? WHERE app = ? AND pull_request = ?",
                               arguments: [leaseUntil.timeIntervalSince1970, row["app"] as String, row["pull_request"] as Int])
            }
            return rows.map { row in
                PreviewCommentRecord(app: row["app"], pullRequest: row["pull_request"], jobID: row["job_id"], body: row["body"],
                                     revision: row["revision"], commentID: row["comment_id"], commentVersion: row["comment_version"],
                                     attempts: row["attempts"])
            }
        }
    }

    public func previewCommentSent(_ record: PreviewCommentRecord, commentID: String, commentVersion: Int?, now: Date) async throws(StoreError) {
        try await write { db in
            // A newer text queued meanwhile keeps the row pending: it edits the same comment next.
            try db.execute(sql: """
                UPDATE preview_comments SET sent_revision = MAX(sent_revision, ?), comment_id = ?, comment_version = ?, leased_until = NULL,
                    attempts = 0, last_error = NULL WHERE app = ? AND pull_request = ?
                """, arguments: [record.revision, commentID, commentVersion, record.app, record.pullRequest])
        }
    }

    public func previewCommentRetry(_ record: PreviewCommentRecord, retryAt: Date, error: String, forgetComment: Bool,
                                    commentVersion: Int?) async throws(StoreError) {
        try await write { db in
            try db.execute(sql: """
                UPDATE preview_comments SET next_attempt_at = ?, leased_until = NULL, attempts = attempts + 1, last_error = ?,
                    comment_id = CASE WHEN ? THEN NULL ELSE comment_id END,
                    comment_version = CASE WHEN ? THEN NULL ELSE COALESCE(?, comment_version) END
                WHERE app = ? AND pull_request = ?
                """, arguments: [retryAt.timeIntervalSince1970, error, forgetComment, forgetComment, commentVersion, record.app, record.pullRequest])
        }
    }

    public func previewCommentRefused(_ record: PreviewCommentRecord, error: String, now: Date) async throws(StoreError) {
        try await write { db in
            try db.execute(sql: """
                UPDATE preview_comments SET refused = ?, leased_until = NULL, attempts = attempts + 1 WHERE app = ? AND pull_request = ? AND revision = ?
                """, arguments: [error, record.app, record.pullRequest, record.revision])
        }
    }
}
