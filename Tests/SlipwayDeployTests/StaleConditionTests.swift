import Foundation
import KubeTestServer
import SlipwayCore
import SlipwayDeploy
import SlipwayKube
import SlipwayTestSupport
import Testing

/// A rollback on a real cluster (recorded: Fixtures/kube/workloads 050–071): the Deployment
/// controller records the new generation while still copying the failed rollout's
/// `Progressing=False ProgressDeadlineExceeded`, and replaces it a pass later. Health waits
/// through that condition and fails only on one about the current rollout.
@Suite struct StaleConditionTests {
    static var workloads: URL { KubeTestServer.fixtures.appendingPathComponent("workloads") }

    static func recorded(_ stem: String) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: workloads.appendingPathComponent("\(stem).json")))
    }

    /// The watch of the rollback, event by event (the apply, the adopted ReplicaSet, the
    /// generation observed with the old condition, the rollout complete).
    static func rollbackEvents() throws -> [JSONValue] {
        let text = try String(contentsOf: workloads.appendingPathComponent("066-rollback-c-watch-deployment-200.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) }
            .filter { $0["type"] == "MODIFIED" }.compactMap { $0["object"] }
    }

    @Test func theRecordedRollbackIsWaitedThroughAndEndsHealthy() throws {
        let events = try Self.rollbackEvents()
        #expect(events.count == 4)
        let verdicts = events.map(HealthRules.assess)
        #expect(verdicts[0] == .progressing("waiting for the controller to observe generation 3"))
        #expect(verdicts[1] == .progressing("waiting for the controller to observe generation 3"))
        // observedGeneration 3, yet the condition is the bad rollout's, written before the apply.
        #expect(events[2][path: ["status", "observedGeneration"]] == 3)
        #expect(HealthRules.deadlineReplicaSet(events[2]) == "roll-6bdd45ffc4")
        #expect(verdicts[2] == .progressing("the Progressing condition ProgressDeadlineExceeded is from before this apply; waiting for the controller to replace it"))
        #expect(verdicts[3] == .healthy)
        // The bad rollout itself, seen before the rollback: its deadline is current.
        #expect(HealthRules.assess(try Self.recorded("062-rollback-b-get-07-200")) == .degraded("ProgressDeadlineExceeded: ReplicaSet \"roll-6bdd45ffc4\" has timed out progressing."))
    }

    /// Slipway sees the deadline within milliseconds and rolls back within the same second,
    /// so the condition's time cannot tell: the ReplicaSet it names was made from the bad
    /// template, not from the one applied now.
    @Test func aDeadlineFromTheSameSecondIsToldApartByItsReplicaSet() async throws {
        var sameSecond = try Self.rollbackEvents()[2]
        var fields = sameSecond[path: ["metadata", "managedFields"]]?.arrayValue ?? []
        fields[0]["time"] = "2026-12-07T09:48:10Z"
        sameSecond["metadata"]?["managedFields"] = .array(fields)
        #expect(HealthRules.assess(sameSecond) == .degraded("ProgressDeadlineExceeded: ReplicaSet \"roll-6bdd45ffc4\" has timed out progressing."))

        let server = try await KubeTestServer.start()
        let client = try server.client()
        _ = try await client.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "rec-rollback"]], fieldManager: "setup", force: true)
        // The two ReplicaSets as the recording listed them during the rollback.
        for set in try Self.recorded("070-rollback-c-list-replicasets-200")["items"]?.arrayValue ?? [] {
            let object: JSONValue = ["apiVersion": "apps/v1", "kind": "ReplicaSet",
                                     "metadata": ["name": set[path: ["metadata", "name"]] ?? "", "namespace": "rec-rollback",
                                                  "labels": set[path: ["metadata", "labels"]] ?? [:]],
                                     "spec": set["spec"] ?? [:]]
            _ = try await client.apply(object, fieldManager: "kube-controller-manager", force: true)
        }
        #expect(await RolloutPicture.deadlineIsFromEarlierRollout(sameSecond, replicaSet: "roll-6bdd45ffc4", client: client) == true)
        // The LIST it sends is the recorded one, to the byte (workloads 063, 070).
        let recordedList = "GET /apis/apps/v1/namespaces/rec-rollback/replicasets?labelSelector=app%3Droll&limit=500"
        let sent = await server.cluster.requestLog
        #expect(sent.contains(recordedList), "\(sent)")
        // The bad rollout's own deadline names the ReplicaSet of its current template.
        let stuck = try Self.recorded("062-rollback-b-get-07-200")
        #expect(await RolloutPicture.deadlineIsFromEarlierRollout(stuck, replicaSet: "roll-6bdd45ffc4", client: client) == false)
        // A ReplicaSet that is gone is not the current rollout's either.
        #expect(await RolloutPicture.deadlineIsFromEarlierRollout(stuck, replicaSet: "roll-0000000000", client: client) == true)
        await client.shutdown()
        await server.stop()
    }

    /// Through the deployer against the test server, which writes status in the recorded
    /// passes: a good rollout, a stuck one (fails on its own deadline), the good one again
    /// (waits through the stuck one's condition, then healthy). The controller is driven pass
    /// by pass here, so the wait surely sees the state in between however loaded the machine.
    @Test func aRollbackAfterADeadlineIsHealthy() async throws {
        let server = try await KubeTestServer.start(controllers: false)
        let client = try server.client()
        let deployer = Deployer(client: client, pollInterval: .milliseconds(50))
        let lines = DeployerTests.Lines()
        func controllers() -> Task<Void, Never> {
            Task {
                while !Task.isCancelled {
                    await server.cluster.reconcileWorkloads()
                    try? await Task.sleep(for: .milliseconds(50))
                }
            }
        }
        var running = controllers()
        let good = try DeployerTests.manifests(DeployerTests.base)
        let first = try await deployer.deploy(good, options: DeployerTests.options, previous: []) { await lines.add($0) }
        let broken = try DeployerTests.manifests(DeployerTests.base.replacingOccurrences(of: "shop:1", with: "shop:broken"))
        do {
            _ = try await deployer.deploy(broken, options: DeployerTests.options, previous: first.applied) { await lines.add($0) }
            Issue.record("a stuck rollout passed")
        } catch {
            #expect("\(error)".hasPrefix("Deployment shop/web is unhealthy: ProgressDeadlineExceeded: ReplicaSet \"web-"), "\(error)")
        }
        running.cancel()
        _ = await running.value

        let rollback = Task { try await deployer.deploy(good, options: DeployerTests.options, previous: first.applied) { await lines.add($0) } }
        try await waitFor {
            await server.cluster.object(apiVersion: "apps/v1", kind: "Deployment", namespace: "shop", name: "web")?[path: ["metadata", "generation"]] == 3
        }
        // The adopted ReplicaSet, then the new generation observed with the old condition.
        await server.cluster.reconcileWorkloads()
        await server.cluster.reconcileWorkloads()
        let stale = await server.cluster.object(apiVersion: "apps/v1", kind: "Deployment", namespace: "shop", name: "web")
        #expect(stale?[path: ["status", "observedGeneration"]] == 3)
        #expect(HealthRules.deadlineReplicaSet(stale ?? [:]) != nil)
        try await waitFor { await lines.contains("waiting for Deployment shop/web: the Progressing condition ProgressDeadlineExceeded") }
        running = controllers()
        _ = try await rollback.value
        running.cancel()
        #expect(await lines.contains("the applied objects: all 4 healthy"))
        await client.shutdown()
        await server.stop()
    }
}
