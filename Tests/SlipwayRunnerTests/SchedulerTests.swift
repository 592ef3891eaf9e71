import Foundation
import SlipwayRunner
import Testing

@Suite struct SchedulerTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func onePerAppAndTheWorkerLimit() {
        var scheduler = Scheduler(workers: 2)
        _ = scheduler.enqueued(1, app: "a")
        _ = scheduler.enqueued(2, app: "b")
        _ = scheduler.enqueued(3, app: "c")
        #expect(scheduler.next(now: t0) == [.start(1), .start(2)])
        #expect(scheduler.next(now: t0).isEmpty)
        // A new job for a running app waits even when a worker frees up elsewhere.
        _ = scheduler.enqueued(4, app: "a")
        scheduler.finished(2, app: "b")
        #expect(scheduler.next(now: t0 + 1) == [.start(3)])
        scheduler.finished(1, app: "a")
        #expect(scheduler.next(now: t0 + 2) == [.start(4)])
    }

    @Test func newerPushSupersedesOlderQueuedJobs() {
        var scheduler = Scheduler(workers: 1)
        _ = scheduler.enqueued(1, app: "a")
        #expect(scheduler.next(now: t0) == [.start(1)])
        #expect(scheduler.enqueued(2, app: "a").isEmpty)
        #expect(scheduler.enqueued(3, app: "a") == [.supersede([2], by: 3)])
        #expect(scheduler.enqueued(4, app: "a", cancelRunning: true) == [.supersede([3], by: 4), .cancelRunning(1, by: 4)])
        scheduler.finished(1, app: "a")
        #expect(scheduler.next(now: t0 + 1) == [.start(4)])
        // Knowing a job twice changes nothing.
        #expect(scheduler.enqueued(4, app: "a").isEmpty)
    }

    @Test func aBusyAppCannotStarveOthers() {
        var scheduler = Scheduler(workers: 1)
        var clock = t0
        var started: [String] = []
        var nextID: Int64 = 1
        let apps = ["busy", "quiet-1", "quiet-2"]
        // The busy app always has a job waiting; each quiet app queues one job once.
        _ = scheduler.enqueued(nextID, app: "busy"); nextID += 1
        _ = scheduler.enqueued(nextID, app: "quiet-1"); nextID += 1
        _ = scheduler.enqueued(nextID, app: "quiet-2"); nextID += 1
        var appOf: [Int64: String] = [1: "busy", 2: "quiet-1", 3: "quiet-2"]
        for _ in 0..<6 {
            for action in scheduler.next(now: clock) {
                guard case .start(let id) = action else { continue }
                let app = appOf[id]!
                started.append(app)
                clock += 10
                scheduler.finished(id, app: app)
                if app == "busy" {
                    appOf[nextID] = "busy"
                    _ = scheduler.enqueued(nextID, app: "busy"); nextID += 1
                }
            }
        }
        #expect(Array(started.prefix(3)).sorted() == apps.sorted())
        #expect(started.prefix(3).contains("quiet-1") && started.prefix(3).contains("quiet-2"))
    }

    @Test func drainingStartsNothing() {
        var scheduler = Scheduler(workers: 2)
        _ = scheduler.enqueued(1, app: "a")
        scheduler.drain()
        #expect(scheduler.next(now: t0).isEmpty)
    }

    @Test func droppedJobsNeverStart() {
        var scheduler = Scheduler(workers: 1)
        _ = scheduler.enqueued(1, app: "a")
        _ = scheduler.enqueued(2, app: "b")
        scheduler.dropped(1, app: "a")
        #expect(scheduler.next(now: t0) == [.start(2)])
    }
}
