import Foundation
import KubeTestServer
import SlipwayClient
import SlipwayConfig
import SlipwayCore
import SlipwayKube
import SlipwayStore
import SlipwayTestSupport
import Testing

/// The kubernetes executor end to end: `slipway`'s runner, a real git repository, the
/// Kubernetes API test server whose kubelet runs each container's command as a local process
/// (the image is not run), with the workspace fetched over HTTPS from the server with curl.
@Suite(.serialized) struct PodExecutorTests {
    static let namespace = "builds"

    /// A server whose build and test steps run as pods of `kube`; its own URL is set before
    /// it starts, since pods fetch their workspace there.
    static func withPodServer(_ kube: KubeTestServer, repository: GitRepository, configure: (inout ServerConfig) -> Void = { _ in },
                              _ body: (LiveServer) async throws -> Void) async throws {
        let client = try kube.client()
        _ = try await client.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(namespace)]], fieldManager: "setup", force: true)
        let port = try freeLoopbackPort()
        try await withLiveServer(runner: true, clusters: ["test": client], configure: { config in
            config.port = port
            config.killGrace = .seconds(2)
            config.apps[0].repoURL = repository.url
            config.apps[0].secrets = ["API_KEY": SecretValue("s3cr3t-value-123")]
            config.executor = .kubernetes
            var settings = KubernetesExecutorSettings(cluster: "test", namespace: namespace)
            // The recorded node's images (workloads 187), pulled never: what it lacks cannot run.
            settings.imagePullPolicy = "Never"
            settings.fetchImage = "slipway.local/busybox:1"
            settings.defaultImage = "slipway.local/debian:12"
            settings.serverURL = "https://localhost:\(port)"
            config.kubernetes = settings
            configure(&config)
        }, body)
        await client.shutdown()
    }

    /// What is left of job pods in the namespace: pods and secrets (none, after every job).
    static func leftovers(_ kube: KubeTestServer) async -> [String] {
        var names: [String] = []
        for kind in ["Pod", "Secret", "NetworkPolicy"] {
            let apiVersion = kind == "NetworkPolicy" ? "networking.k8s.io/v1" : "v1"
            for object in await kube.cluster.objects(apiVersion: apiVersion, kind: kind)
            where object[path: ["metadata", "namespace"]]?.stringValue == namespace {
                names.append("\(kind)/\(object[path: ["metadata", "name"]]?.stringValue ?? "")")
            }
        }
        return names
    }

    /// One step that says it waits, waits until the test creates `go` in `gate`, and says it ran.
    static func gatedPipeline(_ gate: TemporaryDirectory) -> [String: String] {
        [".slipway.yaml": """
            stages:
              build:
                - name: work
                  run: |
                    echo "job $SLIPWAY_JOB_ID waiting"
                    while [ ! -f \(gate.path)/go ]; do sleep 0.05; done
                    echo "job $SLIPWAY_JOB_ID ran"
            """]
    }

    /// Waits until no job pod, Secret or policy is left; names what is left when some stays.
    static func waitUntilClean(_ kube: KubeTestServer, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        do {
            try await waitFor(timeout: .seconds(20)) { await leftovers(kube).isEmpty }
        } catch {
            Issue.record("left in the namespace: \(await leftovers(kube))", sourceLocation: sourceLocation)
        }
    }

    @Test func aPipelineWithTwoImagesRunsToTheEndWithItsLogLiveAndSecretsMasked() async throws {
        let kube = try await KubeTestServer.start(controllers: true, processes: true)
        let gate = try TemporaryDirectory("pod-gate")
        defer { gate.remove() }
        let repository = try GitRepository.make(files: [
            "README.md": "hello from the repository\n",
            ".slipway.yaml": """
                image: slipway.local/debian:12
                stages:
                  build:
                    - name: compile
                      run: |
                        echo "compiling $SLIPWAY_COMMIT_SHORT in $SLIPWAY_WORKSPACE"
                        cat README.md
                        echo built > out.txt
                      resources: {cpu: 100m, memory: 64Mi}
                  test:
                    - name: unit
                      image: slipway.local/busybox:1
                      run: |
                        cat out.txt
                        echo "the key is $API_KEY"
                        echo waiting
                        while [ ! -f \(gate.path)/go ]; do sleep 0.05; done
                        echo done
                """,
        ])
        defer { repository.directory.remove() }
        try await Self.withPodServer(kube, repository: repository) { server in
            let id = try await server.push(app: "github", commit: try repository.head())
            // Live: the step's first lines are in the API while it still runs.
            try await waitFor { try await server.log(of: id).contains("[test/unit] waiting") }
            #expect(try await server.store.job(id: id)?.status == .running)
            let pods = await kube.cluster.objects(apiVersion: "v1", kind: "Pod")
            let pod = try #require(pods.first)
            #expect(pod[path: ["spec", "initContainers"]]?.arrayValue?.map { $0["image"]?.stringValue ?? "" } == ["slipway.local/busybox:1", "slipway.local/debian:12"])
            #expect(pod[path: ["spec", "containers"]]?.arrayValue?.first?["image"] == "slipway.local/busybox:1")
            #expect(pod[path: ["spec", "initContainers"]]?.arrayValue?.last?[path: ["resources", "limits", "memory"]] == "64Mi")
            #expect(pod[path: ["spec", "automountServiceAccountToken"]] == false)
            #expect(pod[path: ["spec", "restartPolicy"]] == "Never")
            // The secret's value is in the job's Secret, never in the pod's spec.
            let spec = String(decoding: try SlipwayJSON.data(pod), as: UTF8.self)
            #expect(!spec.contains("s3cr3t-value-123"))
            FileManager.default.createFile(atPath: gate.path + "/go", contents: Data())

            let job = try await server.waitForEnd(of: id)
            let log = try await server.log(of: id)
            #expect(job.status == .succeeded, "\(job.reason ?? "")\n\(log)")
            // SLIPWAY_WORKSPACE is the mount path (the stand-in kubelet maps it to a local folder).
            #expect(log.contains("[build/compile] compiling \(try repository.head().prefix(7)) in /"), "\(log)")
            #expect(log.contains("[build/compile] hello from the repository"))
            #expect(log.contains("[test/unit] built"), "the steps share the workspace")
            #expect(log.contains("[test/unit] the key is ***"))
            #expect(!log.contains("s3cr3t-value-123"))
            #expect(log.contains("[test/unit] done"))
            let steps = try await server.store.steps(id)
            #expect(steps.map(\.status) == [.succeeded, .succeeded])
            #expect(steps.map(\.exitCode) == [0, 0])
            try await Self.waitUntilClean(kube)
        }
        await kube.stop()
    }

    /// A failing step, a step past its timeout, an image the node cannot have: each ends the
    /// job with the step's record saying why, the later steps skipped, nothing left behind.
    @Test func aFailingStepATimeoutAndAMissingImageEachEndTheJobSayingWhy() async throws {
        let kube = try await KubeTestServer.start(controllers: true, processes: true)
        let repository = try GitRepository.make(files: [".slipway.yaml": "stages:\n  build:\n    - {name: ok, run: 'true'}\n"])
        defer { repository.directory.remove() }
        func pipeline(_ build: String) -> [String: String?] {
            [".slipway.yaml": "stages:\n  build:\n\(build)\n  test:\n    - {name: after, run: echo never}\n"]
        }
        try await Self.withPodServer(kube, repository: repository) { server in
            // Exit 7.
            var commit = try repository.commit(files: pipeline("    - {name: compile, run: 'echo about to fail; exit 7'}"), message: "fails")
            var id = try await server.push(app: "github", commit: commit)
            var job = try await server.waitForEnd(of: id)
            var log = try await server.log(of: id)
            #expect(job.status == .failed)
            #expect(job.reason == "step build/compile failed with exit code 7", "\(job.reason ?? "")\n\(log)")
            #expect(log.contains("[build/compile] about to fail"))
            var steps = try await server.store.steps(id)
            #expect(steps.map(\.status) == [.failed, .skipped])
            #expect(steps.first?.exitCode == 7)
            try await Self.waitUntilClean(kube)

            // Past its timeout: the pod is deleted with the kill grace (2 s; the step ignores SIGTERM).
            commit = try repository.commit(files: pipeline("    - {name: compile, run: \"trap '' TERM; echo started; sleep 30\", timeout: 1s}"), message: "hangs")
            id = try await server.push(app: "github", commit: commit)
            job = try await server.waitForEnd(of: id)
            log = try await server.log(of: id)
            #expect(job.status == .failed)
            #expect(job.reason?.hasPrefix("step build/compile timed out after 1.0 seconds: the pod was deleted with a grace period of 2.0 seconds") == true,
                    "\(job.reason ?? "")\n\(log)")
            steps = try await server.store.steps(id)
            #expect(steps.map(\.status) == [.timedOut, .skipped])
            #expect(steps.first?.message?.contains("timed out") == true)
            try await Self.waitUntilClean(kube)

            // An image the node does not have, never pulled (workloads 128: ErrImageNeverPull).
            commit = try repository.commit(files: pipeline("    - {name: compile, run: 'true', image: slipway.local/missing:1}"), message: "missing image")
            id = try await server.push(app: "github", commit: commit)
            job = try await server.waitForEnd(of: id)
            log = try await server.log(of: id)
            #expect(job.status == .failed)
            let expected = "image slipway.local/missing:1 could not be pulled (ErrImageNeverPull): Container image \"slipway.local/missing:1\" is not present with pull policy of Never"
            #expect(job.reason == "step build/compile could not start: \(expected)", "\(job.reason ?? "")\n\(log)")
            steps = try await server.store.steps(id)
            #expect(steps.map(\.status) == [.failed, .skipped])
            #expect(steps.first?.message == expected)
            try await Self.waitUntilClean(kube)
        }
        await kube.stop()
    }

    /// Cancel through the API: the pod is deleted (its processes get SIGTERM), the step says so.
    @Test func aCancelDeletesThePodAndTheStepSaysSo() async throws {
        let kube = try await KubeTestServer.start(controllers: true, processes: true)
        let repository = try GitRepository.make(files: [".slipway.yaml": """
            stages:
              build:
                - {name: long, run: "echo started; sleep 60"}
              test:
                - {name: after, run: echo never}
            """])
        defer { repository.directory.remove() }
        try await Self.withPodServer(kube, repository: repository) { server in
            let id = try await server.push(app: "github", commit: try repository.head())
            try await waitFor { try await server.log(of: id).contains("[build/long] started") }
            _ = try await server.withClient { try await $0.cancel(id) }
            let job = try await server.waitForEnd(of: id)
            #expect(job.status == .cancelled, "\(job.reason ?? "")")
            let steps = try await server.store.steps(id)
            #expect(steps.map(\.status) == [.cancelled, .skipped])
            #expect(steps.first?.message == "cancelled: the pod was deleted with a grace period of 2.0 seconds")
            try await Self.waitUntilClean(kube)
        }
        await kube.stop()
    }

    /// A pod deleted by someone else interrupts the job; its next attempt runs and succeeds.
    @Test func aPodDeletedBySomeoneElseInterruptsTheJobAndTheNextAttemptRuns() async throws {
        let kube = try await KubeTestServer.start(controllers: true, processes: true)
        let gate = try TemporaryDirectory("pod-gate")
        defer { gate.remove() }
        let repository = try GitRepository.make(files: Self.gatedPipeline(gate))
        defer { repository.directory.remove() }
        try await Self.withPodServer(kube, repository: repository) { server in
            let id = try await server.push(app: "github", commit: try repository.head())
            try await waitFor { try await server.log(of: id).contains("job \(id) waiting") }
            let admin = try kube.client()
            #expect(try await admin.delete(apiVersion: "v1", kind: "Pod", namespace: Self.namespace, name: "slipway-github-\(id)", propagation: "Background"))
            await admin.shutdown()
            let interrupted = try await server.waitForEnd(of: id)
            #expect(interrupted.status == .interrupted)
            #expect(interrupted.reason?.contains("was deleted (by someone else, or its node was drained) while step build/work ran") == true, "\(interrupted.reason ?? "")")
            let retry = try #require(interrupted.retriedAs)
            try await waitFor { try await server.log(of: retry).contains("job \(retry) waiting") }
            FileManager.default.createFile(atPath: gate.path + "/go", contents: Data())
            let job = try await server.waitForEnd(of: retry)
            #expect(job.status == .succeeded, "\(job.reason ?? "")")
            #expect(job.attempt == 2)
            try await Self.waitUntilClean(kube)
        }
        await kube.stop()
    }

    /// `network: false` on every step: a deny-all NetworkPolicy for the job's pod, but for the
    /// fetch from Slipway (its address given to curl, no DNS), removed with the pod. Steps
    /// that differ in network are refused when the pipeline is read, naming the step and line.
    @Test func withoutNetworkThePodGetsAPolicyAndMixedStepsAreRefused() async throws {
        let kube = try await KubeTestServer.start(controllers: true, processes: true)
        let gate = try TemporaryDirectory("pod-gate")
        defer { gate.remove() }
        let repository = try GitRepository.make(files: [".slipway.yaml": """
            stages:
              build:
                - {name: offline, network: false, run: "echo offline; while [ ! -f \(gate.path)/go ]; do sleep 0.05; done"}
            """])
        defer { repository.directory.remove() }
        try await Self.withPodServer(kube, repository: repository) { server in
            let id = try await server.push(app: "github", commit: try repository.head())
            try await waitFor { try await server.log(of: id).contains("[build/offline] offline") }
            let policies = await kube.cluster.objects(apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy")
            let policy = try #require(policies.first)
            #expect(policy[path: ["spec", "podSelector", "matchLabels", "slipway.dev/job"]] == .string(String(id)))
            #expect(policy[path: ["spec", "policyTypes"]] == ["Ingress", "Egress"])
            let egress = policy[path: ["spec", "egress"]]?.arrayValue ?? []
            #expect(egress.count == 1)
            #expect(egress.first?["to"]?.arrayValue?.first?[path: ["ipBlock", "cidr"]] == "127.0.0.1/32")
            #expect(policy[path: ["metadata", "ownerReferences"]]?.arrayValue?.first?["kind"] == "Pod")
            let pod = try #require(await kube.cluster.objects(apiVersion: "v1", kind: "Pod").first)
            let fetch = pod[path: ["spec", "initContainers"]]?.arrayValue?.first?["command"]?.arrayValue?.last?.stringValue ?? ""
            #expect(fetch.contains("--resolve 'localhost:\(server.config.port):127.0.0.1'"), "\(fetch)")
            FileManager.default.createFile(atPath: gate.path + "/go", contents: Data())
            let job = try await server.waitForEnd(of: id)
            #expect(job.status == .succeeded, "\(job.reason ?? "")")
            try await Self.waitUntilClean(kube)

            let mixed = try repository.commit(files: [".slipway.yaml": """
                stages:
                  build:
                    - {name: download, run: echo online}
                  test:
                    - {name: offline, network: false, run: echo offline}
                """], message: "mixed")
            let refused = try await server.waitForEnd(of: try await server.push(app: "github", commit: mixed))
            #expect(refused.status == .failed)
            #expect(refused.reason?.hasPrefix(".slipway.yaml:5:") == true, "\(refused.reason ?? "")")
            #expect(refused.reason?.contains("step 'offline' has network: false but step 'download' needs the network") == true)
        }
        await kube.stop()
    }

    /// `slipway serve` killed with -9 while its job's pod runs: started again, it deletes that
    /// pod before the next attempt's pod is made, and the next attempt runs once.
    @Test func aServerKilledWhileItsPodRunsDeletesItBeforeTheNextAttemptRunsOnce() async throws {
        let kube = try await KubeTestServer.start(controllers: true, processes: true)
        let admin = try kube.client()
        _ = try await admin.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(Self.namespace)]], fieldManager: "setup", force: true)
        let gate = try TemporaryDirectory("pod-gate")
        defer { gate.remove() }
        let repository = try GitRepository.make(files: Self.gatedPipeline(gate))
        defer { repository.directory.remove() }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let port = try freeLoopbackPort()
        let config = try dir.write("slipway.yaml", """
            listen: {host: 127.0.0.1, port: \(port)}
            data_dir: \(dir.path)/data
            runner:
              max_attempts: 2
              kill_grace: 2s
              executor: kubernetes
              kubernetes:
                cluster: test
                namespace: \(Self.namespace)
                image_pull_policy: Never
                fetch_image: slipway.local/busybox:1
                default_image: slipway.local/debian:12
                server_url: https://localhost:\(port)
            clusters:
              - {name: test, kubeconfig: \(kube.kubeconfigPath)}
            api_tokens:
              - {name: admin, role: admin, token: {env: ADMIN_TOKEN}}
            apps:
              - {name: app, repo: \(repository.url), forge: github, webhook_secrets: [{env: HOOK_SECRET}]}
            """)
        let environment = ["ADMIN_TOKEN": "admin", "HOOK_SECRET": "s"]
        let caFile = dir.path + "/data/tls/server.crt"

        let first = try await ServerProcess.start(configPath: config, environment: environment)
        let sent = try await runSlipway(["send-test-hook", "app", "--commit", try repository.head(), "--config", config,
                                         "--server", "https://localhost:\(port)"], environment: environment)
        #expect(sent.status == 0, "\(sent.output)")
        var api = try APIClient(baseURL: "https://localhost:\(port)", token: "admin", caFile: caFile)
        try await waitFor { String(decoding: try await api.send(.GET, "/api/v1/jobs/1/log").body, as: UTF8.self).contains("job 1 waiting") }
        await first.kill()
        try await api.shutdown()
        #expect(await kube.cluster.objects(apiVersion: "v1", kind: "Pod").count == 1, "the pod outlives the server that made it")

        let second = try await ServerProcess.start(configPath: config, environment: environment)
        defer { second.stop() }
        api = try APIClient(baseURL: "https://localhost:\(port)", token: "admin", caFile: caFile)
        try await waitFor { String(decoding: try await api.send(.GET, "/api/v1/jobs/2/log").body, as: UTF8.self).contains("job 2 waiting") }
        #expect(try await api.job(1).status == .interrupted)
        let requests = await kube.cluster.requestLog
        let deleted = try #require(requests.firstIndex { $0.hasPrefix("DELETE /api/v1/namespaces/\(Self.namespace)/pods/slipway-app-1") })
        let created = try #require(requests.firstIndex { $0.hasPrefix("PATCH /api/v1/namespaces/\(Self.namespace)/pods/slipway-app-2") })
        #expect(deleted < created, "the old attempt's pod is deleted before the next one's is made")
        #expect(await kube.cluster.objects(apiVersion: "v1", kind: "Pod").compactMap { $0[path: ["metadata", "name"]]?.stringValue } == ["slipway-app-2"])
        FileManager.default.createFile(atPath: gate.path + "/go", contents: Data())
        try await waitFor { try await api.job(2).status.isFinal }
        #expect(try await api.job(2).status == .succeeded)
        let log = String(decoding: try await api.send(.GET, "/api/v1/jobs/2/log").body, as: UTF8.self)
        #expect(log.components(separatedBy: "job 2 ran").count == 2, "the next attempt ran once")
        #expect(try await api.jobs().count == 2)
        try await api.shutdown()
        try await Self.waitUntilClean(kube)
        await admin.shutdown()
        await kube.stop()
    }

    /// A builds namespace the cluster does not have stops `slipway serve` at start, saying what to do.
    @Test func aMissingBuildsNamespaceIsRefusedAtStart() async throws {
        let kube = try await KubeTestServer.start()
        let admin = try kube.client()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let config = try dir.write("slipway.yaml", """
            listen: {host: 127.0.0.1, port: 0}
            data_dir: \(dir.path)/data
            public_url: https://localhost:8443
            runner:
              kubernetes: {cluster: test, namespace: nowhere}
            clusters:
              - {name: test, kubeconfig: \(kube.kubeconfigPath)}
            """)
        do {
            let server = try await ServerProcess.start(configPath: config)
            server.stop()
            Issue.record("slipway serve started without its builds namespace")
        } catch ServerProcessError.exited(let output) {
            #expect(output.contains("runner.kubernetes.namespace 'nowhere' does not exist on cluster 'test'"), "\(output)")
        }
        await admin.shutdown()
        await kube.stop()
    }

    /// A step that prints fast (many lines share the kubelet's time stamp): every line arrives, once.
    @Test func everyLineOfAFastStepArrivesOnce() async throws {
        let kube = try await KubeTestServer.start(controllers: true, processes: true)
        let repository = try GitRepository.make(files: [".slipway.yaml": "stages:\n  build:\n    - {name: fast, run: 'seq 1 5000'}\n"])
        defer { repository.directory.remove() }
        try await Self.withPodServer(kube, repository: repository) { server in
            let id = try await server.push(app: "github", commit: try repository.head())
            let job = try await server.waitForEnd(of: id)
            #expect(job.status == .succeeded, "\(job.reason ?? "")")
            let log = try await server.log(of: id)
            let lines = log.split(separator: "\n").filter { $0.contains("[build/fast] ") }.map { $0.split(separator: " ").last.map(String.init) ?? "" }
            // Compared as a count and a check, not as two arrays (a failure would print 10,000 lines).
            #expect(lines.count == 5000, "\(lines.count) lines; the log ends: \(log.split(separator: "\n").suffix(8).joined(separator: "\n"))")
            #expect(lines == (1...5000).map(String.init), "the lines are not 1 to 5000 in order")
        }
        await kube.stop()
    }
}
