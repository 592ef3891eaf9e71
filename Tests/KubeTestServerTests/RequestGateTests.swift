import Foundation
import KubeTestServer
import SlipwayCore
import SlipwayKube
import Testing

/// `max_in_flight`: however many requests Slipway makes at once, the cluster sees at most that many.
@Suite struct RequestGateTests {
    // Each request held 100 ms: long enough that on a loaded machine (a full CI run) the
    // requests still overlap, so "at most three at once" is seen being enforced, not vacuous.
    @Test func theClusterNeverSeesMoreThanMaxInFlight() async throws {
        let server = try await KubeTestServer.start(latency: .milliseconds(100))
        let path = server.kubeconfigPath
        try server.writeKubeconfig(to: path)
        let client = try KubeClient(access: try ClusterAccess.kubeconfig(path: path), maxInFlight: 3, logger: .init(label: "test"))
        _ = try await client.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "gate"]], fieldManager: "setup", force: true)
        await server.cluster.resetConcurrencyHighWater()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<30 {
                group.addTask {
                    _ = try await client.apply(["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": .string("c-\(index)"), "namespace": "gate"]],
                                               fieldManager: "slipway", force: true)
                }
            }
            try await group.waitForAll()
        }
        let highest = await server.cluster.concurrencyHighWater
        #expect(highest <= 3)
        #expect(highest >= 2, "requests ran one after another")
        await client.shutdown()
        await server.stop()
    }
}
