import Foundation
import SlipwayCore
import SlipwayStore
import SlipwayTestSupport
import Testing

/// An app's rollout state in both stores: written whole, read back, promote and abort asked
/// in their own columns (so the runner's writes never undo them), forgotten by a new job.
@Suite struct RolloutStoreTests {
    static func state(job: JobID, step: Int = 0, phase: RolloutState.Phase = .progressing) -> RolloutState {
        var state = RolloutState(app: "shop", jobID: job, commit: String(repeating: "c", count: 40), target: "Deployment/web", namespace: "shop",
                                 steps: ["weight 20%", "pause until promoted", "analysis ok"], replicas: 5, now: Date(timeIntervalSince1970: 1_800_000_000))
        state.step = step
        state.phase = phase
        state.analyses = ["ok": ">= 0.99"]
        state.measurements = [AnalysisMeasurement(analysis: "ok", step: 2, time: Date(timeIntervalSince1970: 1_800_000_010), value: 0.5,
                                                  result: .failed, note: "0.5 does not meet >= 0.99")]
        return state
    }

    @Test(arguments: StoreKind.available) func promoteAndAbortAreAskedOfTheRunningRollout(kind: StoreKind) async throws {
        try await JobStoreTests.with(kind) { place, store in
            #expect(try await store.rollout(app: "shop") == nil)
            #expect(try await store.requestRollout(app: "shop", .promote, by: "dana") == nil, "nothing runs: nothing to promote")

            try await store.saveRollout(Self.state(job: 7, step: 1, phase: .paused))
            let asked = try #require(try await store.requestRollout(app: "shop", .promote, by: "dana"))
            #expect(asked.promoteRequestedBy == "dana" && asked.abortRequestedBy == nil)
            #expect(asked.state == Self.state(job: 7, step: 1, phase: .paused))
            // The runner's next write keeps the request; using it up clears it.
            try await store.saveRollout(Self.state(job: 7, step: 1, phase: .paused))
            #expect(try await store.rollout(app: "shop")?.promoteRequestedBy == "dana")
            #expect(try await store.rolloutRequests(app: "shop") == RolloutRequests(jobID: 7, promoteRequestedBy: "dana", abortRequestedBy: nil))
            try await store.consumePromotion(app: "shop", jobID: 7)
            #expect(try await store.rollout(app: "shop")?.promoteRequestedBy == nil)

            _ = try await store.requestRollout(app: "shop", .abort, by: "lee")
            // Another replica reads the same (a reopened store stands for it).
            let reopened = try await place.open()
            #expect(try await reopened.rollout(app: "shop")?.abortRequestedBy == "lee")
            await reopened.close()
            // A new job's rollout replaces the app's and forgets what was asked of the old one.
            try await store.saveRollout(Self.state(job: 8))
            let fresh = try #require(try await store.rollout(app: "shop"))
            #expect(fresh.state.jobID == 8 && fresh.abortRequestedBy == nil && fresh.promoteRequestedBy == nil)
            // Ended: nothing more may be asked.
            try await store.saveRollout(Self.state(job: 8, step: 3, phase: .promoted))
            #expect(try await store.requestRollout(app: "shop", .abort, by: "lee") == nil)
            #expect(try await store.rollout(app: "shop")?.state.isActive == false)
        }
    }
}
