import Foundation
import SlipwayClient
import SlipwayCore
import SlipwayStore
import SlipwayTestSupport
import Testing

/// The whole server on PostgreSQL: a push runs, and the database going away is a 503 with
/// Retry-After, not a hang or a lost job.
@Suite(.enabled(if: StoreKind.available.contains(.postgres), "needs the test PostgreSQL (script/test starts it)"))
struct PostgresServerTests {
    @Test func aPushRunsAndAnUnreachableDatabaseIsNotReadyAnd503() async throws {
        let place = try await StoreUnderTest(.postgres)
        let repository = try GitRepository.make(files: [".slipway.yaml": """
            stages:
              build:
                - {name: hello, run: echo hello from postgres}
            """])
        defer { repository.directory.remove() }
        try await withLiveServer(runner: true, configure: { config in
            config.store = .postgres(url: SecretValue(place.location), pool: 4)
            config.storeBusyTimeout = .seconds(2)
            config.apps[0].repoURL = repository.url
        }) { server in
            let first = try repository.head()
            let id = try await server.pushRedelivering(app: "github", commit: first)
            let job = try await server.waitForEnd(of: id)
            #expect(job.status == .succeeded)
            #expect(try await server.log(of: id).contains("[build/hello] hello from postgres"))
            #expect(try await server.withClient { try await $0.send(.GET, "/readyz").status } == 200)

            try await place.setReachable(false)
            #expect(try await server.withClient { try await $0.send(.GET, "/readyz").status } == 503)
            // A delivery that cannot be stored is refused with 503 and Retry-After: the forge sends it again.
            do {
                _ = try await server.push(app: "github", commit: try repository.commit(files: ["b": "b"], message: "b"))
                Issue.record("a push was accepted while the database was away")
            } catch let refused as PushRefused {
                #expect(refused.status == 503, "\(refused.body)")
            }
            try await place.setReachable(true)
            try await waitFor(timeout: .seconds(20)) { try await server.withClient { try await $0.send(.GET, "/readyz").status } == 200 }
            // The same revision again maps to its job; the refused one is taken now.
            #expect(try await server.pushRedelivering(app: "github", commit: first) == id)
            let second = try await server.pushRedelivering(app: "github", commit: try repository.head())
            #expect(try await server.waitForEnd(of: second).status == .succeeded)
        }
    }
}
