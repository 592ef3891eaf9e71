public import Foundation
public import Logging
import NIOSSL
import PostgresNIO
public import SlipwayCore

/// The shared store of several replicas: one PostgreSQL database. Same behaviour as
/// `SQLiteJobStore` (one test suite runs against both); where replicas could race (the same
/// delivery at two replicas, an app's jobs), a transaction-scoped advisory lock per app or a
/// row lock per job serializes them, and unique constraints stand behind that.
public final class PostgresJobStore: JobStore {
    let client: PostgresClient
    private let running: Task<Void, Never>
    let logger: Logger
    public let location: String
    /// How long a call waits for the database before the store reports itself unavailable
    /// (the pool would otherwise wait for a connection as long as the database is away).
    let timeout: Duration
    /// Queues jobs for deliveries, many per transaction under load.
    let intake: GroupCommit<IntakeEntry, EnqueueResult>

    /// Connects (up to `pool` connections) and brings the schema up to date.
    /// - Parameter url: `postgres://user:password@host:port/database?sslmode=disable|prefer|require`.
    public init(url: String, pool: Int = 10, timeout: Duration = .seconds(5), logger: Logger = PostgresJobStore.quietLogger) async throws(StoreError) {
        self.timeout = timeout
        let target = try PostgresURL(url)
        var configuration = PostgresClient.Configuration(host: target.host, port: target.port, username: target.user,
                                                         password: target.password, database: target.database, tls: .disable)
        switch target.sslMode {
        case "disable": configuration.tls = .disable
        case "require", "verify-ca", "verify-full": configuration.tls = .require(.makeClientConfiguration())
        default: configuration.tls = .prefer(.makeClientConfiguration())
        }
        configuration.options.maximumConnections = max(2, pool)
        configuration.options.connectTimeout = .seconds(5)
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        self.logger = logger
        intake = GroupCommit(
            together: { entries async throws(StoreError) in try await Self.enqueueTogether(entries, client: client, logger: logger, timeout: timeout) },
            oneByOne: { entries in await Self.enqueueOneByOne(entries, client: client, logger: logger, timeout: timeout) })
        location = target.redacted
        running = Task { await client.run() }
        do {
            // Starting is not a request: a busy database (replicas starting together) gets a minute.
            try await Self.within(max(timeout, .seconds(60)), "prepare the schema in \(target.redacted)") {
                try await PostgresSchema.migrate(client, logger: logger)
            }
        } catch {
            running.cancel()
            throw Self.storeError(error, doing: "prepare the schema in \(target.redacted)")
        }
    }

    deinit {
        running.cancel()
    }

    /// The pool's own messages (a connection closed at shutdown, say) only when they are warnings.
    public static var quietLogger: Logger {
        var logger = Logger(label: "slipway-store")
        logger.logLevel = .warning
        return logger
    }

    public func close() async {
        running.cancel()
    }

