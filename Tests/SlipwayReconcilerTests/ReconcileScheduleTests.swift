import Foundation
import SlipwayReconciler
import Testing

@Suite struct ReconcileScheduleTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func appsAreDueEveryIntervalWithJitterAndOnRefresh() {
        var schedule = ReconcileSchedule(jitter: 0.1)
        schedule.register("a", interval: .seconds(180), now: t0, random: 0.5)   // first due at +9 s
        schedule.register("b", interval: .seconds(60), now: t0, random: 0)      // due at once
        #expect(schedule.due(now: t0) == ["b"])
        #expect(schedule.due(now: t0 + 9) == ["b", "a"])
        schedule.reconciled("b", now: t0, random: 0.5)                          // next at +63 s
        #expect(schedule.due(now: t0 + 62) == ["a"])
        #expect(schedule.due(now: t0 + 63).contains("b"))
        schedule.reconciled("a", now: t0 + 10, random: 1)                       // next at +10 + 198 s
        #expect(!schedule.due(now: t0 + 207).contains("a"))
        #expect(schedule.due(now: t0 + 208).contains("a"))
        schedule.refresh("a", now: t0 + 20)
        #expect(schedule.due(now: t0 + 20).contains("a"))
    }

    @Test func correctionsBackOffExponentiallyAndResetWhenInSync() {
        var schedule = ReconcileSchedule(correctionBackoff: .seconds(30), maxCorrectionBackoff: .seconds(100))
        schedule.register("a", interval: .seconds(60), now: t0, random: 0)
        let decision1 = schedule.shouldCorrect("a", drifted: true, now: t0)            // 1st: now, then wait 30 s
        #expect(decision1)
        let decision2 = schedule.shouldCorrect("a", drifted: true, now: t0 + 29)
        #expect(!decision2)
        let decision3 = schedule.shouldCorrect("a", drifted: true, now: t0 + 30)       // 2nd, then wait 60 s
        #expect(decision3)
        let decision4 = schedule.shouldCorrect("a", drifted: true, now: t0 + 89)
        #expect(!decision4)
        let decision5 = schedule.shouldCorrect("a", drifted: true, now: t0 + 90)       // 3rd, then wait min(120, 100) s
        #expect(decision5)
        #expect(schedule.nextCorrection("a") == t0 + 190)
        let decision6 = schedule.shouldCorrect("a", drifted: true, now: t0 + 189)
        #expect(!decision6)
        let decision7 = schedule.shouldCorrect("a", drifted: false, now: t0 + 150)    // in sync again: reset
        #expect(!decision7)
        #expect(schedule.nextCorrection("a") == nil)
        let decision8 = schedule.shouldCorrect("a", drifted: true, now: t0 + 151)
        #expect(decision8)
    }
}
