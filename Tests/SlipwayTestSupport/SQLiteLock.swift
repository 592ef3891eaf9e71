import GRDB

/// Holds the write lock of a SQLite database from a second connection, as another process
/// (a backup tool, an operator's sqlite3 shell) might, until `release()`.
public final class SQLiteLock: Sendable {
    private let queue: DatabaseQueue

    public init(path: String) throws {
        var configuration = Configuration()
        // The point is to leave the transaction open after this call returns.
        configuration.allowsUnsafeTransactions = true
        queue = try DatabaseQueue(path: path, configuration: configuration)
        try queue.writeWithoutTransaction { db in try db.execute(sql: "BEGIN IMMEDIATE") }
    }

    public func release() {
        try? queue.writeWithoutTransaction { db in try db.execute(sql: "ROLLBACK") }
    }
}
