public import Foundation
import GRDB
import Logging
import PostgresNIO
public import SlipwayStore

/// The two store implementations, for the suite that runs against both.
public enum StoreKind: String, Sendable, CaseIterable, CustomStringConvertible {
    case sqlite
    case postgres

    public var description: String { rawValue }

    /// The server of the throwaway PostgreSQL cluster `script/with-postgres` started.
    public static var postgresURL: String? { ProcessInfo.processInfo.environment["SLIPWAY_TEST_POSTGRES_URL"] }

    /// The kinds to test here: PostgreSQL when a test cluster is there (script/test starts
    /// one), and always in CI, where its absence must fail rather than pass unnoticed.
    public static var available: [StoreKind] {
        postgresURL != nil || ProcessInfo.processInfo.environment["CI"] != nil ? allCases : [.sqlite]
    }
}

/// A fresh, empty store of one kind: a SQLite file in a temporary folder, or a new database
/// in the test cluster. `open()` opens it (again), as a restarted server or another replica would.
public final class StoreUnderTest: Sendable {
    public let kind: StoreKind
    /// The SQLite file, or the database URL.
    public let location: String
    private let directory: TemporaryDirectory?

    public init(_ kind: StoreKind) async throws {
        self.kind = kind
        switch kind {
        case .sqlite:
            let directory = try TemporaryDirectory("slipway-store")
            self.directory = directory
            location = directory.path + "/slipway.sqlite"
        case .postgres:
            directory = nil
            location = try await Self.createDatabase()
        }
    }

    /// Store tests are about what is stored, not how fast: a machine busy with the rest of
    /// the suite gets 30 s before a lock wait counts as the store being unavailable.
    public func open() async throws -> any JobStore {
        switch kind {
        case .sqlite: try SQLiteJobStore(path: location, busyTimeout: .seconds(30))
        case .postgres: try await PostgresJobStore(url: location, pool: 10, timeout: .seconds(30))
        }
    }

    /// Removes the SQLite folder (a test database is left to the throwaway cluster).
    public func remove() {
        directory?.remove()
    }

    /// Makes the PostgreSQL database refuse connections (and drops the open ones), or take
    /// them again: the database going away under a running server.
    public func setReachable(_ reachable: Bool) async throws {
        guard kind == .postgres, let name = URLComponents(string: location)?.path.dropFirst() else { return }
        try await Self.administer(reachable
            ? ["ALTER DATABASE \(name) ALLOW_CONNECTIONS true"]
            : ["ALTER DATABASE \(name) ALLOW_CONNECTIONS false",
               "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(name)'"])
    }

    /// Runs a statement on the store's own database (behind the store's back): `sqlite` on a
    /// SQLite store, `postgres` on a PostgreSQL one.
    public func execute(sqlite: String, postgres: String) async throws {
        switch kind {
        case .sqlite:
            let queue = try DatabaseQueue(path: location)
            try await queue.write { db in try db.execute(sql: sqlite) }
            try queue.close()
        case .postgres:
            guard let name = URLComponents(string: location)?.path.dropFirst() else { return }
            try await Self.administer([postgres], in: String(name))
        }
    }

    /// Creates `slipway_test_<random>` in the test cluster and returns its URL.
    static func createDatabase() async throws -> String {
        guard let server = StoreKind.postgresURL, var parts = URLComponents(string: server) else {
            throw StoreTestSetupError("SLIPWAY_TEST_POSTGRES_URL is not set: run the suite with script/test (or script/with-postgres swift test)")
        }
        let name = "slipway_test_\(UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: ""))"
        try await administer(["CREATE DATABASE \(name)"])
        parts.path = "/" + name
        parts.query = "sslmode=disable"
        return parts.string ?? server
    }

    /// Runs statements as the cluster's superuser, in its maintenance database or `database`.
    static func administer(_ statements: [String], in database: String? = nil) async throws {
        guard let server = StoreKind.postgresURL, let parts = URLComponents(string: server) else {
            throw StoreTestSetupError("SLIPWAY_TEST_POSTGRES_URL is not set: run the suite with script/test (or script/with-postgres swift test)")
        }
        let configuration = PostgresConnection.Configuration(host: parts.host ?? "127.0.0.1", port: parts.port ?? 5432,
                                                             username: parts.user ?? "slipway", password: parts.password,
                                                             database: database ?? String(parts.path.dropFirst()), tls: .disable)
        let logger = Logger(label: "slipway-test-postgres")
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
        do {
            for statement in statements { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
            try await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
    }
}

public struct StoreTestSetupError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
