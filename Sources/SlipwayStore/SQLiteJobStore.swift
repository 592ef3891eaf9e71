public import Foundation
import GRDB
public import SlipwayCore

/// The embedded store: one SQLite file (WAL mode, full sync), so a job acknowledged to a forge
/// survives a crash of the process or the machine. For one server process.
public final class SQLiteJobStore: JobStore {
    private let pool: DatabasePool
    /// Queues jobs for deliveries, many per transaction under load.
    private let intake: GroupCommit<IntakeEntry, EnqueueResult>
    public let path: String
    public var location: String { path }

    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    /// - Parameter busyTimeout: how long a write waits for a lock before the store reports
    ///   itself unavailable.
    public init(path: String, busyTimeout: Duration = .seconds(5)) throws(StoreError) {
        self.path = path
        var configuration = GRDB.Configuration()
        configuration.busyMode = .timeout(busyTimeout.seconds)
        do {
            try FileManager.default.createDirectory(
                at: URL(fileURLWithPath: path).deletingLastPathComponent(), withIntermediateDirectories: true)
            pool = try DatabasePool(path: path, configuration: configuration)
            // FULL: a commit is on disk (the WAL synced) before it returns, not only in the OS
            // cache. Set on the writer once the pool is open: GRDB sets NORMAL on it when it
            // turns WAL on, after `prepareDatabase` has run, so a setting made there is undone.
            try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
            try Schema.migrator.migrate(pool)
        } catch {
            throw .unavailable("cannot open \(path): \(error)")
        }
        intake = GroupCommit(together: { [pool] entries async throws(StoreError) in try await Self.enqueueTogether(entries, in: pool) },
                             oneByOne: { [pool] entries in await Self.enqueueOneByOne(entries, in: pool) })
    }

    /// Lets SQLite free its page caches once no access runs (after a large deploy or drift
    /// check read big records): the memory comes back instead of staying with idle connections.
    public func releaseMemory() {
        pool.releaseMemoryEventually()
    }

