import Foundation
import KubeTestServer
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
            try await waitFor { await Self.leftovers(kube).isEmpty }
        }
        await kube.stop()
    }
}
