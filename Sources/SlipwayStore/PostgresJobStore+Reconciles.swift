public import Foundation
import Logging
import PostgresNIO
public import SlipwayCore

/// Reconciler turns and statuses in PostgreSQL: one replica reconciles an app at a time.
extension PostgresJobStore {
    public func takeReconcileTurn(app: String, replica: String, leaseFor: Duration, unlessReconciledSince: Date?,
                                  now: Date) async throws(StoreError) -> ReconcileRecord? {
        let since = unlessReconciledSince?.timeIntervalSince1970
        let found = try await rows("""
            INSERT INTO app_reconciles (app, owner, lease_expires_at) VALUES (\(app), \(replica), \(now.timeIntervalSince1970 + leaseFor.seconds))
            ON CONFLICT (app) DO UPDATE SET owner = EXCLUDED.owner, lease_expires_at = EXCLUDED.lease_expires_at
            WHERE (app_reconciles.owner IS NULL OR app_reconciles.lease_expires_at < \(now.timeIntervalSince1970) OR app_reconciles.owner = EXCLUDED.owner)
              AND (\(since)::DOUBLE PRECISION IS NULL OR app_reconciles.reconciled_at IS NULL OR app_reconciles.reconciled_at < \(since))
            RETURNING *
            """, "take the reconcile turn of \(app)")
        do { return try found.first.map(Self.reconcileRecord) } catch { throw Self.storeError(error, doing: "take the reconcile turn of \(app)") }
    }

    public func endReconcileTurn(_ record: ReconcileRecord, replica: String) async throws(StoreError) {
        _ = try await rows("""
            UPDATE app_reconciles SET owner = NULL, lease_expires_at = NULL, status = \(record.status), corrections = \(Int32(record.corrections)),
                next_correction_allowed = \(record.nextCorrectionAllowed?.timeIntervalSince1970), reconciled_at = \(record.reconciledAt?.timeIntervalSince1970)
            WHERE app = \(record.app) AND owner = \(replica)
            """, "end the reconcile turn of \(record.app)")
    }

    public func appSummaries() async throws(StoreError) -> [String: AppSummary] {
        let found = try await rows(PostgresQuery(unsafeSQL: StoreSQL.appSummaries(trueLiteral: "TRUE")), "read the apps' newest jobs and deploys")
        do {
            var summaries: [String: AppSummary] = [:]
            for row in found {
                summaries[try row["app"].decode(String.self)] = AppSummary(
                    latestJob: try row["job_id"].decode(Int64?.self), latestJobStatus: try row["job_status"].decode(String?.self).flatMap(JobStatus.init(rawValue:)),
                    deployedCommit: try row["deployed_commit"].decode(String?.self))
            }
            return summaries
        } catch {
            throw Self.storeError(error, doing: "read the apps' newest jobs and deploys")
        }
    }

    public func reconcileRecords() async throws(StoreError) -> [ReconcileRecord] {
        let found = try await rows("SELECT * FROM app_reconciles ORDER BY app", "read reconcile statuses")
        do { return try found.map(Self.reconcileRecord) } catch { throw Self.storeError(error, doing: "read reconcile statuses") }
    }

    static func reconcileRecord(_ row: PostgresRandomAccessRow) throws -> ReconcileRecord {
        ReconcileRecord(app: try row["app"].decode(String.self), status: try row["status"].decode(String?.self),
                        corrections: Int(try row["corrections"].decode(Int32.self)),
                        nextCorrectionAllowed: try row["next_correction_allowed"].decode(Double?.self).map(Date.init(timeIntervalSince1970:)),
                        reconciledAt: try row["reconciled_at"].decode(Double?.self).map(Date.init(timeIntervalSince1970:)))
    }
}