    /// The writer's `PRAGMA synchronous` (2 is FULL: every commit synced).
    func synchronousMode() async throws -> Int {
        try await pool.write { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }

    /// Whether the database answers a read.
    public func isReady() async -> Bool {
        (try? await pool.read { db in try Int.fetchOne(db, sql: "SELECT 1") }) == 1
    }

    public func close() async {
        try? pool.close()
    }

    // MARK: Queue

    /// Commits a job for `push` unless its delivery id, or the same (app, ref, commit),
    /// already has one. Returns only after the transaction is durable.
    public func enqueue(push: PushEvent, app: String, now: Date) async throws(StoreError) -> EnqueueResult {
        try await enqueue(IncomingJob(push: push), app: app, now: now)
    }

    public func enqueue(preview: PullRequestEvent, app: String, now: Date) async throws(StoreError) -> EnqueueResult {
        try await enqueue(IncomingJob(preview: preview), app: app, now: now)
    }

    private func enqueue(_ incoming: IncomingJob, app: String, now: Date) async throws(StoreError) -> EnqueueResult {
        try await intake.submit(IntakeEntry(incoming: incoming, app: app, now: now)).get()
    }

    /// A batch of deliveries in one transaction, each checked against the ones before it in the
    /// batch.
    private static func enqueueTogether(_ entries: [IntakeEntry], in pool: DatabasePool) async throws(StoreError) -> [EnqueueResult] {
        do {
            return try await pool.write { db in
                var results = try entries.map { entry in try enqueue(entry.incoming, app: entry.app, now: entry.now, in: db, superseding: false) }
                try supersedeForNewest(&results, of: entries, in: db)
                return results
            }
        } catch {
            throw storeError(error)
        }
    }

    /// The same batch, each delivery in a savepoint of its own so that it fails alone (a
    /// savepoint for every delivery of every batch took about a sixth of the intake benchmark's
    /// distinct-commit rate: 8,500 → 10,100 pushes/s, so only a failed batch is written so).
    private static func enqueueOneByOne(_ entries: [IntakeEntry], in pool: DatabasePool) async -> [Result<EnqueueResult, StoreError>] {
        do {
            return try await pool.write { db in
                entries.map { entry in
                    var result: Result<EnqueueResult, StoreError> = .failure(.unavailable("not written"))
                    do {
                        try db.inSavepoint {
                            result = .success(try enqueue(entry.incoming, app: entry.app, now: entry.now, in: db, superseding: true))
                            return .commit
                        }
                    } catch {
                        result = .failure(storeError(error))
                    }
                    return result
                }
            }
        } catch {
            return entries.map { _ in .failure(storeError(error)) }
        }
    }

    /// A batch's new jobs supersede the older queued jobs of their queue once, for the newest
    /// job of each queue, not once per delivery: the batch's other new jobs of that queue are
    /// among those it supersedes (a backlog redelivered, pushes in quick succession). Reading
    /// and updating the queue for every delivery was a tenth of the server's CPU at full
    /// intake with distinct commits.
    private static func supersedeForNewest(_ results: inout [EnqueueResult], of entries: [IntakeEntry], in db: Database) throws {
        struct Queue: Hashable { var app: String, lane: String }
        var newest: [Queue: Int] = [:]
        for (index, result) in results.enumerated() {
            if case .created = result { newest[Queue(app: entries[index].app, lane: entries[index].incoming.lane)] = index }
        }
        for (queue, index) in newest {
            guard case .created(let job, _) = results[index] else { continue }
            results[index] = .created(job, superseded: try supersedeQueued(db, app: queue.app, lane: queue.lane, olderThan: job.id, now: entries[index].now))
        }
    }

    private static func enqueue(_ incoming: IncomingJob, app: String, now: Date, in db: Database, superseding: Bool) throws -> EnqueueResult {
        // Cached statements: compiling one runs GRDB's authorizer over every column it reads
        // (12 % of the server's CPU at full intake before), preparing a cached one does not.
        if let jobID = try Int64.fetchOne(db.cachedStatement(sql: "SELECT job_id FROM deliveries WHERE app = ? AND delivery_id = ?"),
                                          arguments: [app, incoming.deliveryID]),
           let job = try fetchJob(db, id: jobID) {
            return .existing(job)
        }
        if let row = try Row.fetchOne(db.cachedStatement(sql: """
            SELECT \(StoreSQL.jobColumns) FROM jobs WHERE app = ? AND ref = ? AND commit_sha = ? AND trigger IN (?, ?)
            ORDER BY id DESC LIMIT 1
            """), arguments: [app, incoming.ref, incoming.commit, incoming.sameRevision.0, incoming.sameRevision.1]) {
            let job = try job(from: row)
            try recordDelivery(db, app: app, incoming: incoming, outcome: "duplicate", jobID: job.id, now: now)
            return .existing(job)
        }
        // Only the id is read: the rest of the row is what was just written, and decoding a
        // whole row (GRDB's column-name index, a generic decode per column) was 3 % of the
        // server's CPU at full intake. The id is the new row id, not a `RETURNING` (for which
        // SQLite builds a temporary table each time).
        try db.cachedStatement(sql: """
            INSERT INTO jobs (app, forge, delivery_id, trigger, ref, before_sha, commit_sha, message, author, changed_paths, status, created_at,
                              pull_request, from_fork)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [app, incoming.forge.rawValue, incoming.deliveryID, incoming.trigger.rawValue, incoming.ref, incoming.before,
                                     incoming.commit, incoming.message, incoming.author, try incoming.changedPathsJSON(), JobStatus.queued.rawValue,
                                     now.timeIntervalSince1970, incoming.pullRequest, incoming.fromFork])
        let job = incoming.queuedJob(id: db.lastInsertedRowID, app: app, now: now)
        try recordDelivery(db, app: app, incoming: incoming, outcome: "queued", jobID: job.id, now: now)
        // The queued job of its queue is superseded now, not when the runner next claims: a
        // flood of pushes while a long job runs leaves one queued job, not a backlog that one
        // claim would have to supersede in a single long transaction. (In a batch written
        // together, once per queue by its newest job: `supersedeForNewest`.)
        return .created(job, superseded: superseding ? try supersedeQueued(db, app: app, lane: incoming.lane, olderThan: job.id, now: now) : [])
    }

    /// Supersedes the queued jobs of `app`'s queue `lane` older than `newest`, as a delivery or
    /// a claim does, and returns them, oldest first (a queued job has no retry yet, so no
    /// `retried_as`).
    ///
    /// Read, then updated with the same condition, in the caller's transaction: an
    /// `UPDATE … RETURNING` makes SQLite build a temporary table (and its page cache) for every
    /// delivery, and GRDB copies each returned row; read through a cursor, no row is copied.
    static func supersedeQueued(_ db: Database, app: String, lane: String, olderThan newest: JobID, now: Date) throws -> [Job] {
        let condition = "app = ? AND status = 'queued' AND \(StoreSQL.laneKey) = ? AND id < ?"
        let reason = "superseded by job \(newest)"
        let jobs = try Array(Row.fetchCursor(db.cachedStatement(sql: """
            SELECT \(StoreSQL.jobFields), NULL AS retried_as FROM jobs WHERE \(condition) ORDER BY id
            """), arguments: [app, lane, newest]).map { row in
            var job = try job(from: row)
            job.status = .superseded
            job.reason = reason
            job.finishedAt = Date(timeIntervalSince1970: now.timeIntervalSince1970)  // as stored
            return job
        })
        guard !jobs.isEmpty else { return [] }
        try db.cachedStatement(sql: "UPDATE jobs SET status = 'superseded', reason = ?, finished_at = ? WHERE \(condition)")
            .execute(arguments: [reason, now.timeIntervalSince1970, app, lane, newest])
        return jobs
    }

    /// Remembers a verified delivery that created no job (ping, other branch, other event).
    public func recordIgnoredDelivery(app: String, forge: Forge, deliveryID: String, outcome: String, now: Date) async throws(StoreError) {
        try await write { db in
            try db.execute(sql: """
                INSERT OR IGNORE INTO deliveries (app, delivery_id, forge, received_at, outcome, job_id) VALUES (?, ?, ?, ?, ?, NULL)
                """, arguments: [app, deliveryID, forge.rawValue, now.timeIntervalSince1970, outcome])
        }
    }

    private static func recordDelivery(_ db: Database, app: String, incoming: IncomingJob, outcome: String, jobID: Int64, now: Date) throws {
        try db.cachedStatement(sql: """
            INSERT OR REPLACE INTO deliveries (app, delivery_id, forge, received_at, outcome, job_id) VALUES (?, ?, ?, ?, ?, ?)
            """).execute(arguments: [app, incoming.deliveryID, incoming.forge.rawValue, now.timeIntervalSince1970, outcome, jobID])
    }

    // MARK: Jobs

    public func job(id: JobID) async throws(StoreError) -> Job? {
        try await read { db in try Self.fetchJob(db, id: id) }
    }

    public func jobs(_ query: JobQuery) async throws(StoreError) -> [Job] {
        try await read { db in
            var clauses: [String] = []
            var arguments: StatementArguments = []
            if let app = query.app { clauses.append("app = ?"); arguments += [app] }
            if let status = query.status { clauses.append("status = ?"); arguments += [status.rawValue] }
            if query.deploysOnly { clauses.append("trigger <> 'preview'") }
            if let before = query.before { clauses.append("id < ?"); arguments += [before] }
            let filter = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
            arguments += [max(1, min(query.limit, 500))]
            return try Row.fetchAll(db, sql: "SELECT \(StoreSQL.jobColumns) FROM jobs \(filter) ORDER BY id DESC LIMIT ?", arguments: arguments)
                .map(Self.job(from:))
        }
    }

    /// Cancels a queued job at once; a running job is flagged for its runner to stop.
    /// Returns the job as it now is, or nil when there is no such job.
    public func requestCancel(id: JobID, by who: String, now: Date) async throws(StoreError) -> Job? {
        try await write { db in
            guard let job = try Self.fetchJob(db, id: id) else { return nil }
            switch job.status {
            case .queued:
                try db.execute(sql: "UPDATE jobs SET status = ?, reason = ?, finished_at = ?, cancel_requested = 1 WHERE id = ?",
                               arguments: [JobStatus.cancelled.rawValue, "cancelled by \(who) before it started", now.timeIntervalSince1970, id])
            case .running:
                try db.execute(sql: "UPDATE jobs SET cancel_requested = 1 WHERE id = ?", arguments: [id])
            default:
                break
            }
            return try Self.fetchJob(db, id: id)
        }
    }

    // MARK: Logs

    /// Appends `text` to a job's log as the next chunk.
    public func appendLog(jobID: JobID, text: String, now: Date) async throws(StoreError) {
        try await write { db in
            guard try String.fetchOne(db, sql: "SELECT status FROM jobs WHERE id = ?", arguments: [jobID]) == JobStatus.running.rawValue else {
                throw StoreError.notRunning(jobID)
            }
            try Self.appendLog(db, jobID: jobID, text: text, now: now)
        }
    }

    static func appendLog(_ db: Database, jobID: JobID, text: String, now: Date) throws {
        let next = try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(seq), 0) + 1 FROM log_chunks WHERE job_id = ?", arguments: [jobID]) ?? 1
        try db.execute(sql: "INSERT INTO log_chunks (job_id, seq, created_at, text) VALUES (?, ?, ?, ?)",
                       arguments: [jobID, next, now.timeIntervalSince1970, text])
    }

    /// The chunks of a job's log after `seq` (0 for all), in order.
    public func logChunks(jobID: JobID, after seq: Int64, limit: Int) async throws(StoreError) -> [LogChunk] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT seq, text FROM log_chunks WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                             arguments: [jobID, seq, limit])
                .map { LogChunk(jobID: jobID, seq: $0["seq"], text: $0["text"]) }
        }
    }

    // MARK: Plumbing

    /// A read that suspends instead of blocking the calling thread.
    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(StoreError) -> T {
        do { return try await pool.read(body) } catch { throw Self.storeError(error) }
    }

    /// A write that suspends instead of blocking the calling thread while it waits for the
    /// lock and the disk: what request handlers use, so a locked database cannot stall the
    /// server's few threads.
    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(StoreError) -> T {
        do { return try await pool.write(body) } catch { throw Self.storeError(error) }
    }

    static func storeError(_ error: any Error) -> StoreError {
        if let error = error as? StoreError { return error }
        if let error = error as? DatabaseError { return .unavailable(error.message ?? "\(error.resultCode)") }
        return .unavailable("\(error)")
    }

    static func fetchJob(_ db: Database, id: JobID) throws -> Job? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT \(StoreSQL.jobColumns) FROM jobs WHERE id = ?"), arguments: [id]).map(job(from:))
    }

    /// A row of `StoreSQL.jobColumns` (or `jobFields` and a `retried_as`), read by position.
    static func job(from row: Row) throws -> Job {
        func date(_ index: Int) -> Date? {
            (row[index] as Double?).map { Date(timeIntervalSince1970: $0) }
        }
        let statusText: String = row[10]
        let triggerText: String = row[4]
        guard let status = JobStatus(rawValue: statusText), let trigger = JobTrigger(rawValue: triggerText) else {
            throw StoreError.unavailable("job \(row[0] as Int64) has an unknown status '\(statusText)' or trigger '\(triggerText)'")
        }
        return Job(
            id: row[0], app: row[1], forge: (row[2] as String?).flatMap(Forge.init(rawValue:)),
            deliveryID: row[3], trigger: trigger, ref: row[5], before: row[6],
            commit: row[7], message: row[8], author: row[9], status: status,
            reason: row[11], createdAt: date(12) ?? Date(timeIntervalSince1970: 0),
            startedAt: date(13), finishedAt: date(14),
            attempt: row[15] ?? 1, retryOf: row[16], retriedAs: row[19],
            pullRequest: row[17], fromFork: row[18] ?? false
        )
    }
}
