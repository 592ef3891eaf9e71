public import Foundation
import Logging
import PostgresNIO
public import SlipwayCore

/// The commit status outbox, as `SQLiteJobStore` keeps it; rows are leased with
/// `FOR UPDATE SKIP LOCKED` so replicas never send the same status.
extension PostgresJobStore {
    /// As `SQLiteJobStore`'s: nothing after a refusal, no "queued" after the job's end.
    public func queueCommitStatus(app: String, jobID: JobID, commit: String, state: CommitState, description: String?, now: Date) async throws(StoreError) {
        _ = try await rows("""
            INSERT INTO commit_statuses (app, job_id, commit_sha, state, description, created_at, next_attempt_at)
            SELECT \(app), \(jobID), \(commit), \(state.rawValue), \(description), \(now.timeIntervalSince1970), \(now.timeIntervalSince1970)
            WHERE NOT EXISTS (SELECT 1 FROM commit_statuses WHERE job_id = \(jobID) AND (refused IS NOT NULL OR (\(state == .queued) AND state IN ('succeeded', 'failed', 'cancelled'))))
            """, "queue a commit status for job \(jobID)")
    }

    public func claimCommitStatuses(now: Date, leaseUntil: Date, limit: Int) async throws(StoreError) -> [CommitStatusRecord] {
        let logger = logger
        let found = try await transaction("claim commit statuses") { connection in
            try await Self.rows(connection.query("""
                UPDATE commit_statuses SET leased_until = \(leaseUntil.timeIntervalSince1970)
                WHERE id IN (
                    SELECT s.id FROM commit_statuses s
                    WHERE s.sent_at IS NULL AND s.refused IS NULL
                    AND s.id = (SELECT MIN(o.id) FROM commit_statuses o WHERE o.job_id = s.job_id AND o.sent_at IS NULL AND o.refused IS NULL)
                    AND s.next_attempt_at <= \(now.timeIntervalSince1970) AND (s.leased_until IS NULL OR s.leased_until < \(now.timeIntervalSince1970))
                    ORDER BY s.id LIMIT \(Int64(limit)) FOR UPDATE SKIP LOCKED)
                RETURNING *, (SELECT j.trigger FROM jobs j WHERE j.id = commit_statuses.job_id) AS job_trigger
                """, logger: logger))
        }
        do {
            return try found.map { row in
                CommitStatusRecord(id: try row["id"].decode(Int64.self), app: try row["app"].decode(String.self), jobID: try row["job_id"].decode(Int64.self),
                                   isPreview: try row["job_trigger"].decode(String?.self) == JobTrigger.preview.rawValue,
                                   commit: try row["commit_sha"].decode(String.self),
                                   state: CommitState(rawValue: try row["state"].decode(String.self)) ?? .failed,
                                   description: try row["description"].decode(String?.self), attempts: Int(try row["attempts"].decode(Int32.self)),
                                   nextAttemptAt: Date(timeIntervalSince1970: try row["next_attempt_at"].decode(Double.self)))
            }.sorted { $0.id < $1.id }
        } catch {
            throw Self.storeError(error, doing: "claim commit statuses")
        }
    }

    public func commitStatusSent(_ id: Int64, now: Date) async throws(StoreError) {
        _ = try await rows("UPDATE commit_statuses SET sent_at = \(now.timeIntervalSince1970), leased_until = NULL, attempts = attempts + 1 WHERE id = \(id)",
                           "record a sent commit status")
    }

    public func commitStatusRetry(_ id: Int64, retryAt: Date, error: String) async throws(StoreError) {
        _ = try await rows("""
            UPDATE commit_statuses SET next_attempt_at = \(retryAt.timeIntervalSince1970), leased_until = NULL, attempts = attempts + 1, last_error = \(error)
            WHERE id = \(id)
            """, "put a commit status back")
    }

    public func commitStatusRefused(_ id: Int64, error: String, now: Date) async throws(StoreError) {
        // The job's later statuses would be refused the same way: its log says so once.
        _ = try await rows("""
            UPDATE commit_statuses SET refused = \(error), leased_until = NULL, attempts = attempts + 1
            WHERE job_id = (SELECT job_id FROM commit_statuses WHERE id = \(id)) AND id >= \(id) AND sent_at IS NULL AND refused IS NULL
            """, "record a refused commit status")
    }

    public func appendNote(jobID: JobID, text: String, now: Date) async throws(StoreError) {
        let logger = logger
        try await transaction("add a note to the log of job \(jobID)") { connection in
            _ = try await Self.rows(connection.query("SELECT id FROM jobs WHERE id = \(jobID) FOR UPDATE", logger: logger))
            try await Self.appendLog(connection, jobID: jobID, text: text, now: now, logger: logger)
        }
    }
}
