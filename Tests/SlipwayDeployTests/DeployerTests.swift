import Foundation
import KubeTestServer
import Logging
import SlipwayConfig
import SlipwayCore
import SlipwayDeploy
import SlipwayKube
import SlipwayTestSupport
import Testing

/// The deployer against the Kubernetes API test server (which plays the workload controllers).
@Suite struct DeployerTests {
    actor Lines {
        var all: [String] = []
        func add(_ line: String) { all.append(line) }
        func contains(_ text: String) -> Bool { all.contains { $0.contains(text) } }
    }

    static func manifests(_ yaml: String) throws -> [Manifest] {
        try Renderer.renderOutput(yaml, variables: [:])
    }

    static let base = """
        apiVersion: v1
        kind: Namespace
        metadata: {name: shop}
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: settings}
        data: {LOG_LEVEL: info}
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          replicas: 2
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers: [{name: web, image: "shop:1"}]
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: web}
        spec:
          selector: {app: web}
          ports: [{port: 80}]
        """

    static func withDeployer<T>(_ body: (Deployer, KubeTestServer, Lines) async throws -> T) async throws -> T {
        let server = try await KubeTestServer.start(controllers: true)
        let client = try server.client()
        let lines = Lines()
        do {
            let result = try await body(Deployer(client: client, pollInterval: .milliseconds(50)), server, lines)
            await client.shutdown()
            await server.stop()
            return result
        } catch {
            await client.shutdown()
            await server.stop()
            throw error
        }
    }

    static let options = Deployer.Options(defaultNamespace: "shop", applySetID: Deployer.applySetID(app: "shop", namespace: "shop"), wait: .seconds(20))

    @Test func appliesInOrderLabelsAndWaitsForHealth() async throws {
        try await Self.withDeployer { deployer, server, lines in
            let outcome = try await deployer.deploy(try Self.manifests(Self.base), options: Self.options, previous: []) { await lines.add($0) }
            #expect(outcome.applied.map(\.kind) == ["Namespace", "ConfigMap", "Service", "Deployment"])
            let web = try #require(await server.cluster.object(apiVersion: "apps/v1", kind: "Deployment", namespace: "shop", name: "web"))
            #expect(web[path: ["metadata", "labels", Deployer.partOfLabel]]?.stringValue == Self.options.applySetID)
            #expect(web[path: ["metadata", "managedFields"]]?.arrayValue?.first?["manager"] == "slipway")
            #expect(await lines.contains("the applied objects: all 4 healthy"))
            #expect(Self.options.applySetID.hasPrefix("applyset-") && Self.options.applySetID.count <= 63)
        }
    }

    @Test func aRejectedObjectStopsTheDeployBeforeAnythingChanges() async throws {
        try await Self.withDeployer { deployer, server, lines in
            _ = try await deployer.deploy(try Self.manifests(Self.base), options: Self.options, previous: []) { await lines.add($0) }
            let broken = Self.base.replacingOccurrences(of: "replicas: 2", with: "replicas: -3")
                .replacingOccurrences(of: "LOG_LEVEL: info", with: "LOG_LEVEL: debug")
            do {
                _ = try await deployer.deploy(try Self.manifests(broken), options: Self.options, previous: []) { await lines.add($0) }
                Issue.record("a rejected set was applied")
            } catch {
                #expect("\(error)".contains("the server dry-run rejected 1 object(s); nothing was applied"))
                #expect("\(error)".contains("spec.replicas: Invalid value: -3"))
                #expect("\(error)".contains("render command output document 3"))
            }
            let settings = await server.cluster.object(apiVersion: "v1", kind: "ConfigMap", namespace: "shop", name: "settings")
            #expect(settings?[path: ["data", "LOG_LEVEL"]] == "info")
        }
    }

