import Foundation
import KubeTestServer
import SlipwayCore
import SlipwayDeploy
import SlipwayKube
import SlipwayTestSupport
import Testing

/// The app's ApplySet has the parent the KEP describes, so kubectl and other ApplySet-aware
/// tools see Slipway's sets: written before the members change, kept to what the set holds,
/// removed with the last object, under the app's rules. The test server reads the cluster as
/// such a tool does (`applySetProblems`).
@Suite struct ApplySetParentTests {
    static let parent = ApplySetParent(app: "shop", namespace: "shop")

    static var options: Deployer.Options {
        var options = DeployerTests.options
        options.applySetParent = parent
        return options
    }

    static func parentObject(_ server: KubeTestServer) async -> JSONValue? {
        await server.cluster.object(apiVersion: "v1", kind: "Secret", namespace: "shop", name: "slipway-shop")
    }

    @Test func theParentIsKeptToWhatTheSetHoldsAndGoesWithIt() async throws {
        try await DeployerTests.withDeployer { deployer, server, lines in
            // The app's namespace is the platform's (its parent lives there and stays).
            _ = try await deployer.client.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "shop"]], fieldManager: "setup", force: true)
            let base = DeployerTests.base.replacingOccurrences(of: "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\n", with: "")
            let first = try await deployer.deploy(try DeployerTests.manifests(base), options: Self.options, previous: []) { await lines.add($0) }
            let parent = try #require(await Self.parentObject(server))
            #expect(parent[path: ["metadata", "labels", "applyset.kubernetes.io/id"]]?.stringValue == Self.options.applySetID)
            #expect(parent[path: ["metadata", "annotations", "applyset.kubernetes.io/tooling"]] == "slipway/v1")
            #expect(parent[path: ["metadata", "annotations", "applyset.kubernetes.io/contains-group-kinds"]] == "ConfigMap,Deployment.apps,Service")
            #expect(parent[path: ["metadata", "annotations", "applyset.kubernetes.io/additional-namespaces"]] == nil)
            #expect(await server.cluster.applySetProblems() == [])
            // The parent's apply has the shape recorded for a Secret (workloads 084): the same
            // path and query, a body of apiVersion, kind and metadata (labels and annotations
            // as recorded for other kinds), nothing else.
            #expect(await server.cluster.requestLog.contains("PATCH /api/v1/namespaces/shop/secrets/slipway-shop?fieldManager=slipway&force=true"))
            #expect(Self.parent.object(members: []).objectValue?.keys.sorted() == ["apiVersion", "kind", "metadata"])

            // A member in another namespace is named; a kind that left git leaves the list.
            let other = """
                apiVersion: v1
                kind: ConfigMap
                metadata: {name: settings}
                data: {a: b}
                ---
                apiVersion: v1
                kind: Namespace
                metadata: {name: shop-jobs}
                ---
                apiVersion: v1
                kind: ConfigMap
                metadata: {name: settings, namespace: shop-jobs}
                data: {a: b}
                """
            var options = Self.options
            options.rules = nil
            let second = try await deployer.deploy(try DeployerTests.manifests(other), options: options, previous: first.applied) { await lines.add($0) }
            let changed = try #require(await Self.parentObject(server))
            #expect(changed[path: ["metadata", "annotations", "applyset.kubernetes.io/contains-group-kinds"]] == "ConfigMap,Namespace")
            #expect(changed[path: ["metadata", "annotations", "applyset.kubernetes.io/additional-namespaces"]] == "shop-jobs")
            #expect(await server.cluster.applySetProblems() == [])

            // Nothing left in git: everything is pruned, the parent too.
            _ = try await deployer.deploy([], options: options, previous: second.applied) { await lines.add($0) }
            try await waitFor { await Self.parentObject(server) == nil }
            #expect(await lines.contains("removed the ApplySet parent Secret shop/slipway-shop: the app has no objects left"))
            let left = await server.cluster.applySetProblems()
            #expect(left == [], "\(left)")
        }
    }

    /// The checker bites: members without a parent are what other tools cannot read.
    @Test func membersWithoutAParentAreFound() async throws {
        try await DeployerTests.withDeployer { deployer, server, lines in
            _ = try await deployer.deploy(try DeployerTests.manifests(DeployerTests.base), options: DeployerTests.options, previous: []) { await lines.add($0) }
            let problems = await server.cluster.applySetProblems()
            #expect(problems.count == 4, "\(problems)")
            #expect(problems.contains("ConfigMap shop/settings is part of ApplySet \(DeployerTests.options.applySetID), which has no parent"), "\(problems)")
        }
    }

    /// An app whose rules deny Secrets gets no parent, and its deploy goes on.
    @Test func rulesThatDenySecretsLeaveTheParentOut() async throws {
        try await DeployerTests.withDeployer { deployer, server, lines in
            var options = Self.options
            var target = DeployTarget(cluster: "test", namespace: "shop")
            target.deniedKinds = ["Secret"]
            target.allowedClusterKinds = ["Namespace"]
            options.rules = TenancyRules(app: "shop", target: target)
            _ = try await deployer.deploy(try DeployerTests.manifests(DeployerTests.base), options: options, previous: []) { await lines.add($0) }
            #expect(await Self.parentObject(server) == nil)
            #expect(await lines.contains("ApplySet parent Secret shop/slipway-shop not written: kind Secret is denied for app 'shop' (denied_kinds)"))
        }
    }
}
