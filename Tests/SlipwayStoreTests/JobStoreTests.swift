import Foundation
import SlipwayCore
import SlipwayStore
import SlipwayTestSupport
import Testing

@Suite struct JobStoreTests {
    static func push(delivery: String, after: String = String(repeating: "a", count: 40), ref: String = "refs/heads/main") -> PushEvent {
        PushEvent(forge: .github, deliveryID: delivery, repository: "acme/shop", ref: ref,
                  before: String(repeating: "b", count: 40), after: after, headCommitMessage: "msg",
                  headCommitAuthor: "Dana", changedPaths: ["a.txt"])
    }

    @Test func enqueueIsIdempotentByDeliveryAndRevision() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let store = try SQLiteJobStore(path: dir.path + "/db.sqlite")
        guard case .created(let job) = try await store.enqueue(push: Self.push(delivery: "d1"), app: "shop") else {
            Issue.record("expected a new job"); return
        }
        #expect(job.status == .queued)
        #expect(job.trigger == .push)
        #expect(job.author == "Dana")
        // The same delivery again (a redelivery) maps to the same job.
        #expect(try await store.enqueue(push: Self.push(delivery: "d1"), app: "shop") == .existing(job))
        // Another delivery of the same revision also maps to it.
        #expect(try await store.enqueue(push: Self.push(delivery: "d2"), app: "shop") == .existing(job))
        // The redelivered d2 still maps to the same job.
        #expect(try await store.enqueue(push: Self.push(delivery: "d2"), app: "shop").job.id == job.id)
        // A new commit is a new job; so is the same commit for another app.
        let next = try await store.enqueue(push: Self.push(delivery: "d3", after: String(repeating: "c", count: 40)), app: "shop")
        #expect(next.job.id != job.id)
        let other = try await store.enqueue(push: Self.push(delivery: "d1"), app: "other")
        #expect(other.job.id != job.id)
        #expect(try await store.jobs(JobQuery()).count == 3)
    }

    @Test func jobsSurviveReopeningAndListNewestFirst() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.path + "/db.sqlite"
        do {
            let store = try SQLiteJobStore(path: path)
            for index in 0..<5 {
                _ = try await store.enqueue(push: Self.push(delivery: "d\(index)", after: String(repeating: "\(index)", count: 40)),
                                      app: index % 2 == 0 ? "even" : "odd")
            }
        }
        let store = try SQLiteJobStore(path: path)
        let all = try await store.jobs(JobQuery())
        #expect(all.map(\.id) == [5, 4, 3, 2, 1])
        #expect(try await store.jobs(JobQuery(app: "even")).map(\.id) == [5, 3, 1])
        #expect(try await store.jobs(JobQuery(limit: 2)).map(\.id) == [5, 4])
        #expect(try await store.jobs(JobQuery(before: 4, limit: 2)).map(\.id) == [3, 2])
        #expect(try await store.jobs(JobQuery(status: .running)).isEmpty)
    }

    @Test func cancellingAQueuedJobEndsIt() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let store = try SQLiteJobStore(path: dir.path + "/db.sqlite")
        let job = try await store.enqueue(push: Self.push(delivery: "d"), app: "shop").job
        let cancelled = try await store.requestCancel(id: job.id, by: "ops")
        #expect(cancelled?.status == .cancelled)
        #expect(cancelled?.reason == "cancelled by ops before it started")
        #expect(cancelled?.finishedAt != nil)
        #expect(try await store.requestCancel(id: 999, by: "ops") == nil)
    }

    @Test func logChunksComeBackInOrder() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let store = try SQLiteJobStore(path: dir.path + "/db.sqlite")
        let job = try await store.enqueue(push: Self.push(delivery: "d"), app: "shop").job
        for line in 1...5 { try await store.appendLog(jobID: job.id, text: "line \(line)\n") }
        let all = try await store.logChunks(jobID: job.id)
        #expect(all.map(\.text).joined() == "line 1\nline 2\nline 3\nline 4\nline 5\n")
        #expect(try await store.logChunks(jobID: job.id, after: 3).map(\.seq) == [4, 5])
    }
}
