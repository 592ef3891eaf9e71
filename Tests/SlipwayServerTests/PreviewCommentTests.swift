import AsyncHTTPClient
import Foundation
import Logging
import SlipwayConfig
import SlipwayCore
import SlipwayForge
import SlipwayStore
import SlipwayTestSupport
import Testing

/// The one comment an app keeps on a pull request, through the store's outbox: created once
/// with the newest text, edited after, created again when someone deleted it; a forge that is
/// down, a restart and two replicas in between change none of that.
@Suite struct PreviewCommentTests {
    static func config(_ forge: Forge, _ fake: FakeForgeAPI) -> ServerConfig {
        var config = ServerConfig()
        config.apps = [AppConfig(name: "shop", repoURL: "https://example.com/acme/shop.git", forge: forge, webhookSecrets: [SecretValue("s")])]
        config.apps[0].forgeAPI = ForgeAPI(url: fake.url, token: SecretValue(fake.token), repository: fake.repository)
        return config
    }

    @Test(arguments: Forge.allCases) func oneCommentEditedOnLaterPreviews(forge: Forge) async throws {
        let fake = try await FakeForgeAPI.start(forge)
        let place = try await StoreUnderTest(.sqlite)
        defer { place.remove() }
        let config = Self.config(forge, fake)
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { http.shutdownEventually() }
        let clock = TestClock(Date())
        let store = try await place.open()
        let job = try await store.enqueue(app: "shop", ref: "refs/pull/7/head", commit: String(repeating: "a", count: 40), trigger: .manual, message: nil)
        let reporter = StatusReporter(config: config, store: store, logger: Logger(label: "t"), now: { clock.now })

        try await store.queuePreviewComment(app: "shop", pullRequest: 7, jobID: job.id, body: "first preview", now: clock.now)
        #expect(await reporter.deliverDue(http) == 1)
        try await store.queuePreviewComment(app: "shop", pullRequest: 7, jobID: job.id, body: "second preview", now: clock.now)
        #expect(await reporter.deliverDue(http) == 1)
        #expect(await reporter.deliverDue(http) == 0, "nothing left to send")
        var comments = await fake.comments()
        #expect(comments.count == 1)
        #expect(comments.first?.pullRequest == 7)
        #expect(comments.first?.body == "second preview")
        #expect(comments.first?.edits == 1)

        // Someone deletes it: the next preview creates it again.
        await fake.deleteComment(try #require(comments.first?.id))
        try await store.queuePreviewComment(app: "shop", pullRequest: 7, jobID: job.id, body: "third preview", now: clock.now)
        _ = await reporter.deliverDue(http)
        _ = await reporter.deliverDue(http)
        comments = await fake.comments()
        #expect(comments.map(\.body) == ["third preview"], "\(comments)")
        let refusals = await fake.refusals()
        #expect(refusals.isEmpty, "\(refusals)")
        await store.close()
        try await http.shutdown()
        await fake.stop()
    }

    /// A forge that refuses (401) is told once, in the job's log, and not asked again until a
    /// newer preview; one that says "later" (429 with Retry-After) is asked again then.
    @Test func aRefusalIsLoggedOnceAndALaterAnswerWaits() async throws {
        let fake = try await FakeForgeAPI.start(.gitlab)
        let place = try await StoreUnderTest(.sqlite)
        defer { place.remove() }
        let config = Self.config(.gitlab, fake)
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { http.shutdownEventually() }
        let clock = TestClock(Date())
        let store = try await place.open()
        let job = try await store.enqueue(app: "shop", ref: "refs/merge-requests/4/head", commit: String(repeating: "c", count: 40), trigger: .manual, message: nil)
        _ = try await store.start(job.id)
        let reporter = StatusReporter(config: config, store: store, logger: Logger(label: "t"), now: { clock.now })

        await fake.answerAlways((401, #"{"message":"401 Unauthorized"}"#))
        try await store.queuePreviewComment(app: "shop", pullRequest: 4, jobID: job.id, body: "preview", now: clock.now)
        for _ in 0..<3 { _ = await reporter.deliverDue(http) }
        #expect(await fake.calls() == 1, "refused once, not asked again")
        let log = try await store.logChunks(jobID: job.id, limit: .max).map(\.text).joined()
        #expect(log.components(separatedBy: "[forge]").count == 2, "\(log)")
        #expect(log.contains("the forge refused the comment on pull request #4: 401 401 Unauthorized"), "\(log)")

        // A newer preview tries again; the forge asks to wait a second.
        await fake.answerAlways(nil)
        await fake.answerNext([(429, [("Retry-After", "1")], #"{"message":"slow down"}"#)])
        try await store.queuePreviewComment(app: "shop", pullRequest: 4, jobID: job.id, body: "newer preview", now: clock.now)
        #expect(await reporter.deliverDue(http) == 0)
        #expect(await reporter.deliverDue(http) == 0, "not before Retry-After")
        clock.advance(by: 1.5)
        #expect(await reporter.deliverDue(http) == 1)
        #expect(await fake.comments().map(\.body) == ["newer preview"])
        await store.close()
        try await http.shutdown()
        await fake.stop()
    }

    @Test(arguments: StoreKind.available) func aForgeDownARestartAndTwoReplicasStillMakeOneComment(kind: StoreKind) async throws {
        let fake = try await FakeForgeAPI.start(.bitbucketServer)
        let place = try await StoreUnderTest(kind)
        defer { place.remove() }
        let config = Self.config(.bitbucketServer, fake)
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { http.shutdownEventually() }
        let clock = TestClock(Date())

        let store = try await place.open()
        let job = try await store.enqueue(app: "shop", ref: "refs/pull-requests/3/from", commit: String(repeating: "b", count: 40), trigger: .manual, message: nil)
        try await store.queuePreviewComment(app: "shop", pullRequest: 3, jobID: job.id, body: "v1", now: clock.now)
        await fake.answerAlways((503, "down"))
        #expect(await StatusReporter(config: config, store: store, logger: Logger(label: "t"), now: { clock.now }).deliverDue(http) == 0)
        // A newer preview while the forge is down replaces the text not yet sent.
        try await store.queuePreviewComment(app: "shop", pullRequest: 3, jobID: job.id, body: "v2", now: clock.now)
        await store.close()

        await fake.answerAlways(nil)
        clock.advance(by: 10)
        let first = try await place.open()
        let second = try await place.open()
        let reporters = [first, second].map { StatusReporter(config: config, store: $0, logger: Logger(label: "t"), now: { clock.now }) }
        for _ in 0..<3 {
            async let a = reporters[0].deliverDue(http)
            async let b = reporters[1].deliverDue(http)
            _ = await a + b
        }
        var comments = await fake.comments()
        #expect(comments.map(\.body) == ["v2"], "one comment, the newest text: \(comments)")

        // Edits name Data Center's version; each edit moves it on.
        for text in ["v3", "v4"] {
            try await first.queuePreviewComment(app: "shop", pullRequest: 3, jobID: job.id, body: text, now: clock.now)
            async let a = reporters[0].deliverDue(http)
            async let b = reporters[1].deliverDue(http)
            #expect(await a + b == 1)
        }
        comments = await fake.comments()
        #expect(comments.count == 1)
        #expect(comments.first?.body == "v4")
        #expect(comments.first?.edits == 2)

        // Someone edits it on the forge: Slipway's next edit is refused as stale (409), reads the
        // current version, and edits the same comment instead of adding one.
        await fake.editByHand(try #require(comments.first?.id), body: "a reviewer's edit")
        try await first.queuePreviewComment(app: "shop", pullRequest: 3, jobID: job.id, body: "v5", now: clock.now)
        for _ in 0..<3 { _ = await reporters[0].deliverDue(http) }
        comments = await fake.comments()
        #expect(comments.map(\.body) == ["v5"], "\(comments)")
        let refusals = await fake.refusals()
        #expect(refusals.isEmpty, "\(refusals)")
        await first.close()
        await second.close()
        try await http.shutdown()
        await fake.stop()
    }
}
