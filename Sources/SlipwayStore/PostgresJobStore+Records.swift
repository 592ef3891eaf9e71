public import Foundation
import Logging
import PostgresNIO
public import SlipwayCore

/// Steps, logs, deploys and step processes, as `SQLiteJobStore` keeps them.
extension PostgresJobStore {
    // MARK: Steps

    public func planSteps(_ id: JobID, steps: [StepPlan]) async throws(StoreError) {
        let logger = logger
        try await transaction("plan the steps of job \(id)") { connection in
            try await connection.query("DELETE FROM job_steps WHERE job_id = \(id)", logger: logger)
            for (index, step) in steps.enumerated() {
                try await connection.query("""
                    INSERT INTO job_steps (job_id, seq, stage, name, status) VALUES (\(id), \(Int32(index)), \(step.stage), \(step.name), 'pending')
                    """, logger: logger)
            }
        }
    }

    public func updateStep(_ id: JobID, index: Int, status: StepStatus, exitCode: Int?, message: String?, now: Date) async throws(StoreError) {
        let seq = Int32(index)
        let query: PostgresQuery = switch status {
        case .running:
            "UPDATE job_steps SET status = \(status.rawValue), started_at = \(now.timeIntervalSince1970) WHERE job_id = \(id) AND seq = \(seq) AND \(unescaped: StoreSQL.stepWhileRunning)"
        case .pending, .skipped:
            "UPDATE job_steps SET status = \(status.rawValue) WHERE job_id = \(id) AND seq = \(seq) AND \(unescaped: StoreSQL.stepWhileRunning)"
        default:
            """
            UPDATE job_steps SET status = \(status.rawValue), finished_at = \(now.timeIntervalSince1970), exit_code = \(exitCode.map(Int32.init)),
                message = \(message)
            WHERE job_id = \(id) AND seq = \(seq) AND \(unescaped: StoreSQL.stepWhileRunning)
            """
        }
        _ = try await rows(query, "update a step of job \(id)")
    }

    public func steps(_ id: JobID) async throws(StoreError) -> [StepRecord] {
        let found = try await rows("SELECT * FROM job_steps WHERE job_id = \(id) ORDER BY seq", "read the steps of job \(id)")
        do {
            return try found.map { row in
                StepRecord(stage: try row["stage"].decode(String.self), name: try row["name"].decode(String.self),
                           status: StepStatus(rawValue: try row["status"].decode(String.self)) ?? .pending,
                           startedAt: try row["started_at"].decode(Double?.self).map(Date.init(timeIntervalSince1970:)),
                           finishedAt: try row["finished_at"].decode(Double?.self).map(Date.init(timeIntervalSince1970:)),
                           exitCode: try row["exit_code"].decode(Int32?.self).map(Int.init), message: try row["message"].decode(String?.self))
            }
        } catch {
            throw Self.storeError(error, doing: "read the steps of job \(id)")
        }
    }

    // MARK: Logs

    public func appendLog(jobID: JobID, text: String, now: Date) async throws(StoreError) {
        let logger = logger
        try await transaction("append to the log of job \(jobID)") { connection in
            // The job's row lock orders appends to one log, whichever replica writes.
            let status = try await Self.rows(connection.query("SELECT status FROM jobs WHERE id = \(jobID) FOR UPDATE", logger: logger))
                .first?["status"].decode(String.self)
            guard status == JobStatus.running.rawValue else { throw StoreError.notRunning(jobID) }
            try await Self.appendLog(connection, jobID: jobID, text: text, now: now, logger: logger)
        }
    }

    static func appendLog(_ connection: PostgresConnection, jobID: JobID, text: String, now: Date, logger: Logger) async throws {
        try await connection.query("""
            INSERT INTO log_chunks (job_id, seq, created_at, text)
            SELECT \(jobID), COALESCE(MAX(seq), 0) + 1, \(now.timeIntervalSince1970), \(text) FROM log_chunks WHERE job_id = \(jobID)
            """, logger: logger)
    }

    public func logChunks(jobID: JobID, after seq: Int64, limit: Int) async throws(StoreError) -> [LogChunk] {
        let found = try await rows("""
            SELECT seq, text FROM log_chunks WHERE job_id = \(jobID) AND seq > \(seq) ORDER BY seq LIMIT \(Int64(min(limit, Int(Int64.max))))
            """, "read the log of job \(jobID)")
        do {
            return try found.map { LogChunk(jobID: jobID, seq: try $0["seq"].decode(Int64.self), text: try $0["text"].decode(String.self)) }
        } catch {
            throw Self.storeError(error, doing: "read the log of job \(jobID)")
        }
    }