    @Test func conflictsFailWithoutForceAndAreTakenWithIt() async throws {
        try await Self.withDeployer { deployer, server, lines in
            _ = try await deployer.deploy(try Self.manifests(Self.base), options: Self.options, previous: []) { await lines.add($0) }
            _ = await server.cluster.edit(apiVersion: "v1", kind: "ConfigMap", namespace: "shop", name: "settings", manager: "kubectl-edit",
                                          patch: ["data": ["LOG_LEVEL": "debug"]])
            var careful = Self.options
            careful.force = false
            do {
                _ = try await deployer.deploy(try Self.manifests(Self.base), options: careful, previous: []) { await lines.add($0) }
                Issue.record("the conflict was not reported")
            } catch {
                #expect("\(error)".contains("409 Conflict: Apply failed with 1 conflict: conflict with \"kubectl-edit\" using v1: .data.LOG_LEVEL"), "\(error)")
            }
            _ = try await deployer.deploy(try Self.manifests(Self.base), options: Self.options, previous: []) { await lines.add($0) }
            let settings = await server.cluster.object(apiVersion: "v1", kind: "ConfigMap", namespace: "shop", name: "settings")
            #expect(settings?[path: ["data", "LOG_LEVEL"]] == "info")
        }
    }

    @Test func pruneDeletesOnlyInventoryObjectsThatLeftGit() async throws {
        try await Self.withDeployer { deployer, server, lines in
            let extra = Self.base + """

                ---
                apiVersion: v1
                kind: ConfigMap
                metadata: {name: old}
                ---
                apiVersion: v1
                kind: ConfigMap
                metadata: {name: keep-me, annotations: {slipway.dev/prune: disabled}}
                """
            let first = try await deployer.deploy(try Self.manifests(extra), options: Self.options, previous: []) { await lines.add($0) }
            // Someone else's object that merely has the same kind and namespace.
            _ = await server.cluster.edit(apiVersion: "v1", kind: "ConfigMap", namespace: "shop", name: "settings", manager: "x", patch: [:])
            let second = try await deployer.deploy(try Self.manifests(Self.base), options: Self.options, previous: first.applied) { await lines.add($0) }
            #expect(second.pruned.map(\.name) == ["old"])
            try await waitFor { await server.cluster.object(apiVersion: "v1", kind: "ConfigMap", namespace: "shop", name: "old") == nil }
            #expect(await server.cluster.object(apiVersion: "v1", kind: "ConfigMap", namespace: "shop", name: "keep-me") != nil)
            #expect(await lines.contains("prune: keeping ConfigMap shop/keep-me (annotation slipway.dev/prune: disabled)"))

            // Prune off for the app: nothing is deleted.
            var noPrune = Self.options
            noPrune.prune = false
            let third = try await deployer.deploy(try Self.manifests(Self.base).filter { $0.kind != "Service" }, options: noPrune, previous: second.applied) { await lines.add($0) }
            #expect(third.pruned.isEmpty)
            #expect(await server.cluster.object(apiVersion: "v1", kind: "Service", namespace: "shop", name: "web") != nil)
        }
    }

    @Test func aStuckRolloutFailsFastWithTheReason() async throws {
        try await Self.withDeployer { deployer, server, lines in
            let broken = Self.base.replacingOccurrences(of: "shop:1", with: "shop:broken")
            do {
                _ = try await deployer.deploy(try Self.manifests(broken), options: Self.options, previous: []) { await lines.add($0) }
                Issue.record("an unhealthy rollout passed")
            } catch {
                #expect("\(error)".hasPrefix("Deployment shop/web is unhealthy: ProgressDeadlineExceeded"), "\(error)")
            }
        }
    }

    @Test func healthTimeoutNamesWhatIsNotReady() async throws {
        let server = try await KubeTestServer.start(controllers: false)
        let client = try server.client()
        var quick = Self.options
        quick.wait = .milliseconds(300)
        do {
            _ = try await Deployer(client: client, pollInterval: .milliseconds(50)).deploy(try Self.manifests(Self.base), options: quick, previous: []) { _ in }
            Issue.record("no controller, yet healthy")
        } catch {
            #expect("\(error)".contains("the applied objects were not healthy within 0.3 seconds: Deployment shop/web: waiting for the controller to observe generation 1"), "\(error)")
        }
        await client.shutdown()
        await server.stop()
    }

