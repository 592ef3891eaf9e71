public import Foundation
import Logging
import PostgresNIO
public import SlipwayCore

/// Intake, jobs and their life cycle, as `SQLiteJobStore` does them.
extension PostgresJobStore {
    public func enqueue(push: PushEvent, app: String, now: Date) async throws(StoreError) -> EnqueueResult {
        try await enqueue(IncomingJob(push: push), app: app, now: now)
    }

    public func enqueue(preview: PullRequestEvent, app: String, now: Date) async throws(StoreError) -> EnqueueResult {
        try await enqueue(IncomingJob(preview: preview), app: app, now: now)
    }

    private func enqueue(_ incoming: IncomingJob, app: String, now: Date) async throws(StoreError) -> EnqueueResult {
        try await intake.submit(IntakeEntry(incoming: incoming, app: app, now: now)).get()
    }

    /// A batch of deliveries in one transaction (one commit, and one statement per delivery
    /// instead of a transaction each), each checked against the ones before it in the batch.
    static func enqueueTogether(_ entries: [IntakeEntry], client: PostgresClient, logger: Logger, timeout: Duration) async throws(StoreError)
        -> [EnqueueResult] {
        try await transaction(client: client, logger: logger, timeout: timeout, doing(entries)) { connection in
            try await startIntake(connection, entries, logger: logger)
            var results: [EnqueueResult] = []
            for entry in entries { results.append(try await enqueue(entry, in: connection, logger: logger)) }
            return results
        }
    }

    /// The same batch, each delivery in a savepoint of its own so that it fails alone.
    static func enqueueOneByOne(_ entries: [IntakeEntry], client: PostgresClient, logger: Logger, timeout: Duration) async
        -> [Result<EnqueueResult, StoreError>] {
        do {
            return try await transaction(client: client, logger: logger, timeout: timeout, doing(entries)) { connection in
                try await startIntake(connection, entries, logger: logger)
                var results: [Result<EnqueueResult, StoreError>] = []
                for entry in entries {
                    try await connection.query("SAVEPOINT delivery", logger: logger)
                    do {
                        results.append(.success(try await enqueue(entry, in: connection, logger: logger)))
                        try await connection.query("RELEASE SAVEPOINT delivery", logger: logger)
                    } catch {
                        results.append(.failure(storeError(error, doing: "queue a job for delivery \(entry.incoming.deliveryID)")))
                        try await connection.query("ROLLBACK TO SAVEPOINT delivery", logger: logger)
                    }
                }
                return results
            }
        } catch {
            return entries.map { _ in .failure(error) }
        }
    }

    /// What an intake transaction does, for its errors.
    private static func doing(_ entries: [IntakeEntry]) -> String {
        entries.count == 1 ? "queue a job for delivery \(entries[0].incoming.deliveryID)" : "queue jobs for \(entries.count) deliveries"
    }

    /// Begins an intake transaction. Two replicas that get the same delivery (or the same
    /// revision) take turns at its app locks. Its statement is planned for each delivery's
    /// values: the plan PostgreSQL caches for a prepared statement after five runs was made while
    /// the tables were still small and kept as they grew (it found a revision by reading all of
    /// an app's jobs: 540-590 pushes/s in the intake benchmark instead of 1,370-1,490). Set for
    /// the transaction, not the connection, so a pooler in front of PostgreSQL sees nothing new.
    private static func startIntake(_ connection: PostgresConnection, _ entries: [IntakeEntry], logger: Logger) async throws {
        try await connection.query("SET LOCAL plan_cache_mode = force_custom_plan", logger: logger)
        try await lockApps(connection, entries.map(\.app), logger: logger)
    }

