public import Foundation
import Logging
import PostgresNIO
public import SlipwayCore

/// Leases across replicas: claims skip what another replica holds (an app's advisory lock,
/// `SKIP LOCKED` rows), and a lease that is not renewed ends the job for another to retry.
extension PostgresJobStore {
    public var isShared: Bool { true }

    public func release(_ id: JobID) async throws(StoreError) -> Bool {
        let found = try await rows("""
            UPDATE jobs SET status = 'queued', started_at = NULL, lease_owner = NULL, lease_expires_at = NULL WHERE id = \(id) AND status = 'running'
            RETURNING id
            """, "put job \(id) back in the queue")
        return !found.isEmpty
    }

    public func claim(replica: String, leaseFor: Duration, now: Date, excludingApps: Set<String>) async throws(StoreError) -> Claim? {
        let excluded = excludingApps.sorted()
        let logger = logger
        let until = now.timeIntervalSince1970 + leaseFor.seconds
        return try await transaction("claim a job") { connection in
            let apps = try await Self.rows(connection.query("""
                SELECT q.app FROM jobs q
                WHERE q.status = 'queued' AND NOT EXISTS (SELECT 1 FROM jobs r WHERE r.app = q.app AND r.status = 'running')
                AND NOT (q.app = ANY(\(excluded)))
                GROUP BY q.app
                ORDER BY (SELECT MAX(s.started_at) FROM jobs s WHERE s.app = q.app) ASC NULLS FIRST, MIN(q.id)
                LIMIT 8
                """, logger: logger)).map { try $0["app"].decode(String.self) }
            for app in apps {
                // Another replica claiming or queueing for this app right now: try the next app.
                let locked = try await Self.rows(connection.query("SELECT pg_try_advisory_xact_lock(1, hashtext(\(app))) AS locked", logger: logger))
                guard try locked.first?["locked"].decode(Bool.self) == true else { continue }
                let running = try await Self.rows(connection.query("SELECT 1 FROM jobs WHERE app = \(app) AND status = 'running' LIMIT 1", logger: logger))
                guard running.isEmpty else { continue }
                guard let lane = try await Self.rows(connection.query("""
                    SELECT \(unescaped: StoreSQL.laneKey) AS lane FROM jobs WHERE app = \(app) AND status = 'queued' ORDER BY id LIMIT 1
                    """, logger: logger)).first?["lane"].decode(String.self),
                    let newest = try await Self.rows(connection.query("""
                    SELECT id FROM jobs WHERE app = \(app) AND status = 'queued' AND \(unescaped: StoreSQL.laneKey) = \(lane)
                    ORDER BY id DESC LIMIT 1 FOR UPDATE SKIP LOCKED
                    """, logger: logger)).first?["id"].decode(Int64.self) else { continue }
                let superseded = try await Self.supersedeQueued(connection, app: app, lane: lane, olderThan: newest, now: now, logger: logger)
                try await connection.query("""
                    UPDATE jobs SET status = 'running', started_at = \(now.timeIntervalSince1970), lease_owner = \(replica), lease_expires_at = \(until)
                    WHERE id = \(newest) AND status = 'queued'
                    """, logger: logger)
                guard let job = try await Self.fetchJob(connection, id: newest, logger: logger) else { return nil }
                return Claim(job: job, superseded: superseded)
            }
            return nil
        }
    }

    public func renewLeases(replica: String, jobs: [JobID], leaseFor: Duration, now: Date) async throws(StoreError) -> Set<JobID> {
        guard !jobs.isEmpty else { return [] }
        let held = try await rows("""
            UPDATE jobs SET lease_expires_at = \(now.timeIntervalSince1970 + leaseFor.seconds)
            WHERE id = ANY(\(jobs)) AND lease_owner = \(replica) AND status = 'running' RETURNING id
            """, "renew the leases of \(replica)")
        do { return Set(try held.map { try $0["id"].decode(Int64.self) }) } catch { throw Self.storeError(error, doing: "renew leases") }
    }

    public func expireLeases(maxAttempts: Int, now: Date) async throws(StoreError) -> (interrupted: [JobID], requeued: [Job]) {
        let logger = logger
        return try await transaction("expire leases") { connection in
            let expired = try await Self.rows(connection.query("""
                SELECT id, lease_owner FROM jobs
                WHERE status = 'running' AND lease_expires_at IS NOT NULL AND lease_expires_at < \(now.timeIntervalSince1970)
                ORDER BY id FOR UPDATE SKIP LOCKED
                """, logger: logger))
            var ids: [JobID] = []
            var requeued: [Job] = []
            for row in expired {
                let id = try row["id"].decode(Int64.self)
                let owner = try row["lease_owner"].decode(String?.self) ?? "its replica"
                ids.append(id)
                if let copy = try await Self.interrupt(connection, id: id, reason: "\(owner) stopped renewing its lease",
                                                       maxAttempts: maxAttempts, now: now, logger: logger) {
                    requeued.append(copy)
                }
            }
            return (ids, requeued)
        }
    }
}