    @Test func crdsAndTheirObjectsDeployTogether() async throws {
        try await Self.withDeployer { deployer, server, lines in
            let set = """
                apiVersion: apiextensions.k8s.io/v1
                kind: CustomResourceDefinition
                metadata: {name: widgets.example.com}
                spec:
                  group: example.com
                  scope: Namespaced
                  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
                  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}]
                ---
                apiVersion: v1
                kind: Namespace
                metadata: {name: shop}
                ---
                apiVersion: example.com/v1
                kind: Widget
                metadata: {name: w1}
                spec: {size: 3}
                """
            let outcome = try await deployer.deploy(try Self.manifests(set), options: Self.options, previous: []) { await lines.add($0) }
            #expect(outcome.applied.map(\.kind) == ["CustomResourceDefinition", "Namespace", "Widget"])
            #expect(await server.cluster.object(apiVersion: "example.com/v1", kind: "Widget", namespace: "shop", name: "w1")?[path: ["spec", "size"]] == 3)
            #expect(await lines.contains("1 checked after their namespace or CRD exists"))
        }
    }
}

@Suite struct DaemonSetTimeoutTests {
    @Test func daemonSetsHaveTheirOwnTimeout() async throws {
        let server = try await KubeTestServer.start(controllers: false)
        let client = try server.client()
        let set = try Renderer.renderOutput("""
            apiVersion: v1
            kind: Namespace
            metadata: {name: shop}
            ---
            apiVersion: apps/v1
            kind: DaemonSet
            metadata: {name: agent}
            spec:
              selector: {matchLabels: {app: agent}}
              template: {metadata: {labels: {app: agent}}, spec: {containers: [{name: a, image: agent}]}}
            """, variables: [:])
        var options = DeployerTests.options
        options.wait = .milliseconds(100)
        options.daemonSetWait = .milliseconds(400)
        do {
            _ = try await Deployer(client: client, pollInterval: .milliseconds(50)).deploy(set, options: options, previous: []) { _ in }
            Issue.record("a DaemonSet nobody rolls out was healthy")
        } catch {
            #expect("\(error)".hasPrefix("DaemonSets were not healthy within their own timeout of 0.4 seconds: DaemonSet shop/agent"), "\(error)")
        }
        await client.shutdown()
        await server.stop()
    }
}

