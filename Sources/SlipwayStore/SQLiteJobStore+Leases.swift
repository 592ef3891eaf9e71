public import Foundation
import GRDB
public import SlipwayCore

/// Leases on the SQLite store: one process owns the file, so claims never race, but the
/// rules (fair order, one job per app, supersede) are the same as on PostgreSQL.
extension SQLiteJobStore {
    static func registerLeaseMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v5-leases") { db in
            try db.execute(sql: """
                ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
                ALTER TABLE jobs ADD COLUMN lease_expires_at DOUBLE;
                CREATE UNIQUE INDEX jobs_one_running_per_app ON jobs(app) WHERE status = 'running';
                """)
        }
    }

    public var isShared: Bool { false }

    public func claim(replica: String, leaseFor: Duration, now: Date, excludingApps: Set<String>) async throws(StoreError) -> Claim? {
        let excluded = String(decoding: (try? JSONEncoder().encode(excludingApps.sorted())) ?? Data("[]".utf8), as: UTF8.self)
        return try await write { db in
            guard let app = try String.fetchOne(db, sql: SQLiteJobStore.nextAppSQL, arguments: [excluded]) else { return nil }
            guard let lane = try String.fetchOne(db, sql: """
                SELECT \(StoreSQL.laneKey) FROM jobs WHERE app = ? AND status = 'queued' ORDER BY id LIMIT 1
                """, arguments: [app]),
                let newest = try Int64.fetchOne(db, sql: """
                SELECT MAX(id) FROM jobs WHERE app = ? AND status = 'queued' AND \(StoreSQL.laneKey) = ?
                """, arguments: [app, lane]) else {
                return nil
            }
            let superseded = try Self.supersedeQueued(db, app: app, lane: lane, olderThan: newest, now: now)
            try db.execute(sql: """
                UPDATE jobs SET status = 'running', started_at = ?, lease_owner = ?, lease_expires_at = ? WHERE id = ? AND status = 'queued'
                """, arguments: [now.timeIntervalSince1970, replica, now.addingTimeInterval(leaseFor.seconds).timeIntervalSince1970, newest])
            guard let job = try Self.fetchJob(db, id: newest) else { return nil }
            return Claim(job: job, superseded: superseded)
        }
    }

    public func release(_ id: JobID) async throws(StoreError) -> Bool {
        try await write { db in
            try db.execute(sql: """
                UPDATE jobs SET status = 'queued', started_at = NULL, lease_owner = NULL, lease_expires_at = NULL WHERE id = ? AND status = 'running'
                """, arguments: [id])
            return db.changesCount == 1
        }
    }

    /// The app whose turn it is: queued work, nothing running, not held back (a JSON array of
    /// names), the oldest last start first.
    static let nextAppSQL = """
        SELECT q.app FROM jobs q
        WHERE q.status = 'queued' AND NOT EXISTS (SELECT 1 FROM jobs r WHERE r.app = q.app AND r.status = 'running')
        AND q.app NOT IN (SELECT value FROM json_each(?))
        GROUP BY q.app
        ORDER BY (SELECT MAX(s.started_at) FROM jobs s WHERE s.app = q.app) ASC NULLS FIRST, MIN(q.id)
        LIMIT 1
        """

    public func renewLeases(replica: String, jobs: [JobID], leaseFor: Duration, now: Date) async throws(StoreError) -> Set<JobID> {
        guard !jobs.isEmpty else { return [] }
        return try await write { db in
            var held: Set<JobID> = []
            for id in jobs {
                try db.execute(sql: "UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND lease_owner = ? AND status = 'running'",
                               arguments: [now.addingTimeInterval(leaseFor.seconds).timeIntervalSince1970, id, replica])
                if db.changesCount == 1 { held.insert(id) }
            }
            return held
        }
    }

    public func expireLeases(maxAttempts: Int, now: Date) async throws(StoreError) -> (interrupted: [JobID], requeued: [Job]) {
        try await write { db in
            let expired = try Row.fetchAll(db, sql: """
                SELECT id, lease_owner FROM jobs WHERE status = 'running' AND lease_expires_at IS NOT NULL AND lease_expires_at < ? ORDER BY id
                """, arguments: [now.timeIntervalSince1970])
            var requeued: [Job] = []
            for row in expired {
                let owner: String = row["lease_owner"] ?? "its replica"
                if let copy = try Self.interrupt(db, id: row["id"], reason: "\(owner) stopped renewing its lease", maxAttempts: maxAttempts, now: now) {
                    requeued.append(copy)
                }
            }
            return (expired.map { $0["id"] }, requeued)
        }
    }
}