    /// Queues one delivery's job, its app locked by the caller's transaction: one prepared
    /// statement (`PostgresIntakeStatement`), so one round trip per delivery in a batch.
    private static func enqueue(_ entry: IntakeEntry, in connection: PostgresConnection, logger: Logger) async throws -> EnqueueResult {
        var existing: Job?, created: Job?
        var superseded: [Job] = []
        for try await row in try await connection.execute(PostgresIntakeStatement(entry: entry), logger: logger) {
            switch try row["part"].decode(String.self) {
            case "existing": existing = try job(row)
            case "created": created = try job(row)
            default: superseded.append(try job(row))
            }
        }
        if let existing { return .existing(existing) }
        guard let created else { throw StoreError.unavailable("the new job was not returned") }
        return .created(created, superseded: superseded.sorted { $0.id < $1.id })
    }

    /// Supersedes the queued jobs of `app`'s queue `lane` older than `newest`, as a claim does
    /// (a delivery does the same in `PostgresIntakeStatement`); returns them, oldest first, from
    /// the update itself (a queued job has no retry yet, so no `retried_as`).
    static func supersedeQueued(_ connection: PostgresConnection, app: String, lane: String, olderThan newest: JobID, now: Date,
                                logger: Logger) async throws -> [Job] {
        try await rows(connection.query("""
            UPDATE jobs SET status = 'superseded', reason = \("superseded by job \(newest)"), finished_at = \(now.timeIntervalSince1970)
            WHERE app = \(app) AND status = 'queued' AND \(unescaped: StoreSQL.laneKey) = \(lane) AND id < \(newest)
            RETURNING \(unescaped: StoreSQL.jobFields), NULL::bigint AS retried_as
            """, logger: logger)).map(job).sorted { $0.id < $1.id }
    }

    public func recordIgnoredDelivery(app: String, forge: Forge, deliveryID: String, outcome: String, now: Date) async throws(StoreError) {
        _ = try await rows("""
            INSERT INTO deliveries (app, delivery_id, forge, received_at, outcome, job_id)
            VALUES (\(app), \(deliveryID), \(forge.rawValue), \(now.timeIntervalSince1970), \(outcome), NULL)
            ON CONFLICT DO NOTHING
            """, "record delivery \(deliveryID)")
    }

    public func enqueue(app: String, ref: String, commit: String, trigger: JobTrigger, message: String?, now: Date) async throws(StoreError) -> Job {
        let logger = logger
        return try await transaction("queue a \(trigger.rawValue) job for \(app)") { connection in
            try await Self.lockApps(connection, [app], logger: logger)
            let inserted = try await Self.rows(connection.query("""
                INSERT INTO jobs (app, forge, delivery_id, trigger, ref, before_sha, commit_sha, message, status, created_at)
                VALUES (\(app), NULL, NULL, \(trigger.rawValue), \(ref), NULL, \(commit), \(message), 'queued', \(now.timeIntervalSince1970))
                RETURNING id
                """, logger: logger))
            let id = try inserted[0]["id"].decode(Int64.self)
            guard let job = try await Self.fetchJob(connection, id: id, logger: logger) else { throw StoreError.jobNotFound(id) }
            return job
        }
    }

    // MARK: Jobs

    public func job(id: JobID) async throws(StoreError) -> Job? {
        try await jobs("SELECT \(unescaped: StoreSQL.jobColumns) FROM jobs WHERE id = \(id)", "read job \(id)").first
    }

    public func jobs(_ query: JobQuery) async throws(StoreError) -> [Job] {
        var clauses: [String] = []
        var binds = PostgresBindings()
        if let app = query.app { binds.append(app); clauses.append("app = $\(binds.count)") }
        if let status = query.status { binds.append(status.rawValue); clauses.append("status = $\(binds.count)") }
        if query.deploysOnly { clauses.append("trigger <> 'preview'") }
        if let before = query.before { binds.append(before); clauses.append("id < $\(binds.count)") }
        let filter = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        binds.append(max(1, min(query.limit, 500)))
        return try await jobs(PostgresQuery(unsafeSQL: "SELECT \(StoreSQL.jobColumns) FROM jobs \(filter) ORDER BY id DESC LIMIT $\(binds.count)",
                                            binds: binds), "list jobs")
    }

