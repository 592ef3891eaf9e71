import AsyncHTTPClient
import Foundation
import Logging
import SlipwayConfig
import SlipwayCore
import SlipwayForge
import SlipwayStore
import SlipwayTestSupport
import Testing

/// Commit statuses: every forge's API (checked by a fake of it), the order queued → running →
/// end, a forge that is down for a while, one that refuses, and a restart in between.
@Suite struct CommitStatusTests {
    static let pipeline = [".slipway.yaml": "stages:\n  build:\n    - {name: hello, run: echo hello}\n"]

    static func expected(_ forge: Forge) -> [String] {
        switch forge {
        case .github, .gitea, .forgejo: ["pending", "pending", "success"]
        case .gitlab: ["pending", "running", "success"]
        case .bitbucketCloud, .bitbucketServer: ["INPROGRESS", "INPROGRESS", "SUCCESSFUL"]
        }
    }

    /// A server whose app `forge` reports to `fake`; runs `body` with the app's name.
    static func withReportingServer(_ forge: Forge, fake: FakeForgeAPI, repository: GitRepository,
                                    _ body: (LiveServer, String) async throws -> Void) async throws {
        try await withLiveServer(runner: true, configure: { config in
            config.publicURL = "https://slipway.example.com"
            let index = config.apps.firstIndex { $0.forge == forge }!
            config.apps[index].repoURL = repository.url
            config.apps[index].forgeAPI = ForgeAPI(url: fake.url, token: SecretValue(fake.token), repository: fake.repository)
        }) { server in try await body(server, forge.rawValue) }
    }

