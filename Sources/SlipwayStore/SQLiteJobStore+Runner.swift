public import Foundation
import GRDB
public import SlipwayCore

/// The job life cycle as the runner drives it.
extension SQLiteJobStore {
    /// Queues a job that no webhook announced (a manual sync, a poll, a self-heal): never
    /// merged with an existing job of the same commit.
    public func enqueue(app: String, ref: String, commit: String, trigger: JobTrigger, message: String?, now: Date) async throws(StoreError) -> Job {
        try await write { db in
            try db.execute(sql: """
                INSERT INTO jobs (app, forge, delivery_id, trigger, ref, before_sha, commit_sha, message, status, created_at)
                VALUES (?, NULL, NULL, ?, ?, NULL, ?, ?, 'queued', ?)
                """, arguments: [app, trigger.rawValue, ref, commit, message, now.timeIntervalSince1970])
            guard let job = try Self.fetchJob(db, id: db.lastInsertedRowID) else { throw StoreError.jobNotFound(db.lastInsertedRowID) }
            return job
        }
    }

    /// The newest job of an app, whatever its trigger.
    public func latestJob(app: String) async throws(StoreError) -> Job? {
        try await read { db in try Row.fetchOne(db, sql: "SELECT \(StoreSQL.jobColumns) FROM jobs WHERE app = ? AND trigger <> 'preview' ORDER BY id DESC LIMIT 1", arguments: [app]).map(Self.job(from:)) }
    }

    /// Whether any job of the app that deploys is (or was) for this commit.
    public func hasJob(app: String, commit: String) async throws(StoreError) -> Bool {
        try await read { db in try Bool.fetchOne(db, sql: "SELECT EXISTS(SELECT 1 FROM jobs WHERE app = ? AND commit_sha = ? AND trigger <> 'preview')", arguments: [app, commit]) ?? false }
    }