    public func isReady() async -> Bool {
        do {
            return try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask { [client] in
                    for try await value in try await client.query("SELECT 1").decode(Int.self) { return value == 1 }
                    return false
                }
                // A database that does not answer is not ready, however long the pool would wait.
                group.addTask { try await Task.sleep(for: .seconds(2)); return false }
                let first = try await group.next() ?? false
                group.cancelAll()
                return first
            }
        } catch {
            return false
        }
    }

    public func releaseMemory() {}

    // MARK: Plumbing

    /// Runs `body`, or gives up after `timeout` (the call itself ends when the pool does). The answer comes at the
    /// deadline even when `body` does not stop at once: a task group would wait for it.
    static func within<T: Sendable>(_ timeout: Duration, _ doing: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let outcome = FirstOutcome<T>()
        return try await withCheckedThrowingContinuation { continuation in
            let timer = Task {
                guard (try? await Task.sleep(for: timeout)) != nil else { return }
                let failure = StoreError.unavailable("cannot \(doing): the database did not answer within \(timeout)")
                await outcome.settle(continuation, with: .failure(failure))
            }
            Task {
                let result: Result<T, any Error>
                do { result = .success(try await body()) } catch { result = .failure(error) }
                timer.cancel()
                await outcome.settle(continuation, with: result)
            }
        }
    }

    /// Runs `body` in a transaction; a failure rolls it back.
    func transaction<T: Sendable>(_ doing: String, _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws(StoreError) -> T {
        try await Self.transaction(client: client, logger: logger, timeout: timeout, doing, body)
    }

    /// `transaction(_:_:)` for what runs before the store exists (its group commit).
    static func transaction<T: Sendable>(client: PostgresClient, logger: Logger, timeout: Duration, _ doing: String,
                                         _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws(StoreError) -> T {
        do {
            return try await Self.within(timeout, doing) {
                try await client.withTransaction(logger: logger) { connection in try await body(connection) }
            }
        } catch let error as StoreError {
            throw error
        } catch let error as PostgresTransactionError {
            throw Self.storeError(error.closureError ?? error.commitError ?? error.beginError ?? error, doing: doing)
        } catch {
            throw Self.storeError(error, doing: doing)
        }
    }

    /// Runs one statement outside a transaction and gives back its rows.
    func rows(_ query: PostgresQuery, _ doing: String) async throws(StoreError) -> [PostgresRandomAccessRow] {
        let client = client, logger = logger
        do {
            return try await Self.within(timeout, doing) { try await Self.rows(client.query(query, logger: logger)) }
        } catch {
            throw Self.storeError(error, doing: doing)
        }
    }

    static func rows(_ sequence: PostgresRowSequence) async throws -> [PostgresRandomAccessRow] {
        var rows: [PostgresRandomAccessRow] = []
        for try await row in sequence { rows.append(row.makeRandomAccess()) }
        return rows
    }

    static func storeError(_ error: any Error, doing: String) -> StoreError {
        if let error = error as? StoreError { return error }
        if let error = error as? PSQLError {
            let message = error.serverInfo?[.message] ?? "\(error.code)"
            return .unavailable("cannot \(doing): \(message)")
        }
        return .unavailable("cannot \(doing): \(error)")
    }

    static func job(_ row: PostgresRandomAccessRow) throws -> Job {
        func date(_ column: String) throws -> Date? {
            try row[column].decode(Double?.self).map { Date(timeIntervalSince1970: $0) }
        }
        let statusText = try row["status"].decode(String.self)
        let triggerText = try row["trigger"].decode(String.self)
        let id = try row["id"].decode(Int64.self)
        guard let status = JobStatus(rawValue: statusText), let trigger = JobTrigger(rawValue: triggerText) else {
            throw StoreError.unavailable("job \(id) has an unknown status '\(statusText)' or trigger '\(triggerText)'")
        }
        return Job(
            id: id, app: try row["app"].decode(String.self), forge: try row["forge"].decode(String?.self).flatMap(Forge.init(rawValue:)),
            deliveryID: try row["delivery_id"].decode(String?.self), trigger: trigger, ref: try row["ref"].decode(String.self),
            before: try row["before_sha"].decode(String?.self), commit: try row["commit_sha"].decode(String.self),
            message: try row["message"].decode(String?.self), author: try row["author"].decode(String?.self), status: status,
            reason: try row["reason"].decode(String?.self), createdAt: try date("created_at") ?? Date(timeIntervalSince1970: 0),
            startedAt: try date("started_at"), finishedAt: try date("finished_at"),
            attempt: Int(try row["attempt"].decode(Int32.self)), retryOf: try row["retry_of"].decode(Int64?.self),
            retriedAs: try row["retried_as"].decode(Int64?.self),
            pullRequest: try row["pull_request"].decode(Int64?.self).map(Int.init), fromFork: try row["from_fork"].decode(Bool.self))
    }

    static func fetchJob(_ connection: PostgresConnection, id: JobID, logger: Logger) async throws -> Job? {
        try await rows(connection.query("SELECT \(unescaped: StoreSQL.jobColumns) FROM jobs WHERE id = \(id)", logger: logger)).first.map(job)
    }

    /// Serializes the transactions that touch these apps' queues, across replicas. The locks are
    /// taken in the order of their keys: two replicas' batches that share apps wait for each
    /// other, never in a cycle.
    static func lockApps(_ connection: PostgresConnection, _ apps: [String], logger: Logger) async throws {
        try await connection.query("""
            SELECT pg_advisory_xact_lock(1, key) FROM (SELECT DISTINCT hashtext(app) AS key FROM unnest(\(apps)::text[]) AS app ORDER BY key) AS keys
            """, logger: logger)
    }
}

/// The parts of a `postgres://` URL.
struct PostgresURL {
    var user: String
    var password: String?
    var host: String
    var port: Int
    var database: String
    var sslMode: String

    init(_ text: String) throws(StoreError) {
        guard let parts = URLComponents(string: text), ["postgres", "postgresql"].contains(parts.scheme ?? ""),
              let host = parts.host, !host.isEmpty else {
            throw .unavailable("store.postgres.url must look like postgres://user:password@host:5432/database")
        }
        user = parts.user.flatMap { $0.removingPercentEncoding } ?? "postgres"
        password = parts.password.flatMap { $0.removingPercentEncoding }
        self.host = host
        port = parts.port ?? 5432
        let path = parts.path.hasPrefix("/") ? String(parts.path.dropFirst()) : parts.path
        database = path.isEmpty ? user : path
        sslMode = parts.queryItems?.first { $0.name == "sslmode" }?.value ?? "prefer"
    }

    /// The URL without its password, for logs and errors.
    var redacted: String { "postgres://\(user)@\(host):\(port)/\(database)" }
}

/// Resumes a continuation with whichever outcome comes first.
actor FirstOutcome<T: Sendable> {
    private var settled = false

    /// True when this outcome was the first.
    @discardableResult
    func settle(_ continuation: CheckedContinuation<T, any Error>, with result: Result<T, any Error>) -> Bool {
        guard !settled else { return false }
        settled = true
        continuation.resume(with: result)
        return true
    }
}