    static func sync(_ server: LiveServer, app: String, commit: String) async throws -> JobID {
        let (status, body) = try await server.withClient { api in
            try await api.send(.POST, "/api/v1/apps/\(app)/sync", headers: [("Content-Type", "application/json")], body: Data(#"{"commit":"\#(commit)"}"#.utf8))
        }
        #expect(status == 202, "\(String(decoding: body, as: UTF8.self))")
        return try #require((try JSONSerialization.jsonObject(with: body) as? [String: Any])?["job"] as? Int64)
    }

    @Test(arguments: Forge.allCases) func everyForgeHearsQueuedRunningAndTheEnd(forge: Forge) async throws {
        let fake = try await FakeForgeAPI.start(forge)
        let repository = try GitRepository.make(files: Self.pipeline)
        defer { repository.directory.remove() }
        try await Self.withReportingServer(forge, fake: fake, repository: repository) { server, app in
            let commit = try repository.head()
            let id = try await Self.sync(server, app: app, commit: commit)
            #expect(try await server.waitForEnd(of: id).status == .succeeded)
            try await waitFor(timeout: .seconds(10)) { await fake.taken().count >= 3 }
            let taken = await fake.taken()
            #expect(taken.map(\.state) == Self.expected(forge), "\(taken)")
            #expect(taken.allSatisfy { $0.commit == commit && $0.context == "slipway/\(app)" && $0.targetURL == "https://slipway.example.com/jobs/\(id)" })
            #expect(taken.last?.description == "deployed")
            let refusals = await fake.refusals()
            #expect(refusals.isEmpty, "\(refusals)")
        }
        await fake.stop()
    }

    @Test func aSupersededJobEndsOnItsCommitToo() async throws {
        let fake = try await FakeForgeAPI.start(.github)
        let repository = try GitRepository.make(files: [".slipway.yaml": "stages:\n  build:\n    - {name: slow, run: sleep 1}\n"])
        defer { repository.directory.remove() }
        try await Self.withReportingServer(.github, fake: fake, repository: repository) { server, app in
            let c1 = try repository.head()
            let c2 = try repository.commit(files: ["a": "2"], message: "2")
            let c3 = try repository.commit(files: ["a": "3"], message: "3")
            let first = try await Self.sync(server, app: app, commit: c1)
            try await waitFor(timeout: .seconds(10)) { try await server.store.job(id: first)?.status == .running }
            _ = try await Self.sync(server, app: app, commit: c2)
            let third = try await Self.sync(server, app: app, commit: c3)
            #expect(try await server.waitForEnd(of: third).status == .succeeded)
            try await waitFor(timeout: .seconds(10)) { await fake.taken().filter { $0.commit == c2 }.count >= 2 }
            let middle = await fake.taken().filter { $0.commit == c2 }
            #expect(middle.map(\.state) == ["pending", "error"], "\(middle)")
            #expect(middle.last?.description.hasPrefix("cancelled: superseded by job \(third)") == true)
        }
        await fake.stop()
    }

    /// A push supersedes the queued job of its app as it is queued: that job's commit hears so
    /// at once, not when the runner next claims.
    @Test func aPushSupersedesTheQueuedJobAndItsCommitHears() async throws {
        let fake = try await FakeForgeAPI.start(.github)
        let repository = try GitRepository.make(files: [".slipway.yaml": "stages:\n  build:\n    - {name: slow, run: sleep 2}\n"])
        defer { repository.directory.remove() }
        try await Self.withReportingServer(.github, fake: fake, repository: repository) { server, app in
            let c1 = try repository.head()
            let c2 = try repository.commit(files: ["a": "2"], message: "2")
            let c3 = try repository.commit(files: ["a": "3"], message: "3")
            let first = try await server.push(app: app, commit: c1)
            try await waitFor(timeout: .seconds(10)) { try await server.store.job(id: first)?.status == .running }
            let second = try await server.push(app: app, commit: c2)
            let third = try await server.push(app: app, commit: c3)
            #expect(try await server.store.job(id: second)?.status == .superseded, "superseded as the third was queued")
            try await waitFor(timeout: .seconds(10)) { await fake.taken().filter { $0.commit == c2 }.count >= 2 }
            let middle = await fake.taken().filter { $0.commit == c2 }
            #expect(middle.map(\.state) == ["pending", "error"], "\(middle)")
            #expect(middle.last?.description.hasPrefix("cancelled: superseded by job \(third)") == true)
            #expect(try await server.waitForEnd(of: third).status == .succeeded)
        }
        await fake.stop()
    }

    @Test func aForgeDownForAWhileGetsEverythingLaterInOrder() async throws {
        let fake = try await FakeForgeAPI.start(.github)
        await fake.answerNext([(503, [], "unavailable"), (502, [], "bad gateway"), (429, [("Retry-After", "1")], #"{"message":"slow down"}"#)])
        let repository = try GitRepository.make(files: Self.pipeline)
        defer { repository.directory.remove() }
        try await Self.withReportingServer(.github, fake: fake, repository: repository) { server, app in
            let id = try await Self.sync(server, app: app, commit: try repository.head())
            #expect(try await server.waitForEnd(of: id).status == .succeeded)
            try await waitFor(timeout: .seconds(30)) { await fake.taken().count >= 3 }
            try await Task.sleep(for: .milliseconds(500))
            #expect(await fake.taken().map(\.state) == ["pending", "pending", "success"], "in order, each once")
            #expect(await fake.calls() == 6)
        }
        await fake.stop()
    }

    @Test func aRefusalIsWrittenToTheJobLogOnceAndNothingMoreIsSent() async throws {
        let fake = try await FakeForgeAPI.start(.gitea)
        await fake.answerAlways((401, #"{"message":"token is required"}"#))
        let repository = try GitRepository.make(files: Self.pipeline)
        defer { repository.directory.remove() }
        try await Self.withReportingServer(.gitea, fake: fake, repository: repository) { server, app in
            let id = try await Self.sync(server, app: app, commit: try repository.head())
            #expect(try await server.waitForEnd(of: id).status == .succeeded, "reporting never fails a job")
            try await waitFor(timeout: .seconds(10)) { try await server.log(of: id).contains("[forge]") }
            try await Task.sleep(for: .seconds(1))
            let lines = try await server.log(of: id).split(separator: "\n").filter { $0.contains("[forge]") }
            #expect(lines.count == 1, "\(lines)")
            #expect(lines.first?.contains("the forge refused the commit status 'queued'") == true)
            #expect(lines.first?.contains("401 token is required") == true, "\(lines)")
            #expect(await fake.calls() == 1)
        }
        await fake.stop()
    }

    /// The outbox across a restart and two replicas: statuses wait in the store while the
    /// forge is down, go out after the restart in order, and two reporters on one database
    /// never send the same one.
    @Test(arguments: StoreKind.available) func aRestartLosesNothingAndTwoReportersSendNothingTwice(kind: StoreKind) async throws {
        let fake = try await FakeForgeAPI.start(.github)
        let place = try await StoreUnderTest(kind)
        defer { place.remove() }
        var config = ServerConfig()
        config.apps = [AppConfig(name: "shop", repoURL: "https://example.com/acme/shop.git", forge: .github, webhookSecrets: [SecretValue("s")])]
        config.apps[0].forgeAPI = ForgeAPI(url: fake.url, token: SecretValue(fake.token), repository: fake.repository)
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { http.shutdownEventually() }
        let clock = TestClock(Date())

        let store = try await place.open()
        var jobs: [Job] = []
        for n in 1...4 {
            let job = try await store.enqueue(app: "shop", ref: "refs/heads/main", commit: String(format: "%040x", n), trigger: .manual, message: nil)
            jobs.append(job)
            for state in [CommitState.queued, .running, .succeeded] {
                try await store.queueCommitStatus(app: "shop", jobID: job.id, commit: job.commit, state: state, description: nil, now: clock.now)
            }
        }
        await fake.answerAlways((503, "down"))
        let before = StatusReporter(config: config, store: store, logger: Logger(label: "t"), now: { clock.now })
        #expect(await before.deliverDue(http) == 0)
        await store.close()

        // Restarted, and a second replica: after the back-off both deliver what is due.
        await fake.answerAlways(nil)
        clock.advance(by: 10)
        let first = try await place.open()
        let second = try await place.open()
        let reporters = [first, second].map { StatusReporter(config: config, store: $0, logger: Logger(label: "t"), now: { clock.now }) }
        var sent = 0
        for _ in 0..<6 {
            async let a = reporters[0].deliverDue(http)
            async let b = reporters[1].deliverDue(http)
            sent += await a + b
        }
        #expect(sent == 12)
        let taken = await fake.taken()
        #expect(taken.count == 12, "each status once: \(taken.count)")
        for job in jobs {
            #expect(taken.filter { $0.commit == job.commit }.map(\.state) == ["pending", "pending", "success"], "in order for \(job.id)")
        }
        await first.close()
        await second.close()
        try await http.shutdown()
        await fake.stop()
    }
}

/// A clock a test moves by hand.
final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var current: Date
    init(_ start: Date) { current = start }
    var now: Date { lock.withLock { current } }
    func advance(by seconds: Double) { lock.withLock { current += seconds } }
}