    func jobs(_ query: PostgresQuery, _ doing: String) async throws(StoreError) -> [Job] {
        let found = try await rows(query, doing)
        do { return try found.map(Self.job) } catch { throw Self.storeError(error, doing: doing) }
    }

    public func latestJob(app: String) async throws(StoreError) -> Job? {
        try await jobs("SELECT \(unescaped: StoreSQL.jobColumns) FROM jobs WHERE app = \(app) AND trigger <> 'preview' ORDER BY id DESC LIMIT 1", "read the jobs of \(app)").first
    }

    public func hasJob(app: String, commit: String) async throws(StoreError) -> Bool {
        try await !rows("SELECT 1 FROM jobs WHERE app = \(app) AND commit_sha = \(commit) AND trigger <> 'preview' LIMIT 1", "read the jobs of \(app)").isEmpty
    }

    public func requestCancel(id: JobID, by who: String, now: Date) async throws(StoreError) -> Job? {
        let logger = logger
        return try await transaction("cancel job \(id)") { connection in
            guard let job = try await Self.rows(connection.query(
                "SELECT \(unescaped: StoreSQL.jobColumns) FROM jobs WHERE id = \(id) FOR UPDATE", logger: logger)).first.map(Self.job) else { return nil }
            switch job.status {
            case .queued:
                try await connection.query("""
                    UPDATE jobs SET status = 'cancelled', reason = \("cancelled by \(who) before it started"),
                        finished_at = \(now.timeIntervalSince1970), cancel_requested = TRUE WHERE id = \(id)
                    """, logger: logger)
            case .running:
                try await connection.query("UPDATE jobs SET cancel_requested = TRUE WHERE id = \(id)", logger: logger)
            default:
                break
            }
            return try await Self.fetchJob(connection, id: id, logger: logger)
        }
    }

    public func isCancelRequested(_ id: JobID) async throws(StoreError) -> Bool {
        let found = try await rows("SELECT cancel_requested FROM jobs WHERE id = \(id)", "read job \(id)")
        do { return try found.first?["cancel_requested"].decode(Bool.self) ?? false } catch { throw Self.storeError(error, doing: "read job \(id)") }
    }

    // MARK: Running

    public func queuedJobs() async throws(StoreError) -> [Job] {
        try await jobs("SELECT \(unescaped: StoreSQL.jobColumns) FROM jobs WHERE status = 'queued' ORDER BY id", "read queued jobs")
    }

    public func queueDepth() async throws(StoreError) -> Int {
        let found = try await rows("SELECT COUNT(*) AS queued FROM jobs WHERE status = 'queued'", "count queued jobs")
        do { return Int(try found.first?["queued"].decode(Int64.self) ?? 0) } catch { throw Self.storeError(error, doing: "count queued jobs") }
    }

    public func start(_ id: JobID, now: Date) async throws(StoreError) -> Bool {
        try await !rows("UPDATE jobs SET status = 'running', started_at = \(now.timeIntervalSince1970) WHERE id = \(id) AND status = 'queued' RETURNING id",
                        "start job \(id)").isEmpty
    }

    public func finish(_ id: JobID, status: JobStatus, reason: String?, now: Date) async throws(StoreError) {
        precondition(status.isFinal, "finish needs a final status")
        let logger = logger
        try await transaction("end job \(id)") { connection in
            try await connection.query("""
                UPDATE jobs SET status = \(status.rawValue), reason = \(reason), finished_at = \(now.timeIntervalSince1970)
                WHERE id = \(id) AND status IN ('queued', 'running')
                """, logger: logger)
            try await connection.query("DELETE FROM step_processes WHERE job_id = \(id)", logger: logger)
        }
    }

