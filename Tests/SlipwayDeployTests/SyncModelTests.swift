import Foundation
import KubeTestServer
import SlipwayCore
import SlipwayDeploy
import SlipwayKube
import SlipwayTestSupport
import Testing

/// Argo CD's sync model against the Kubernetes API test server (whose simulated controllers
/// complete a Job, or fail it when its image is tagged `fails`): sync waves that wait for
/// health, PreSync / Sync / PostSync hooks with their delete policies, both annotation
/// spellings.
@Suite struct SyncModelTests {
    typealias Lines = DeployerTests.Lines

    static func sync(_ yaml: String) throws -> SyncSet {
        try SyncSet.split(try Renderer.renderOutput(yaml, variables: [:]))
    }

    static func deploy(_ deployer: Deployer, _ yaml: String, options: Deployer.Options = DeployerTests.options, previous: [ObjectReference] = [],
                       lines: Lines) async throws -> Deployer.Outcome {
        let set = try sync(yaml)
        let plan = try await deployer.plan(set.resources, defaultNamespace: options.defaultNamespace, applySetID: options.applySetID)
        return try await deployer.deploy(plan, options: options, previous: previous, hooks: set.hooks) { await lines.add($0) }
    }

    static let namespace = """
        apiVersion: v1
        kind: Namespace
        metadata: {name: shop}
        """

    static func configMap(_ name: String, wave: Int?, argo: Bool = false) -> String {
        let annotation = wave.map { "\(argo ? "argocd.argoproj.io" : "slipway.dev")/sync-wave: \"\($0)\"" } ?? ""
        return "\n" + """
            ---
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: \(name), annotations: {\(annotation)}}
            data: {k: v}
            """
    }

    static func deployment(_ name: String, image: String, wave: Int) -> String {
        "\n" + """
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: \(name), annotations: {slipway.dev/sync-wave: "\(wave)"}}
        spec:
          replicas: 1
          selector: {matchLabels: {app: \(name)}}
          template:
            metadata: {labels: {app: \(name)}}
            spec: {containers: [{name: \(name), image: "\(image)"}]}
        """
    }

    static func job(_ name: String, hook: String, image: String = "tools:1", policy: String? = nil, argo: Bool = false, generate: Bool = false) -> String {
        let prefix = argo ? "argocd.argoproj.io" : "slipway.dev"
        let policyLine = policy.map { ", \(prefix)/hook-delete-policy: \($0)" } ?? ""
        return "\n" + """
            ---
            apiVersion: batch/v1
            kind: Job
            metadata: {\(generate ? "generateName: \(name)-" : "name: \(name)"), annotations: {\(prefix)/hook: "\(hook)"\(policyLine)}}
            spec:
              backoffLimit: 0
              template:
                spec:
                  restartPolicy: Never
                  containers: [{name: \(name), image: "\(image)"}]
            """
    }

    @Test func wavesGoInOrderAndEachWaitsForTheOneBefore() async throws {
        try await DeployerTests.withDeployer { deployer, server, lines in
            let yaml = Self.namespace + Self.configMap("late", wave: 5) + Self.configMap("early", wave: -1, argo: true)
                + Self.deployment("db", image: "db:1", wave: 0) + Self.configMap("plain", wave: nil)
            let outcome = try await Self.deploy(deployer, yaml, lines: lines)
            #expect(outcome.applied.map(\.name) == ["shop", "early", "plain", "db", "late"])
            let log = await lines.all
            let order = ["wave -1: ConfigMap shop/early", "wave 0: ConfigMap shop/plain, Deployment shop/db", "wave 5: ConfigMap shop/late"]
                .map { line in log.firstIndex { $0.contains(line) } }
            #expect(order.allSatisfy { $0 != nil } && order == order.sorted { ($0 ?? 0) < ($1 ?? 0) }, "\(log)")
            #expect(await lines.contains("wave 0: waiting until its 2 object(s) are healthy before wave 5"))

            // A wave that never gets healthy: the next one is never applied.
            var short = DeployerTests.options
            short.wait = .seconds(2)
            let blocked = Self.namespace + Self.deployment("stuck", image: "db:unschedulable", wave: 0) + Self.configMap("after", wave: 1)
            await #expect(throws: DeployError.self) { try await Self.deploy(deployer, blocked, options: short, lines: lines) }
            #expect(await server.cluster.object(apiVersion: "v1", kind: "ConfigMap", namespace: "shop", name: "after") == nil)
            #expect(await server.cluster.object(apiVersion: "apps/v1", kind: "Deployment", namespace: "shop", name: "stuck") != nil)
        }
    }

    @Test func aFailedPreSyncHookStopsTheDeployBeforeTheAppsObjects() async throws {
        try await DeployerTests.withDeployer { deployer, server, lines in
            let yaml = Self.namespace + Self.job("migrate", hook: "PreSync", image: "migrate:fails", argo: true) + Self.deployment("web", image: "web:1", wave: 0)
            do {
                _ = try await Self.deploy(deployer, yaml, lines: lines)
                Issue.record("the deploy went on after a failed PreSync hook")
            } catch {
                #expect("\(error)" == "PreSync hook Job shop/migrate failed: BackoffLimitExceeded: Job has reached the specified backoff limit", "\(error)")
            }
            #expect(await server.cluster.object(apiVersion: "apps/v1", kind: "Deployment", namespace: "shop", name: "web") == nil)
            #expect(await lines.contains("container migrate Error (exit 1)"))
            // BeforeHookCreation (the default) keeps a failed hook for inspection.
            #expect(await server.cluster.object(apiVersion: "batch/v1", kind: "Job", namespace: "shop", name: "migrate") != nil)
        }
    }