/// Large sets, slow rollouts and expired watches: what a real cluster shows.
@Suite struct DeployWaitTests {
    @Test func manyRefusalsMakeAShortReasonAndAFullLog() async throws {
        try await DeployerTests.withDeployer { deployer, server, lines in
            var yaml = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n"
            for index in 0..<60 {
                // The selector does not match the template's labels: 422 for every one.
                yaml += """
                    ---
                    apiVersion: apps/v1
                    kind: Deployment
                    metadata: {name: bad-\(index)}
                    spec:
                      selector: {matchLabels: {app: x}}
                      template: {metadata: {labels: {app: y}}, spec: {containers: [{name: c, image: "c:1"}]}}

                    """
            }
            _ = try await deployer.client.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "shop"]], fieldManager: "setup", force: true)
            do {
                _ = try await deployer.deploy(try DeployerTests.manifests(yaml), options: DeployerTests.options, previous: []) { await lines.add($0) }
                Issue.record("invalid Deployments were applied")
            } catch {
                let reason = "\(error)"
                #expect(reason.hasPrefix("the server dry-run rejected 60 object(s); nothing was applied: "), "\(reason)")
                #expect(reason.hasSuffix("; and 57 more (see the job log)"), "\(reason)")
                #expect(reason.count < 2_000)
                #expect(await lines.all.filter { $0.hasPrefix("dry-run rejected") }.count == 60)
            }
            #expect(await server.cluster.objects(apiVersion: "apps/v1", kind: "Deployment").isEmpty)
        }
        let long = String(repeating: "x", count: 170_000)
        let summary = try #require(Job.summarized(reason: long))
        #expect(summary.count <= Job.reasonLimit + 60)
        #expect(summary.hasSuffix("more characters: see the job log)"))
        #expect(Job.summarized(reason: "short") == "short")
    }

    /// Only replicas change and nothing can be scheduled: no deadline is ever reported, so
    /// the wait says what is missing while it waits and when it gives up.
    @Test func aDeploymentThatCannotScheduleSaysWhy() async throws {
        let server = try await KubeTestServer.start(controllers: true)
        let client = try server.client()
        let lines = DeployerTests.Lines()
        var options = DeployerTests.options
        // Long enough for the controller's three passes on a loaded machine.
        options.wait = .seconds(3)
        let deployer = Deployer(client: client, pollInterval: .milliseconds(50), progressInterval: .milliseconds(300))
        let set = DeployerTests.base.replacingOccurrences(of: "shop:1", with: "shop:unschedulable").replacingOccurrences(of: "replicas: 2", with: "replicas: 1")
        do {
            _ = try await deployer.deploy(try DeployerTests.manifests(set), options: options, previous: []) { await lines.add($0) }
            Issue.record("pods that cannot be scheduled were healthy")
        } catch {
            let reason = "\(error)"
            #expect(reason.hasPrefix("the applied objects were not healthy within 3.0 seconds: Deployment shop/web: "), "\(reason)")
            #expect(reason.contains("web: 0/1 available; ReplicaSet web-"), "\(reason)")
            #expect(reason.contains(": 1 Pending pod, condition PodScheduled=False Unschedulable: 0/1 nodes are available: 1 Insufficient cpu."), "\(reason)")
        }
        let logged = await lines.all
        #expect(logged.contains { $0.contains("still waiting: Deployment shop/web: 0 of 1 updated replicas available; web: 0/1 available; ReplicaSet web-") }, "\(logged)")
        await client.shutdown()
        await server.stop()
    }

    /// A watch the server ends with 410 Expired is followed by a new LIST and a new watch.
    @Test func anExpiredWatchIsListedAgain() async throws {
        let server = try await KubeTestServer.start(controllers: false)
        let client = try server.client()
        let set = """
            apiVersion: v1
            kind: Namespace
            metadata: {name: shop}
            ---
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: web}
            spec:
              replicas: 1
              selector: {matchLabels: {app: web}}
              template: {metadata: {labels: {app: web}}, spec: {containers: [{name: web, image: "shop:1"}]}}
            """
        let deploying = Task {
            try await Deployer(client: client, pollInterval: .milliseconds(50)).deploy(try DeployerTests.manifests(set), options: DeployerTests.options, previous: []) { _ in }
        }
        // The Deployments' watch itself (on a loaded machine the Namespace's may be the only
        // one open yet: expiring that one proves nothing).
        try await waitFor { await server.cluster.openWatches(ofKind: "Deployment", namespace: "shop") > 0 }
        func lists() async -> Int {
            await server.cluster.requestLog.filter { $0.hasPrefix("GET /apis/apps/v1/namespaces/shop/deployments?") && !$0.contains("watch=1") }.count
        }
        let listsBefore = await lists()
        await server.cluster.expireWatches()
        // The new LIST, then its watch.
        try await waitFor { await lists() > listsBefore }
        try await waitFor { await server.cluster.openWatches(ofKind: "Deployment", namespace: "shop") > 0 }
        _ = await server.cluster.setStatus(apiVersion: "apps/v1", kind: "Deployment", namespace: "shop", name: "web", status: [
            "observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1, "readyReplicas": 1,
        ])
        let outcome = try await deploying.value
        #expect(outcome.applied.count == 2)
        let listsAfter = await lists()
        #expect(listsAfter == listsBefore + 1, "\(listsBefore) \(listsAfter)")
        await client.shutdown()
        await server.stop()
    }
}
