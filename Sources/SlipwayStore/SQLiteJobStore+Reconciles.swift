public import Foundation
import GRDB
public import SlipwayCore

/// Reconciler turns and statuses in the SQLite store.
extension SQLiteJobStore {
    static func registerReconcileMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v6-app-reconciles") { db in
            try db.execute(sql: """
                CREATE TABLE app_reconciles (
                    app TEXT PRIMARY KEY,
                    owner TEXT,
                    lease_expires_at DOUBLE,
                    status TEXT,
                    corrections INTEGER NOT NULL DEFAULT 0,
                    next_correction_allowed DOUBLE,
                    reconciled_at DOUBLE
                ) WITHOUT ROWID;
                """)
        }
    }

    public func takeReconcileTurn(app: String, replica: String, leaseFor: Duration, unlessReconciledSince: Date?,
                                  now: Date) async throws(StoreError) -> ReconcileRecord? {
        let since = unlessReconciledSince?.timeIntervalSince1970
        return try await write { db in
            try Row.fetchOne(db, sql: """
                INSERT INTO app_reconciles (app, owner, lease_expires_at) VALUES (?, ?, ?)
                ON CONFLICT (app) DO UPDATE SET owner = excluded.owner, lease_expires_at = excluded.lease_expires_at
                WHERE (app_reconciles.owner IS NULL OR app_reconciles.lease_expires_at < ? OR app_reconciles.owner = excluded.owner)
                  AND (? IS NULL OR app_reconciles.reconciled_at IS NULL OR app_reconciles.reconciled_at < ?)
                RETURNING *
                """, arguments: [app, replica, now.timeIntervalSince1970 + leaseFor.seconds, now.timeIntervalSince1970, since, since])
                .map(Self.reconcileRecord)
        }
    }

    public func endReconcileTurn(_ record: ReconcileRecord, replica: String) async throws(StoreError) {
        try await write { db in
            try db.execute(sql: """
                UPDATE app_reconciles SET owner = NULL, lease_expires_at = NULL, status = ?, corrections = ?,
                    next_correction_allowed = ?, reconciled_at = ? WHERE app = ? AND owner = ?
                """, arguments: [record.status, record.corrections, record.nextCorrectionAllowed?.timeIntervalSince1970,
                                 record.reconciledAt?.timeIntervalSince1970, record.app, replica])
        }
    }

    public func appSummaries() async throws(StoreError) -> [String: AppSummary] {
        try await read { db in
            var summaries: [String: AppSummary] = [:]
            for row in try Row.fetchAll(db, sql: StoreSQL.appSummaries(trueLiteral: "1")) {
                summaries[row["app"]] = AppSummary(latestJob: row["job_id"], latestJobStatus: (row["job_status"] as String?).flatMap(JobStatus.init(rawValue:)),
                                                   deployedCommit: row["deployed_commit"])
            }
            return summaries
        }
    }

    public func reconcileRecords() async throws(StoreError) -> [ReconcileRecord] {
        try await read { db in try Row.fetchAll(db, sql: "SELECT * FROM app_reconciles ORDER BY app").map(Self.reconcileRecord) }
    }

    static func reconcileRecord(_ row: Row) -> ReconcileRecord {
        ReconcileRecord(app: row["app"], status: row["status"], corrections: row["corrections"] ?? 0,
                        nextCorrectionAllowed: (row["next_correction_allowed"] as Double?).map(Date.init(timeIntervalSince1970:)),
                        reconciledAt: (row["reconciled_at"] as Double?).map(Date.init(timeIntervalSince1970:)))
    }
}