    // MARK: Deploys

    public func recordDeployment(app: String, jobID: JobID, commit: String, objects: JSONValue, manifests: JSONValue,
                                 healthy: Bool, now: Date) async throws(StoreError) {
        let objectsText: String, manifestsText: String
        do {
            objectsText = try SlipwayJSON.string(objects)
            manifestsText = try SlipwayJSON.string(manifests)
        } catch {
            throw .unavailable("cannot record the deploy of job \(jobID): \(error)")
        }
        _ = try await rows("""
            INSERT INTO deployments (app, job_id, commit_sha, objects, manifests, healthy, created_at)
            VALUES (\(app), \(jobID), \(commit), \(objectsText), \(manifestsText), \(healthy), \(now.timeIntervalSince1970))
            """, "record the deploy of job \(jobID)")
    }

    public func deployments(app: String, healthyOnly: Bool, limit: Int) async throws(StoreError) -> [DeploymentRecord] {
        let found = try await rows("""
            SELECT * FROM deployments WHERE app = \(app) AND (healthy OR NOT \(healthyOnly)) ORDER BY id DESC LIMIT \(Int64(limit))
            """, "read the deploys of \(app)")
        let decoder = JSONDecoder()
        do {
            return try found.map { row in
                DeploymentRecord(
                    app: try row["app"].decode(String.self), jobID: try row["job_id"].decode(Int64.self),
                    commit: try row["commit_sha"].decode(String.self),
                    objects: try decoder.decode(JSONValue.self, from: Data(try row["objects"].decode(String.self).utf8)),
                    manifests: try decoder.decode(JSONValue.self, from: Data(try row["manifests"].decode(String.self).utf8)),
                    healthy: try row["healthy"].decode(Bool.self),
                    createdAt: Date(timeIntervalSince1970: try row["created_at"].decode(Double.self)))
            }
        } catch {
            throw Self.storeError(error, doing: "read the deploys of \(app)")
        }
    }

    public func markBad(app: String, commit: String, jobID: JobID, reason: String, now: Date) async throws(StoreError) {
        _ = try await rows("""
            INSERT INTO bad_commits (app, commit_sha, job_id, reason, created_at)
            VALUES (\(app), \(commit), \(jobID), \(reason), \(now.timeIntervalSince1970))
            ON CONFLICT (app, commit_sha) DO UPDATE SET job_id = EXCLUDED.job_id, reason = EXCLUDED.reason, created_at = EXCLUDED.created_at
            """, "mark commit \(commit.prefix(12)) of \(app) bad")
    }

    public func badCommit(app: String, commit: String) async throws(StoreError) -> BadCommit? {
        let found = try await rows("SELECT job_id, reason FROM bad_commits WHERE app = \(app) AND commit_sha = \(commit)", "read bad commits of \(app)")
        do {
            return try found.first.map { BadCommit(jobID: try $0["job_id"].decode(Int64.self), reason: try $0["reason"].decode(String.self)) }
        } catch {
            throw Self.storeError(error, doing: "read bad commits of \(app)")
        }
    }

    // MARK: Step processes

    public func recordStepProcess(_ process: StepProcess, now: Date) async throws(StoreError) {
        _ = try await rows("""
            INSERT INTO step_processes (job_id, process_group, host, boot_id, started_at)
            VALUES (\(process.jobID), \(process.processGroup), \(process.host), \(process.bootID), \(now.timeIntervalSince1970))
            ON CONFLICT (job_id, process_group) DO UPDATE SET host = EXCLUDED.host, boot_id = EXCLUDED.boot_id, started_at = EXCLUDED.started_at
            """, "record a step process of job \(process.jobID)")
    }

    public func leftoverProcesses(host: String, bootID: String, leaseExpiredAt: Date?) async throws(StoreError) -> [StepProcess] {
        let expired = leaseExpiredAt?.timeIntervalSince1970
        let found = try await rows("""
            SELECT p.job_id, p.process_group FROM step_processes p JOIN jobs j ON j.id = p.job_id
            WHERE j.status = 'running' AND p.host = \(host) AND p.boot_id = \(bootID)
            AND (\(expired)::DOUBLE PRECISION IS NULL OR j.lease_expires_at IS NULL OR j.lease_expires_at < \(expired))
            ORDER BY p.job_id, p.process_group
            """, "read step processes")
        do {
            return try found.map {
                StepProcess(jobID: try $0["job_id"].decode(Int64.self), processGroup: try $0["process_group"].decode(Int32.self), host: host, bootID: bootID)
            }
        } catch {
            throw Self.storeError(error, doing: "read step processes")
        }
    }
}
