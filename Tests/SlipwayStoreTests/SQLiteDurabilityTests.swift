@testable import SlipwayStore
import SlipwayTestSupport
import Testing

/// A delivery is answered after its commit is on disk: the SQLite writer syncs every commit
/// (`synchronous = FULL`), on a new database and on one opened again.
@Suite struct SQLiteDurabilityTests {
    @Test func theWriterSyncsEveryCommit() async throws {
        let directory = try TemporaryDirectory("slipway-store")
        defer { directory.remove() }
        let path = directory.path + "/slipway.sqlite"
        let store = try SQLiteJobStore(path: path)
        #expect(try await store.synchronousMode() == 2)
        await store.close()
        let reopened = try SQLiteJobStore(path: path)
        #expect(try await reopened.synchronousMode() == 2)
        await reopened.close()
    }
}
