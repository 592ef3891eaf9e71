import Foundation
import SlipwayCore
import SlipwayStore
import SlipwayTestSupport
import Testing

/// One suite, both stores: SQLite and PostgreSQL must behave the same.
@Suite struct JobStoreTests {
    static func push(delivery: String, after: String = String(repeating: "a", count: 40), ref: String = "refs/heads/main") -> PushEvent {
        PushEvent(forge: .github, deliveryID: delivery, repository: "acme/shop", ref: ref,
                  before: String(repeating: "b", count: 40), after: after, headCommitMessage: "msg",
                  headCommitAuthor: "Dana", changedPaths: ["a.txt"])
    }

    /// Runs `body` with a fresh store of `kind`.
    static func with(_ kind: StoreKind, _ body: (StoreUnderTest, any JobStore) async throws -> Void) async throws {
        let place = try await StoreUnderTest(kind)
        defer { place.remove() }
        let store = try await place.open()
        do {
            try await body(place, store)
            await store.close()
        } catch {
            await store.close()
            throw error
        }
    }

    @Test(arguments: StoreKind.available) func enqueueIsIdempotentByDeliveryAndRevision(kind: StoreKind) async throws {
        try await Self.with(kind) { _, store in
            guard case .created(let job, let superseded) = try await store.enqueue(push: Self.push(delivery: "d1"), app: "shop"), superseded.isEmpty else {
                Issue.record("expected a new job"); return
            }
            #expect(job.status == .queued)
            #expect(job.trigger == .push)
            #expect(job.author == "Dana")
            #expect(job.attempt == 1 && job.retryOf == nil && job.retriedAs == nil)
            // The same delivery again (a redelivery) maps to the same job.
            #expect(try await store.enqueue(push: Self.push(delivery: "d1"), app: "shop") == .existing(job))
            // Another delivery of the same revision also maps to it.
            #expect(try await store.enqueue(push: Self.push(delivery: "d2"), app: "shop") == .existing(job))
            #expect(try await store.enqueue(push: Self.push(delivery: "d2"), app: "shop").job.id == job.id)
            // A new commit is a new job; so is the same commit for another app.
            let next = try await store.enqueue(push: Self.push(delivery: "d3", after: String(repeating: "c", count: 40)), app: "shop")
            #expect(next.job.id != job.id)
            let other = try await store.enqueue(push: Self.push(delivery: "d1"), app: "other")
            #expect(other.job.id != job.id)
            #expect(try await store.jobs(JobQuery()).count == 3)
            try await store.recordIgnoredDelivery(app: "shop", forge: .github, deliveryID: "ping-1", outcome: "ping")
            try await store.recordIgnoredDelivery(app: "shop", forge: .github, deliveryID: "ping-1", outcome: "ping")
        }
    }