    /// Every queued job, oldest first: the scheduler's starting point.
    public func queuedJobs() async throws(StoreError) -> [Job] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT \(StoreSQL.jobColumns) FROM jobs WHERE status = 'queued' ORDER BY id").map(Self.job(from:))
        }
    }

    public func queueDepth() async throws(StoreError) -> Int {
        try await read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM jobs WHERE status = 'queued'") ?? 0 }
    }

    /// Marks a queued job running. Returns false when it is no longer queued (cancelled meanwhile).
    public func start(_ id: JobID, now: Date) async throws(StoreError) -> Bool {
        try await write { db in
            try db.execute(sql: "UPDATE jobs SET status = 'running', started_at = ? WHERE id = ? AND status = 'queued'",
                           arguments: [now.timeIntervalSince1970, id])
            return db.changesCount == 1
        }
    }

    /// Ends a job with a final status and the reason a user reads.
    public func finish(_ id: JobID, status: JobStatus, reason: String?, now: Date) async throws(StoreError) {
        precondition(status.isFinal, "finish needs a final status")
        try await write { db in
            try db.execute(sql: "UPDATE jobs SET status = ?, reason = ?, finished_at = ? WHERE id = ? AND status IN ('queued', 'running')",
                           arguments: [status.rawValue, reason, now.timeIntervalSince1970, id])
            try db.execute(sql: "DELETE FROM step_processes WHERE job_id = ?", arguments: [id])
        }
    }

    /// Marks queued jobs as superseded by a newer one; returns the ids that changed.
    public func supersede(_ ids: [JobID], by newer: JobID, now: Date) async throws(StoreError) -> [JobID] {
        guard !ids.isEmpty else { return [] }
        return try await write { db in
            var changed: [JobID] = []
            for id in ids {
                try db.execute(sql: "UPDATE jobs SET status = 'superseded', reason = ?, finished_at = ? WHERE id = ? AND status = 'queued'",
                               arguments: ["superseded by job \(newer)", now.timeIntervalSince1970, id])
                if db.changesCount == 1 { changed.append(id) }
            }
            return changed
        }
    }

    public func isCancelRequested(_ id: JobID) async throws(StoreError) -> Bool {
        try await read { db in try Bool.fetchOne(db, sql: "SELECT cancel_requested FROM jobs WHERE id = ?", arguments: [id]) ?? false }
    }

    /// At start-up: jobs left `running` by a process that died become `interrupted`, and each is
    /// queued again as a new attempt while it has attempts left. Returns the new jobs.
    public func recoverInterrupted(maxAttempts: Int, now: Date) async throws(StoreError) -> (interrupted: [JobID], requeued: [Job]) {
        try await write { db in
            let running = try Int64.fetchAll(db, sql: "SELECT id FROM jobs WHERE status = 'running' ORDER BY id")
            var requeued: [Job] = []
            for id in running {
                if let copy = try Self.interrupt(db, id: id, reason: "the server stopped while the job ran", maxAttempts: maxAttempts, now: now) {
                    requeued.append(copy)
                }
            }
            return (running, requeued)
        }
    }

    /// Ends a running job as `interrupted` and queues it again as a new attempt while it has
    /// attempts left.
    @discardableResult
    public func interrupt(_ id: JobID, reason: String, maxAttempts: Int, now: Date) async throws(StoreError) -> Job? {
        try await write { db in try Self.interrupt(db, id: id, reason: reason, maxAttempts: maxAttempts, now: now) }
    }

    static func interrupt(_ db: Database, id: JobID, reason: String, maxAttempts: Int, now: Date) throws -> Job? {
        let attempt = try Int.fetchOne(db, sql: "SELECT attempt FROM jobs WHERE id = ?", arguments: [id]) ?? 1
        let again = attempt < maxAttempts
        try db.execute(sql: "UPDATE jobs SET status = 'interrupted', reason = ?, finished_at = ? WHERE id = ? AND status = 'running'",
                       arguments: [again ? "\(reason); queued again as attempt \(attempt + 1)" : "\(reason); no attempts left (\(attempt) of \(maxAttempts))",
                                   now.timeIntervalSince1970, id])
        let wasRunning = db.changesCount == 1
        try db.execute(sql: "UPDATE job_steps SET status = 'cancelled', finished_at = ? WHERE job_id = ? AND status = 'running'",
                       arguments: [now.timeIntervalSince1970, id])
        try db.execute(sql: "DELETE FROM step_processes WHERE job_id = ?", arguments: [id])
        guard wasRunning else { return nil }
        var retry: Job?
        if again {
            try db.execute(sql: """
                INSERT INTO jobs (app, forge, delivery_id, trigger, ref, before_sha, commit_sha, message, author, changed_paths,
                                  status, created_at, attempt, retry_of)
                SELECT app, forge, NULL, trigger, ref, before_sha, commit_sha, message, author, changed_paths,
                       'queued', ?, attempt + 1, id FROM jobs WHERE id = ?
                """, arguments: [now.timeIntervalSince1970, id])
            retry = try fetchJob(db, id: db.lastInsertedRowID)
        }
        // The log says how it ended and where it goes on, as its last line.
        let ending = retry.map { "job interrupted (\(reason)); continued by job \($0.id) as attempt \($0.attempt)" }
            ?? "job interrupted (\(reason)); not run again: no attempts left (\(attempt) of \(maxAttempts))"
        try appendLog(db, jobID: id, text: "\(LogLine.timestamp(now)) [slipway] \(ending)\n", now: now)
        return retry
    }

    // MARK: Steps

    /// Records the steps a job is going to run, all `pending`, in order.
    public func planSteps(_ id: JobID, steps: [StepPlan]) async throws(StoreError) {
        try await write { db in
            try db.execute(sql: "DELETE FROM job_steps WHERE job_id = ?", arguments: [id])
            for (index, step) in steps.enumerated() {
                try db.execute(sql: "INSERT INTO job_steps (job_id, seq, stage, name, status) VALUES (?, ?, ?, ?, 'pending')",
                               arguments: [id, index, step.stage, step.name])
            }
        }
    }

    /// Updates one step's status (and start, end, exit code when given).
    public func updateStep(_ id: JobID, index: Int, status: StepStatus, exitCode: Int?, message: String?, now: Date) async throws(StoreError) {
        try await write { db in
            switch status {
            case .running:
                try db.execute(sql: "UPDATE job_steps SET status = ?, started_at = ? WHERE job_id = ? AND seq = ? AND \(StoreSQL.stepWhileRunning)",
                               arguments: [status.rawValue, now.timeIntervalSince1970, id, index])
            case .pending, .skipped:
                try db.execute(sql: "UPDATE job_steps SET status = ? WHERE job_id = ? AND seq = ? AND \(StoreSQL.stepWhileRunning)", arguments: [status.rawValue, id, index])
            default:
                try db.execute(sql: "UPDATE job_steps SET status = ?, finished_at = ?, exit_code = ?, message = ? WHERE job_id = ? AND seq = ? AND \(StoreSQL.stepWhileRunning)",
                               arguments: [status.rawValue, now.timeIntervalSince1970, exitCode, message, id, index])
            }
        }
    }

    public func steps(_ id: JobID) async throws(StoreError) -> [StepRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM job_steps WHERE job_id = ? ORDER BY seq", arguments: [id]).map { row in
                StepRecord(stage: row["stage"], name: row["name"], status: StepStatus(rawValue: row["status"]) ?? .pending,
                           startedAt: (row["started_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
                           finishedAt: (row["finished_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
                           exitCode: row["exit_code"], message: row["message"])
            }
        }
    }
}