    public func supersede(_ ids: [JobID], by newer: JobID, now: Date) async throws(StoreError) -> [JobID] {
        guard !ids.isEmpty else { return [] }
        let changed = try await rows("""
            UPDATE jobs SET status = 'superseded', reason = \("superseded by job \(newer)"), finished_at = \(now.timeIntervalSince1970)
            WHERE id = ANY(\(ids)) AND status = 'queued' RETURNING id
            """, "supersede jobs")
        do { return try changed.map { try $0["id"].decode(Int64.self) }.sorted() } catch { throw Self.storeError(error, doing: "supersede jobs") }
    }

    public func recoverInterrupted(maxAttempts: Int, now: Date) async throws(StoreError) -> (interrupted: [JobID], requeued: [Job]) {
        let logger = logger
        return try await transaction("recover interrupted jobs") { connection in
            let running = try await Self.rows(connection.query("SELECT id FROM jobs WHERE status = 'running' ORDER BY id FOR UPDATE", logger: logger))
                .map { try $0["id"].decode(Int64.self) }
            var requeued: [Job] = []
            for id in running {
                if let copy = try await Self.interrupt(connection, id: id, reason: "the server stopped while the job ran",
                                                       maxAttempts: maxAttempts, now: now, logger: logger) {
                    requeued.append(copy)
                }
            }
            return (running, requeued)
        }
    }

    @discardableResult
    public func interrupt(_ id: JobID, reason: String, maxAttempts: Int, now: Date) async throws(StoreError) -> Job? {
        let logger = logger
        return try await transaction("interrupt job \(id)") { connection in
            try await Self.interrupt(connection, id: id, reason: reason, maxAttempts: maxAttempts, now: now, logger: logger)
        }
    }

    static func interrupt(_ connection: PostgresConnection, id: JobID, reason: String, maxAttempts: Int, now: Date,
                                  logger: Logger) async throws -> Job? {
        let attempt = Int(try await rows(connection.query("SELECT attempt FROM jobs WHERE id = \(id) FOR UPDATE", logger: logger))
            .first?["attempt"].decode(Int32.self) ?? 1)
        let again = attempt < maxAttempts
        let ended = again ? "\(reason); queued again as attempt \(attempt + 1)" : "\(reason); no attempts left (\(attempt) of \(maxAttempts))"
        let wasRunning = try await !rows(connection.query("""
            UPDATE jobs SET status = 'interrupted', reason = \(ended), finished_at = \(now.timeIntervalSince1970)
            WHERE id = \(id) AND status = 'running' RETURNING id
            """, logger: logger)).isEmpty
        try await connection.query("""
            UPDATE job_steps SET status = 'cancelled', finished_at = \(now.timeIntervalSince1970) WHERE job_id = \(id) AND status = 'running'
            """, logger: logger)
        try await connection.query("DELETE FROM step_processes WHERE job_id = \(id)", logger: logger)
        guard wasRunning else { return nil }
        var retry: Job?
        if again {
            let inserted = try await rows(connection.query("""
                INSERT INTO jobs (app, forge, delivery_id, trigger, ref, before_sha, commit_sha, message, author, changed_paths,
                                  status, created_at, attempt, retry_of)
                SELECT app, forge, NULL, trigger, ref, before_sha, commit_sha, message, author, changed_paths,
                       'queued', \(now.timeIntervalSince1970), attempt + 1, id FROM jobs WHERE id = \(id)
                RETURNING id
                """, logger: logger))
            retry = try await fetchJob(connection, id: inserted[0]["id"].decode(Int64.self), logger: logger)
        }
        let ending = retry.map { "job interrupted (\(reason)); continued by job \($0.id) as attempt \($0.attempt)" }
            ?? "job interrupted (\(reason)); not run again: no attempts left (\(attempt) of \(maxAttempts))"
        try await appendLog(connection, jobID: id, text: "\(LogLine.timestamp(now)) [slipway] \(ending)\n", now: now, logger: logger)
        return retry
    }
}