    @Test func syncAndPostSyncHooksRunAndTheirDeletePoliciesHold() async throws {
        try await DeployerTests.withDeployer { deployer, server, lines in
            let yaml = Self.namespace + Self.deployment("web", image: "web:1", wave: 0)
                + Self.job("seed", hook: "Sync")
                + Self.job("smoke", hook: "PostSync", policy: "HookSucceeded", generate: true)
            let first = try await Self.deploy(deployer, yaml, lines: lines)
            #expect(first.applied.map(\.name) == ["shop", "web"], "hooks are not in the inventory")
            #expect(await lines.contains("Sync hook Job shop/seed succeeded"))
            #expect(await lines.contains("container seed Completed (exit 0)"))
            let log = await lines.all
            let smoke = try #require(log.first { $0.hasPrefix("PostSync hook Job shop/smoke-") && $0.hasSuffix("succeeded") })
            let healthy = try #require(log.firstIndex { $0.contains("the applied objects: all") })
            #expect(healthy < (log.firstIndex(of: smoke) ?? 0), "PostSync runs once everything is healthy")
            // HookSucceeded: gone (once the garbage collector is done). The generated name is new each run.
            try await waitFor { await server.cluster.objects(apiVersion: "batch/v1", kind: "Job").compactMap { $0[path: ["metadata", "name"]]?.stringValue } == ["seed"] }
            let seedUID = await server.cluster.object(apiVersion: "batch/v1", kind: "Job", namespace: "shop", name: "seed")?[path: ["metadata", "uid"]]

            // Again: the fixed-name hook is deleted first and made afresh; nothing is pruned.
            let second = try await Self.deploy(deployer, yaml, previous: first.applied, lines: lines)
            #expect(second.pruned.isEmpty)
            #expect(await lines.contains("deleted the previous Job shop/seed (BeforeHookCreation)"))
            let newUID = await server.cluster.object(apiVersion: "batch/v1", kind: "Job", namespace: "shop", name: "seed")?[path: ["metadata", "uid"]]
            #expect(newUID != nil && newUID != seedUID)
            #expect(await lines.all.filter { $0.hasPrefix("PostSync hook Job shop/smoke-") && $0.hasSuffix("created; waiting for it to finish") }.count == 2)
        }
    }

    @Test func aPodHookRunsToItsEndAndAFailingOneFailsTheDeploy() async throws {
        try await DeployerTests.withDeployer { deployer, server, lines in
            func pod(_ name: String, image: String, policy: String) -> String {
                "\n" + """
                ---
                apiVersion: v1
                kind: Pod
                metadata: {name: \(name), annotations: {slipway.dev/hook: PostSync, slipway.dev/hook-delete-policy: \(policy)}}
                spec: {restartPolicy: Never, containers: [{name: check, image: "\(image)"}]}
                """
            }
            _ = try await Self.deploy(deployer, Self.namespace + Self.configMap("c", wave: nil) + pod("check", image: "check:1", policy: "HookSucceeded"), lines: lines)
            #expect(await lines.contains("PostSync hook Pod shop/check succeeded"))
            #expect(await lines.contains("pod check Succeeded; container check Completed (exit 0)"))
            try await waitFor { await server.cluster.object(apiVersion: "v1", kind: "Pod", namespace: "shop", name: "check") == nil }

            await #expect(throws: DeployError.self) {
                try await Self.deploy(deployer, Self.namespace + Self.configMap("c", wave: nil) + pod("check", image: "check:fails", policy: "HookFailed"), lines: lines)
            }
            #expect(await lines.contains("PostSync hook Pod shop/check failed: the pod failed"))
            #expect(await lines.contains("PostSync hook Pod shop/check deleted (HookFailed)"))
        }
    }

    @Test func annotationsAreReadInBothSpellingsAndBadOnesNameTheirPlace() throws {
        let set = try Self.sync(Self.namespace + Self.job("a", hook: "PreSync,PostSync", argo: true) + """

            ---
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: skipped, annotations: {argocd.argoproj.io/hook: Skip}}
            """ + Self.configMap("kept", wave: 3))
        #expect(set.resources.map(\.name) == ["shop", "kept"])
        #expect(set.skipped.map(\.name) == ["skipped"])
        #expect(set.hooks(.preSync).map(\.manifest.name) == ["a"])
        #expect(set.hooks(.postSync).map(\.manifest.name) == ["a"])
        #expect(set.hooks(.sync).isEmpty)
        #expect(set.hooks.first?.annotations.deletePolicies == [.beforeHookCreation])
        #expect(throws: DeployError.self) { try Self.sync(Self.configMap("x", wave: nil).replacingOccurrences(of: "annotations: {}", with: "annotations: {slipway.dev/sync-wave: soon}")) }
        do {
            _ = try Self.sync(Self.job("b", hook: "BeforeSync"))
        } catch {
            #expect("\(error)".contains("render command output document 1 (line 3): Job b: slipway.dev/hook 'BeforeSync' is not one of PreSync, Sync, PostSync, SyncFail, Skip"), "\(error)")
        }
    }
}