    @Test(arguments: StoreKind.available) func theSameDeliveryAtOnceMakesOneJob(kind: StoreKind) async throws {
        try await Self.with(kind) { place, store in
            // Two "replicas" (two opened stores) get the same deliveries at the same moment.
            let second = try await place.open()
            let results = try await withThrowingTaskGroup(of: EnqueueResult.self) { group in
                for index in 0..<20 {
                    let target = index % 2 == 0 ? store : second
                    group.addTask { try await target.enqueue(push: Self.push(delivery: "d\(index % 4)"), app: "shop") }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            await second.close()
            #expect(Set(results.map(\.job.id)).count == 1)
            #expect(results.filter { if case .created = $0 { true } else { false } }.count == 1)
            #expect(try await store.jobs(JobQuery()).count == 1)
        }
    }

    /// Distinct commits arriving together (written in shared transactions): each queue keeps
    /// only its newest job, and every job superseded is reported once, by a newer job of its
    /// queue, so the forge hears of it once.
    @Test(arguments: StoreKind.available) func pushesArrivingTogetherLeaveTheNewestJobOfEachQueue(kind: StoreKind) async throws {
        try await Self.with(kind) { _, store in
            let results = try await withThrowingTaskGroup(of: EnqueueResult.self) { group in
                for index in 0..<60 {
                    let commit = String(format: "%040x", index + 1)
                    group.addTask {
                        switch index % 3 {
                        case 0: try await store.enqueue(push: Self.push(delivery: "shop-\(index)", after: commit), app: "shop")
                        case 1: try await store.enqueue(push: Self.push(delivery: "cart-\(index)", after: commit), app: "cart")
                        default: try await store.enqueue(preview: Self.pullRequest(7, head: Character(String(index % 10)), delivery: "pr-\(index)"), app: "shop", now: Date())
                        }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let jobs = try await store.jobs(JobQuery(limit: 500))
            let queued = jobs.filter { $0.status == .queued }
            // One queued job per queue: shop's deploys, cart's deploys, shop's pull request 7.
            #expect(queued.count == 3, "\(queued.map { ($0.app, $0.trigger, $0.id) })")
            for job in queued {
                let sameQueue = jobs.filter { $0.app == job.app && $0.trigger == job.trigger }
                #expect(job.id == sameQueue.map(\.id).max(), "the queued job of \(job.app) \(job.trigger) is not its newest")
            }
            let reported = results.flatMap { result in result.superseded.map { (by: result.job.id, job: $0) } }
            let superseded = jobs.filter { $0.status == .superseded }
            #expect(superseded.count == jobs.count - 3)
            #expect(reported.map(\.job.id).sorted() == superseded.map(\.id).sorted(), "each superseded job is reported exactly once")
            for (by, job) in reported {
                let newer = jobs.first { $0.id == by }
                #expect(by > job.id && newer?.app == job.app && newer?.trigger == job.trigger)
                #expect(try await store.job(id: job.id)?.reason == "superseded by job \(by)")
            }
        }
    }

    /// A job's "queued" note can reach the store after its end (a newer push superseded it, or
    /// it ended, before the delivery's own note was written): it is not sent, so the commit
    /// does not end up shown as pending. After "running" it still is, the end follows.
    @Test(arguments: StoreKind.available) func aQueuedStatusNotedAfterALaterOneIsNotSent(kind: StoreKind) async throws {
        try await Self.with(kind) { _, store in
            let now = Date()
            let superseded = try await store.enqueue(push: Self.push(delivery: "d1"), app: "shop").job
            let fresh = try await store.enqueue(push: Self.push(delivery: "d2", after: String(repeating: "c", count: 40)), app: "shop").job
            try await store.queueCommitStatus(app: "shop", jobID: superseded.id, commit: superseded.commit, state: .cancelled, description: "superseded", now: now)
            try await store.queueCommitStatus(app: "shop", jobID: superseded.id, commit: superseded.commit, state: .queued, description: nil, now: now)
            try await store.queueCommitStatus(app: "shop", jobID: fresh.id, commit: fresh.commit, state: .running, description: nil, now: now)
            try await store.queueCommitStatus(app: "shop", jobID: fresh.id, commit: fresh.commit, state: .queued, description: nil, now: now)
            var sent: [JobID: [CommitState]] = [:]
            while case let due = try await store.claimCommitStatuses(now: now, leaseUntil: now.addingTimeInterval(60), limit: 10), !due.isEmpty {
                for status in due {
                    sent[status.jobID, default: []].append(status.state)
                    try await store.commitStatusSent(status.id, now: now)
                }
            }
            #expect(sent == [superseded.id: [.cancelled], fresh.id: [.running, .queued]])
        }
    }

    @Test(arguments: StoreKind.available) func aDeliveryTheDatabaseRefusesFailsAloneInItsBatch(kind: StoreKind) async throws {
        try await Self.with(kind) { place, store in
            try await place.execute(
                sqlite: "CREATE TRIGGER refuse_job BEFORE INSERT ON jobs WHEN NEW.message = 'refuse me' BEGIN SELECT RAISE(ABORT, 'refused by a test trigger'); END",
                postgres: "ALTER TABLE jobs ADD CONSTRAINT refuse_job CHECK (message IS DISTINCT FROM 'refuse me')")
            // Deliveries that arrive together share transactions; the database refuses two of them.
            let refused: Set<Int> = [7, 23]
            func push(_ index: Int) -> PushEvent {
                var push = Self.push(delivery: "d\(index)", after: String(repeating: "0", count: 32) + String(format: "%08x", index))
                if refused.contains(index) { push.headCommitMessage = "refuse me" }
                return push
            }
            let results = await withTaskGroup(of: (Int, Result<EnqueueResult, any Error>).self) { group in
                for index in 0..<40 {
                    group.addTask {
                        do { return (index, .success(try await store.enqueue(push: push(index), app: "app\(index % 4)"))) } catch { return (index, .failure(error)) }
                    }
                }
                return await group.reduce(into: [Int: Result<EnqueueResult, any Error>]()) { $0[$1.0] = $1.1 }
            }
            for index in 0..<40 {
                switch results[index] {
                case .success(let result)?:
                    #expect(!refused.contains(index))
                    #expect(result.job.deliveryID == "d\(index)")
                case .failure(let error)?:
                    #expect(refused.contains(index), "delivery \(index): \(error)")
                    #expect(error is StoreError && "\(error)".contains("refuse"), "\(error)")
                case nil:
                    Issue.record("no answer for delivery \(index)")
                }
            }
            let jobs = try await store.jobs(JobQuery(limit: 100))
            #expect(Set(jobs.compactMap(\.deliveryID)) == Set((0..<40).filter { !refused.contains($0) }.map { "d\($0)" }))
            // Each app's queue is one job long: its newest.
            for app in 0..<4 {
                let queued = try await store.jobs(JobQuery(app: "app\(app)", status: .queued))
                #expect(queued.map(\.id) == [jobs.filter { $0.app == "app\(app)" }.map(\.id).max()].compactMap { $0 })
            }
            // Alone, too, it fails with the database's reason.
            await #expect(throws: StoreError.self) { try await store.enqueue(push: push(23), app: "app3") }
            // A refused delivery left nothing behind: once the database takes it, it makes a job.
            try await place.execute(sqlite: "DROP TRIGGER refuse_job", postgres: "ALTER TABLE jobs DROP CONSTRAINT refuse_job")
            guard case .created(let job, _) = try await store.enqueue(push: push(7), app: "app3") else {
                Issue.record("expected a new job for the delivery refused before"); return
            }
            #expect(job.message == "refuse me")
        }
    }

    @Test(arguments: StoreKind.available) func replicasQueueingForTheSameAppsAtOnceAllSucceed(kind: StoreKind) async throws {
        try await Self.with(kind) { place, store in
            // Two replicas, each with batches of deliveries for the same apps, met in opposite orders:
            // each batch locks its apps in one order, and a batch that fails is written again with
            // a savepoint per delivery, so none of them fails.
            let second = try await place.open()
            let results = await withTaskGroup(of: Result<EnqueueResult, any Error>.self) { group in
                for index in 0..<120 {
                    let target = index % 2 == 0 ? store : second
                    let app = index % 2 == 0 ? "app\(index % 5)" : "app\(4 - index % 5)"
                    let push = Self.push(delivery: "d\(index)", after: String(repeating: "0", count: 32) + String(format: "%08x", index))
                    group.addTask {
                        do { return .success(try await target.enqueue(push: push, app: app)) } catch { return .failure(error) }
                    }
                }
                return await group.reduce(into: [Result<EnqueueResult, any Error>]()) { $0.append($1) }
            }
            await second.close()
            for case .failure(let error) in results { Issue.record("a delivery failed: \(error)") }
            #expect(try await store.jobs(JobQuery(limit: 200)).count == 120)
            for app in 0..<5 { #expect(try await store.jobs(JobQuery(app: "app\(app)", status: .queued)).count == 1) }
        }
    }

    @Test(arguments: StoreKind.available) func jobsSurviveReopeningAndListNewestFirst(kind: StoreKind) async throws {
        try await Self.with(kind) { place, first in
            for index in 0..<5 {
                _ = try await first.enqueue(push: Self.push(delivery: "d\(index)", after: String(repeating: "\(index)", count: 40)),
                                            app: index % 2 == 0 ? "even" : "odd")
            }
            let store = try await place.open()
            let all = try await store.jobs(JobQuery())
            #expect(all.map(\.id) == [5, 4, 3, 2, 1])
            #expect(try await store.jobs(JobQuery(app: "even")).map(\.id) == [5, 3, 1])
            #expect(try await store.jobs(JobQuery(limit: 2)).map(\.id) == [5, 4])
            #expect(try await store.jobs(JobQuery(before: 4, limit: 2)).map(\.id) == [3, 2])
            // A push supersedes the queued job of its app at once: only the newest of each app waits.
            #expect(try await store.jobs(JobQuery(app: "odd", status: .queued)).map(\.id) == [4])
            #expect(try await store.jobs(JobQuery(app: "odd", status: .superseded, before: 4)).map(\.id) == [2])
            #expect(try await store.jobs(JobQuery(status: .running)).isEmpty)
            #expect(try await store.latestJob(app: "odd")?.id == 4)
            #expect(try await store.hasJob(app: "even", commit: String(repeating: "2", count: 40)))
            #expect(try await !store.hasJob(app: "odd", commit: String(repeating: "2", count: 40)))
            await store.close()
        }
    }

    @Test(arguments: StoreKind.available) func cancellingAQueuedJobEndsIt(kind: StoreKind) async throws {
        try await Self.with(kind) { _, store in
            let job = try await store.enqueue(push: Self.push(delivery: "d"), app: "shop").job
            let cancelled = try await store.requestCancel(id: job.id, by: "ops")
            #expect(cancelled?.status == .cancelled)
            #expect(cancelled?.reason == "cancelled by ops before it started")
            #expect(cancelled?.finishedAt != nil)
            #expect(try await store.requestCancel(id: 999, by: "ops") == nil)
            // A running job is only flagged: its runner stops it.
            let running = try await store.enqueue(app: "shop", ref: "refs/heads/main", commit: String(repeating: "e", count: 40), trigger: .manual)
            #expect(try await store.start(running.id))
            #expect(try await !store.start(running.id))
            #expect(try await store.requestCancel(id: running.id, by: "ops")?.status == .running)
            #expect(try await store.isCancelRequested(running.id))
        }
    }

    @Test(arguments: StoreKind.available) func logChunksComeBackInOrder(kind: StoreKind) async throws {
        try await Self.with(kind) { _, store in
            let job = try await store.enqueue(push: Self.push(delivery: "d"), app: "shop").job
            // Only a running job's log takes lines: a late writer that lost the job is refused.
            await #expect(throws: StoreError.self) { try await store.appendLog(jobID: job.id, text: "too early\n") }
            #expect(try await store.start(job.id))
            for line in 1...5 { try await store.appendLog(jobID: job.id, text: "line \(line) ✓ \u{2028}\n") }
            let all = try await store.logChunks(jobID: job.id)
            #expect(all.map(\.text).joined() == (1...5).map { "line \($0) ✓ \u{2028}\n" }.joined())
            #expect(try await store.logChunks(jobID: job.id, after: 3).map(\.seq) == [4, 5])
            #expect(try await store.logChunks(jobID: job.id, after: 0, limit: 2).map(\.seq) == [1, 2])
            try await store.finish(job.id, status: .succeeded, reason: nil)
            await #expect(throws: StoreError.self) { try await store.appendLog(jobID: job.id, text: "too late\n") }
        }
    }

    @Test(arguments: StoreKind.available) func webSessionsExpireAndEnd(kind: StoreKind) async throws {
        try await Self.with(kind) { under, store in
            let now = Date(timeIntervalSince1970: 1_800_000_000)
            let session = WebSession(digest: "abc", tokenName: "ops", csrfToken: "csrf", createdAt: now, expiresAt: now + 3600)
            try await store.createSession(session, now: now)
            #expect(try await store.session(digest: "abc", now: now + 60) == session)
            #expect(try await store.session(digest: "abd", now: now + 60) == nil)
            #expect(try await store.session(digest: "abc", now: now + 3600) == nil, "expired")
            // Another replica (or a restart) sees it; a new session clears the expired ones.
            let reopened = try await under.open()
            #expect(try await reopened.session(digest: "abc", now: now + 60) == session)
            try await reopened.createSession(WebSession(digest: "def", tokenName: "ci", csrfToken: "x", createdAt: now + 4000, expiresAt: now + 8000), now: now + 4000)
            #expect(try await reopened.session(digest: "abc", now: now) == nil, "expired sessions are deleted")
            try await store.deleteSession(digest: "def")
            #expect(try await store.session(digest: "def", now: now + 4001) == nil)
            await reopened.close()
        }
    }

    @Test(arguments: StoreKind.available) func aJobsLifeStepsAndSupersede(kind: StoreKind) async throws {
        try await Self.with(kind) { _, store in
            // Jobs no delivery announced (a manual sync, a poll) are superseded when the runner claims one.
            let older = try await store.enqueue(app: "shop", ref: "refs/heads/main", commit: String(repeating: "1", count: 40), trigger: .manual)
            let newer = try await store.enqueue(app: "shop", ref: "refs/heads/main", commit: String(repeating: "2", count: 40), trigger: .poll)
            #expect(try await store.queuedJobs().map(\.id) == [older.id, newer.id])
            #expect(try await store.queueDepth() == 2)
            #expect(try await store.supersede([older.id], by: newer.id, now: Date()) == [older.id])
            #expect(try await store.supersede([older.id], by: newer.id, now: Date()).isEmpty)
            #expect(try await store.job(id: older.id)?.reason == "superseded by job \(newer.id)")
            #expect(try await store.start(newer.id))
            try await store.planSteps(newer.id, steps: [StepPlan(stage: "build", name: "compile"), StepPlan(stage: "test", name: "unit")])
            try await store.updateStep(newer.id, index: 0, status: .running)
            try await store.updateStep(newer.id, index: 0, status: .failed, exitCode: 3)
            try await store.updateStep(newer.id, index: 1, status: .skipped)
            let steps = try await store.steps(newer.id)
            #expect(steps.map(\.name) == ["compile", "unit"])
            #expect(steps.map(\.status) == [.failed, .skipped])
            #expect(steps[0].exitCode == 3 && steps[0].startedAt != nil && steps[0].finishedAt != nil)
            try await store.finish(newer.id, status: .failed, reason: "step build/compile failed")
            let ended = try #require(try await store.job(id: newer.id))
            #expect(ended.status == .failed && ended.reason == "step build/compile failed" && ended.finishedAt != nil)
            // A final status never changes again.
            try await store.finish(newer.id, status: .succeeded, reason: nil)
            #expect(try await store.job(id: newer.id)?.status == .failed)
        }
    }

    @Test(arguments: StoreKind.available) func anInterruptedJobRunsAgainUntilItsAttemptsAreUsed(kind: StoreKind) async throws {
        try await Self.with(kind) { _, store in
            let first = try await store.enqueue(push: Self.push(delivery: "d"), app: "shop").job
            #expect(try await store.start(first.id))
            try await store.recordStepProcess(StepProcess(jobID: first.id, processGroup: 4242, host: "m1", bootID: "b1"))
            #expect(try await store.leftoverProcesses(host: "m1", bootID: "b1").map(\.processGroup) == [4242])
            #expect(try await store.leftoverProcesses(host: "m2", bootID: "b1").isEmpty)
            let recovered = try await store.recoverInterrupted(maxAttempts: 2, now: Date())
            #expect(recovered.interrupted == [first.id])
            let second = try #require(recovered.requeued.first)
            #expect(second.attempt == 2 && second.retryOf == first.id && second.status == .queued && second.commit == first.commit)
            #expect(try await store.leftoverProcesses(host: "m1", bootID: "b1").isEmpty)
            let interrupted = try #require(try await store.job(id: first.id))
            #expect(interrupted.status == .interrupted && interrupted.retriedAs == second.id)
            #expect(interrupted.reason == "the server stopped while the job ran; queued again as attempt 2")
            let lastLine = try await store.logChunks(jobID: first.id).last?.text ?? ""
            #expect(lastLine.hasSuffix("[slipway] job interrupted (the server stopped while the job ran); continued by job \(second.id) as attempt 2\n"))
            // The redelivery still maps to the first job, not to a third.
            #expect(try await store.enqueue(push: Self.push(delivery: "d"), app: "shop").job.id == first.id)
            #expect(try await store.start(second.id))
            #expect(try await store.interrupt(second.id, reason: "lost", maxAttempts: 2, now: Date()) == nil)
            #expect(try await store.job(id: second.id)?.reason == "lost; no attempts left (2 of 2)")
            #expect(try await store.jobs(JobQuery()).count == 2)
        }
    }

    @Test(arguments: StoreKind.available) func deploysAndBadCommits(kind: StoreKind) async throws {
        try await Self.with(kind) { _, store in
            #expect(try await store.lastDeployment(app: "shop") == nil)
            let objects = JSONValue.array([.object(["kind": .string("ConfigMap"), "name": .string("ä/\u{2028}")])])
            try await store.recordDeployment(app: "shop", jobID: 1, commit: "c1", objects: objects, manifests: .array([]), healthy: true)
            try await store.recordDeployment(app: "shop", jobID: 2, commit: "c2", objects: .array([]), manifests: .array([]), healthy: false)
            #expect(try await store.lastDeployment(app: "shop")?.commit == "c2")
            let healthy = try #require(try await store.lastDeployment(app: "shop", healthyOnly: true))
            #expect(healthy.commit == "c1" && healthy.objects == objects && healthy.healthy)
            #expect(try await store.deployments(app: "shop").map(\.jobID) == [2, 1])
            #expect(try await store.badCommit(app: "shop", commit: "c2") == nil)
            try await store.markBad(app: "shop", commit: "c2", jobID: 2, reason: "unhealthy")
            try await store.markBad(app: "shop", commit: "c2", jobID: 3, reason: "unhealthy again")
            #expect(try await store.badCommit(app: "shop", commit: "c2") == BadCommit(jobID: 3, reason: "unhealthy again"))
        }
    }

    /// The app views' one query: every app's newest job (a preview is not the app's) and its
    /// newest healthy deploy.
    @Test(arguments: StoreKind.available) func everyAppsNewestJobAndDeployInOneQuery(kind: StoreKind) async throws {
        try await Self.with(kind) { _, store in
            #expect(try await store.appSummaries().isEmpty)
            _ = try await store.enqueue(app: "shop", ref: "refs/heads/main", commit: String(repeating: "1", count: 40), trigger: .manual)
            let shop = try await store.enqueue(app: "shop", ref: "refs/heads/main", commit: String(repeating: "2", count: 40), trigger: .manual)
            let api = try await store.enqueue(app: "api", ref: "refs/heads/main", commit: String(repeating: "3", count: 40), trigger: .manual)
            _ = try await store.enqueue(app: "api", ref: "refs/pull/7/head", commit: String(repeating: "4", count: 40), trigger: .preview)
            try await store.recordDeployment(app: "shop", jobID: 1, commit: "c1", objects: .array([]), manifests: .array([]), healthy: true)
            try await store.recordDeployment(app: "shop", jobID: 2, commit: "c2", objects: .array([]), manifests: .array([]), healthy: false)
            try await store.recordDeployment(app: "old", jobID: 9, commit: "c9", objects: .array([]), manifests: .array([]), healthy: true)
            let summaries = try await store.appSummaries()
            #expect(summaries["shop"] == AppSummary(latestJob: shop.id, latestJobStatus: .queued, deployedCommit: "c1"))
            #expect(summaries["api"] == AppSummary(latestJob: api.id, latestJobStatus: .queued, deployedCommit: nil))
            #expect(summaries["old"] == AppSummary(latestJob: nil, latestJobStatus: nil, deployedCommit: "c9"))
            #expect(summaries.count == 3)
        }
    }

    @Test(arguments: StoreKind.available) func claimsAreFairOnePerAppAndSupersedeOlderQueuedJobs(kind: StoreKind) async throws {
        try await Self.with(kind) { _, store in
            var clock = Date(timeIntervalSince1970: 1_800_000_000)
            func push(_ app: String, _ n: Int) async throws -> Job {
                try await store.enqueue(push: Self.push(delivery: "\(app)-\(n)", after: String(repeating: "\(n)", count: 40)), app: app, now: clock).job
            }
            let busy1 = try await push("busy", 1)
            let busy2 = try await push("busy", 2)
            let quiet = try await push("quiet", 3)
            // busy's newest job runs; its older queued one is superseded by it.
            let first = try #require(try await store.claim(replica: "r1", leaseFor: .seconds(30), now: clock))
            #expect(first.id == busy2.id && first.status == .running)
            #expect(try await store.job(id: busy1.id)?.status == .superseded)
            // One job per app: busy's next job waits; quiet's runs.
            clock += 1
            let busy3 = try await push("busy", 4)
            let second = try #require(try await store.claim(replica: "r2", leaseFor: .seconds(30), now: clock))
            #expect(second.id == quiet.id)
            #expect(try await store.claim(replica: "r2", leaseFor: .seconds(30), now: clock) == nil)
            try await store.finish(first.id, status: .succeeded, reason: nil, now: clock)
            #expect(try await store.claim(replica: "r1", leaseFor: .seconds(30), now: clock)?.id == busy3.id)
        }
    }

    static func pullRequest(_ number: Int, head: Character, delivery: String, fork: Bool = false) -> PullRequestEvent {
        PullRequestEvent(forge: .github, deliveryID: delivery, repository: "acme/shop", number: number, action: .updated, title: "PR \(number)",
                         author: "sam", headCommit: String(repeating: head, count: 40), sourceBranch: "feature-\(number)", targetBranch: "main",
                         fromFork: fork)
    }

    /// Previews wait in a queue per pull request: a newer push to the request supersedes its
    /// older preview, never a deploy nor another request's preview; the oldest queue goes first.
    @Test(arguments: StoreKind.available) func previewsQueuePerPullRequestBesideTheDeploys(kind: StoreKind) async throws {
        try await Self.with(kind) { _, store in
            let clock = Date(timeIntervalSince1970: 1_800_000_000)
            let deploy = try await store.enqueue(push: Self.push(delivery: "push-1"), app: "shop", now: clock).job
            guard case .created(let pr7a, _) = try await store.enqueue(preview: Self.pullRequest(7, head: "c", delivery: "pr-1", fork: true), app: "shop", now: clock) else {
                Issue.record("expected a preview"); return
            }
            #expect(pr7a.trigger == .preview && pr7a.pullRequest == 7 && pr7a.fromFork && pr7a.ref == "refs/pull/7/head" && pr7a.message == "PR 7")
            // The same head again (another event of the request, or a redelivery) is the same preview.
            #expect(try await store.enqueue(preview: Self.pullRequest(7, head: "c", delivery: "pr-2"), app: "shop", now: clock) == .existing(pr7a))
            #expect(try await store.enqueue(preview: Self.pullRequest(7, head: "c", delivery: "pr-1"), app: "shop", now: clock) == .existing(pr7a))
            let pr8 = try await store.enqueue(preview: Self.pullRequest(8, head: "e", delivery: "pr-3"), app: "shop", now: clock).job
            // A newer push to request 7 supersedes its queued preview at once; request 8's stays.
            let pushed = try await store.enqueue(preview: Self.pullRequest(7, head: "d", delivery: "pr-4"), app: "shop", now: clock)
            let pr7b = pushed.job
            #expect(pushed.superseded.map(\.id) == [pr7a.id])
            #expect(try await store.job(id: pr7a.id)?.reason == "superseded by job \(pr7b.id)")
            #expect(try await store.job(id: pr8.id)?.status == .queued)
            // A preview is not a deploy of its commit, nor the app's last job.
            #expect(try await store.hasJob(app: "shop", commit: pr7a.commit) == false)
            #expect(try await store.latestJob(app: "shop")?.id == deploy.id)

            // The deploy queue is oldest: its job runs, no preview superseded.
            let first = try #require(try await store.claim(replica: "r", leaseFor: .seconds(30), now: clock, excludingApps: []))
            #expect(first.job.id == deploy.id && first.superseded.isEmpty)
            try await store.finish(deploy.id, status: .succeeded, reason: nil, now: clock)
            // Then the oldest queue: request 8's, then request 7's.
            let second = try #require(try await store.claim(replica: "r", leaseFor: .seconds(30), now: clock, excludingApps: []))
            #expect(second.job.id == pr8.id && second.superseded.isEmpty)
            try await store.finish(pr8.id, status: .succeeded, reason: nil, now: clock)
            #expect(try await store.claim(replica: "r", leaseFor: .seconds(30), now: clock, excludingApps: [])?.job.id == pr7b.id)
        }
    }

    @Test(arguments: StoreKind.available) func aLeaseNotRenewedEndsTheJobForAnotherAttempt(kind: StoreKind) async throws {
        try await Self.with(kind) { _, store in
            let start = Date(timeIntervalSince1970: 1_800_000_000)
            let job = try await store.enqueue(push: Self.push(delivery: "d"), app: "shop", now: start).job
            let claimed = try #require(try await store.claim(replica: "r1", leaseFor: .seconds(30), now: start))
            #expect(claimed.id == job.id)
            try await store.planSteps(job.id, steps: [StepPlan(stage: "build", name: "compile")])
            try await store.updateStep(job.id, index: 0, status: .running)
            // Renewed in time: still r1's; another replica cannot renew it.
            #expect(try await store.renewLeases(replica: "r1", jobs: [job.id], leaseFor: .seconds(30), now: start + 20) == [job.id])
            #expect(try await store.renewLeases(replica: "r2", jobs: [job.id], leaseFor: .seconds(30), now: start + 20).isEmpty)
            #expect(try await store.expireLeases(maxAttempts: 2, now: start + 45).interrupted.isEmpty)
            try await store.recordStepProcess(StepProcess(jobID: job.id, processGroup: 77, host: "m", bootID: "b"))
            #expect(try await store.leftoverProcesses(host: "m", bootID: "b", leaseExpiredAt: start + 45).isEmpty)
            #expect(try await store.leftoverProcesses(host: "m", bootID: "b", leaseExpiredAt: start + 51).map(\.processGroup) == [77])
            // r1 goes silent: after its lease, the job is interrupted and queued again.
            let expired = try await store.expireLeases(maxAttempts: 2, now: start + 51)
            #expect(expired.interrupted == [job.id])
            let retry = try #require(expired.requeued.first)
            #expect(retry.attempt == 2 && retry.retryOf == job.id)
            #expect(try await store.job(id: job.id)?.reason == "r1 stopped renewing its lease; queued again as attempt 2")
            // r1's late writes fail instead of landing; its renewal reports the job lost.
            await #expect(throws: StoreError.self) { try await store.appendLog(jobID: job.id, text: "late line\n") }
            try await store.updateStep(job.id, index: 0, status: .succeeded, exitCode: 0)
            #expect(try await store.steps(job.id).map(\.status) == [.cancelled])
            #expect(try await store.renewLeases(replica: "r1", jobs: [job.id], leaseFor: .seconds(30), now: start + 52).isEmpty)
            #expect(try await store.claim(replica: "r2", leaseFor: .seconds(30), now: start + 52)?.id == retry.id)
        }
    }

    @Test(arguments: StoreKind.available) func replicasClaimingAtOnceNeverRunTwoJobsOfAnApp(kind: StoreKind) async throws {
        try await Self.with(kind) { place, store in
            for index in 0..<60 {
                _ = try await store.enqueue(app: "app\(index % 6)", ref: "refs/heads/main", commit: String(repeating: "\(index % 10)", count: 40),
                                            trigger: .manual)
            }
            let replicas = [store, try await place.open(), try await place.open()]
            let claimed = try await withThrowingTaskGroup(of: [Job].self) { group in
                for (index, replica) in replicas.enumerated() {
                    group.addTask {
                        var mine: [Job] = []
                        for _ in 0..<10 {
                            if let job = try await replica.claim(replica: "r\(index)", leaseFor: .seconds(30), now: Date()) { mine.append(job) }
                        }
                        return mine
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            for replica in replicas.dropFirst() { await replica.close() }
            #expect(claimed.count == 6)
            #expect(Set(claimed.map(\.app)).count == 6)
            #expect(try await store.jobs(JobQuery(status: .running, limit: 500)).count == 6)
        }
    }

    @Test(arguments: StoreKind.available) func oneReplicaReconcilesAnAppAtATimeAndItsStatusIsKept(kind: StoreKind) async throws {
        try await Self.with(kind) { place, store in
            let t0 = Date(timeIntervalSince1970: 1_800_000_000)
            var turn = try #require(try await store.takeReconcileTurn(app: "shop", replica: "r1", leaseFor: .seconds(300),
                                                                      unlessReconciledSince: nil, now: t0))
            #expect(turn.corrections == 0 && turn.status == nil)
            // r2 waits while r1 has the turn.
            #expect(try await store.takeReconcileTurn(app: "shop", replica: "r2", leaseFor: .seconds(300), unlessReconciledSince: nil, now: t0 + 1) == nil)
            turn.status = #"{"app":"shop","sync":"OutOfSync"}"#
            turn.corrections = 2
            turn.nextCorrectionAllowed = t0 + 120
            turn.reconciledAt = t0 + 2
            try await store.endReconcileTurn(turn, replica: "r1")
            // Reconciled a moment ago: a due tick elsewhere skips it; a refresh does not.
            #expect(try await store.takeReconcileTurn(app: "shop", replica: "r2", leaseFor: .seconds(300), unlessReconciledSince: t0 - 30, now: t0 + 3) == nil)
            let reopened = try await place.open()
            let next = try #require(try await reopened.takeReconcileTurn(app: "shop", replica: "r2", leaseFor: .seconds(300),
                                                                         unlessReconciledSince: nil, now: t0 + 4))
            #expect(next.status == turn.status && next.corrections == 2 && next.nextCorrectionAllowed == t0 + 120)
            // r2 dies holding the turn: after its lease, r1 takes it.
            #expect(try await store.takeReconcileTurn(app: "shop", replica: "r1", leaseFor: .seconds(300), unlessReconciledSince: nil, now: t0 + 100) == nil)
            #expect(try await store.takeReconcileTurn(app: "shop", replica: "r1", leaseFor: .seconds(300), unlessReconciledSince: nil, now: t0 + 305) != nil)
            #expect(try await store.reconcileRecords().map(\.app) == ["shop"])
            await reopened.close()
        }
    }
}
