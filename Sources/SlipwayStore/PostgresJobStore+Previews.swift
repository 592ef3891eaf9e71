public import Foundation
import Logging
import PostgresNIO
public import SlipwayCore

/// The pull-request comment outbox, as `SQLiteJobStore` keeps it; rows are leased with
/// `FOR UPDATE SKIP LOCKED` so replicas never send the same text.
extension PostgresJobStore {
    public func queuePreviewComment(app: String, pullRequest: Int, jobID: JobID, body: String, now: Date) async throws(StoreError) {
        _ = try await rows("""
            INSERT INTO preview_comments (app, pull_request, job_id, body, revision, next_attempt_at)
            VALUES (\(app), \(Int64(pullRequest)), \(jobID), \(body), 1, \(now.timeIntervalSince1970))
            ON CONFLICT (app, pull_request) DO UPDATE SET job_id = EXCLUDED.job_id, body = EXCLUDED.body,
                revision = preview_comments.revision + 1, next_attempt_at = EXCLUDED.next_attempt_at, attempts = 0, refused = NULL
            """, "queue the comment of \(app) on pull request \(pullRequest)")
    }

    public func claimPreviewComments(now: Date, leaseUntil: Date, limit: Int) async throws(StoreError) -> [PreviewCommentRecord] {
        let logger = logger
        let found = try await transaction("claim pull-request comments") { connection in
            try await Self.rows(connection.query("""
                UPDATE preview_comments SET leased_until = \(leaseUntil.timeIntervalSince1970)
                WHERE (app, pull_request) IN (
                    SELECT app, pull_request FROM preview_comments
                    WHERE revision > sent_revision AND refused IS NULL AND next_attempt_at <= \(now.timeIntervalSince1970)
                    AND (leased_until IS NULL OR leased_until < \(now.timeIntervalSince1970))
                    ORDER BY next_attempt_at LIMIT \(Int64(limit)) FOR UPDATE SKIP LOCKED)
                RETURNING *
                """, logger: logger))
        }
        do {
            return try found.map { row in
                PreviewCommentRecord(app: try row["app"].decode(String.self), pullRequest: Int(try row["pull_request"].decode(Int64.self)),
                                     jobID: try row["job_id"].decode(Int64.self), body: try row["body"].decode(String.self),
                                     revision: Int(try row["revision"].decode(Int32.self)), commentID: try row["comment_id"].decode(String?.self),
                                     commentVersion: try row["comment_version"].decode(Int32?.self).map(Int.init),
                                     attempts: Int(try row["attempts"].decode(Int32.self)))
            }
        } catch {
            throw Self.storeError(error, doing: "claim pull-request comments")
        }
    }

    public func previewCommentSent(_ record: PreviewCommentRecord, commentID: String, commentVersion: Int?, now: Date) async throws(StoreError) {
        // A newer text queued meanwhile keeps the row pending: it edits the same comment next.
        _ = try await rows("""
            UPDATE preview_comments SET sent_revision = GREATEST(sent_revision, \(Int32(record.revision))), comment_id = \(commentID),
                comment_version = \(commentVersion.map(Int32.init)), leased_until = NULL, attempts = 0, last_error = NULL
            WHERE app = \(record.app) AND pull_request = \(Int64(record.pullRequest))
            """, "record a sent pull-request comment")
    }

    public func previewCommentRetry(_ record: PreviewCommentRecord, retryAt: Date, error: String, forgetComment: Bool,
                                    commentVersion: Int?) async throws(StoreError) {
        _ = try await rows("""
            UPDATE preview_comments SET next_attempt_at = \(retryAt.timeIntervalSince1970), leased_until = NULL, attempts = attempts + 1,
                last_error = \(error), comment_id = CASE WHEN \(forgetComment) THEN NULL ELSE comment_id END,
                comment_version = CASE WHEN \(forgetComment) THEN NULL ELSE COALESCE(\(commentVersion.map(Int32.init))::integer, comment_version) END
            WHERE app = \(record.app) AND pull_request = \(Int64(record.pullRequest))
            """, "put a pull-request comment back")
    }

    public func previewCommentRefused(_ record: PreviewCommentRecord, error: String, now: Date) async throws(StoreError) {
        _ = try await rows("""
            UPDATE preview_comments SET refused = \(error), leased_until = NULL, attempts = attempts + 1
            WHERE app = \(record.app) AND pull_request = \(Int64(record.pullRequest)) AND revision = \(Int32(record.revision))
            """, "record a refused pull-request comment")
    }
}
