@testable import SlipwayReconciler
import Testing

/// The pool's decisions: bounds, one reconcile per app, and apps that would only wait leave
/// their places to others.
@Suite struct ReconcilePoolTests {
    typealias Candidate = ReconcilePool.Candidate

    @Test func neverMoreThanTheLimitAndNeverAnAppTwice() {
        var pool = ReconcilePool(limit: 3)
        let due = (0..<10).map { Candidate(app: "app-\($0)", cluster: "c") }
        let first = pool.claim(changed: [], due: due, troubled: [])
        #expect(first.due == ["app-0", "app-1", "app-2"])
        // Still due (the schedule says so until they end): nothing more, nothing twice.
        #expect(pool.claim(changed: [Candidate(app: "app-1", cluster: "c")], due: due, troubled: []) == ([], []))
        pool.finish("app-1", cluster: "c")
        // A watched change of a running app waits for that reconcile; the free place goes on.
        let next = pool.claim(changed: [Candidate(app: "app-0", cluster: "c")], due: due, troubled: [])
        #expect(next.changed.isEmpty)
        #expect(next.due == ["app-1"])
        #expect(pool.running == ["app-0", "app-1", "app-2"])
    }

    @Test func watchedChangesGoFirst() {
        var pool = ReconcilePool(limit: 2)
        let picked = pool.claim(changed: [Candidate(app: "edited", cluster: "c")],
                                due: [Candidate(app: "a", cluster: "c"), Candidate(app: "b", cluster: "c")], troubled: [])
        #expect(picked.changed == ["edited"])
        #expect(picked.due == ["a"])
    }

    @Test func appsWaitingForARepositoryReadLeaveTheirPlaces() {
        var pool = ReconcilePool(limit: 2)
        let due = [Candidate(app: "mono-1", cluster: nil, waitsForRead: true), Candidate(app: "mono-2", cluster: nil, waitsForRead: true),
                   Candidate(app: "other", cluster: nil)]
        #expect(pool.claim(changed: [], due: due, troubled: []).due == ["other"])
    }

    @Test func aTroubledClusterGetsOneAppAtATime() {
        var pool = ReconcilePool(limit: 4)
        let due = [Candidate(app: "slow-1", cluster: "slow"), Candidate(app: "slow-2", cluster: "slow"),
                   Candidate(app: "slow-3", cluster: "slow"), Candidate(app: "fine-1", cluster: "fine")]
        #expect(pool.claim(changed: [], due: due, troubled: ["slow"]).due == ["slow-1", "fine-1"])
        pool.finish("slow-1", cluster: "slow")
        #expect(pool.claim(changed: [], due: Array(due[1...]), troubled: ["slow"]).due == ["slow-2"])
        pool.finish("slow-2", cluster: "slow")
        // Answering again: no cap.
        #expect(pool.claim(changed: [], due: Array(due[2...]), troubled: []).due == ["slow-3"])
    }
}
