import Foundation
import KubeTestServer
@testable import SlipwayRunner
import SlipwayConfig
import SlipwayCore
import Testing

/// What a job's pod is made of, and how its containers' states read, held to the recorded
/// answers of a real kubelet (Fixtures/kube/workloads).
@Suite struct JobPodTests {
    static func recorded(_ name: String) throws -> JSONValue {
        let data = try Data(contentsOf: KubeTestServer.fixtures.appendingPathComponent("workloads/\(name).json"))
        let value = try JSONDecoder().decode(JSONValue.self, from: data)
        return value["items"]?.arrayValue?.first ?? value
    }

    @Test func containerStatesReadAsTheRecordedKubeletReportsThem() throws {
        let oom = try #require(ContainerState.of("main", in: try Self.recorded("131-pods-p-oom-get-02-200")))
        #expect(oom == .terminated(exitCode: 137, reason: "OOMKilled", message: nil))
        #expect(oom.endMessage(memoryLimit: "8Mi") == "killed: out of memory (limit 8Mi)")

        let exit7 = try Self.recorded("119-pods-p-exit7-get-03-200")
        // The container has ended while the phase still says Running (recorded).
        #expect(exit7[path: ["status", "phase"]] == "Running")
        #expect(ContainerState.of("main", in: exit7) == .terminated(exitCode: 7, reason: "Error", message: nil))
        #expect(ContainerState.of("main", in: exit7)?.endMessage(memoryLimit: nil) == nil)

        let missing = try #require(ContainerState.of("main", in: try Self.recorded("128-pods-p-missing-get-02-200")))
        #expect(missing.startFailure(image: "slipway.local/missing:1")
                == "image slipway.local/missing:1 could not be pulled (ErrImageNeverPull): Container image \"slipway.local/missing:1\" is not present with pull policy of Never")

        let configError = try #require(ContainerState.of("main", in: try Self.recorded("165-gc-owner-get-02-200")))
        #expect(configError.startFailure(image: "x")?.hasPrefix("the container could not be created (CreateContainerConfigError): secret \"owned\" not found") == true)

        let deadline = try Self.recorded("125-pods-p-deadline-get-04-200")
        #expect(ContainerState.podFailure(deadline) == "the pod ran past its activeDeadlineSeconds: Pod was active on the node longer than the specified deadline")
        #expect(ContainerState.podTakenAway(deadline) == nil)

        // Init containers: the second failed, the third and the main one wait for ever.
        let init3 = try Self.recorded("138-init-get-04-200")
        #expect(ContainerState.of("init-2", in: init3) == .terminated(exitCode: 4, reason: "Error", message: nil))
        #expect(ContainerState.of("init-3", in: init3) == .waiting(reason: "PodInitializing", message: nil))
        #expect(ContainerState.of("init-3", in: init3)?.startFailure(image: "x") == nil, "waiting for earlier containers is normal")

        let pending = try Self.recorded("048-lists-pending-pods-200")
        #expect(ContainerState.unschedulable(pending)?.hasPrefix("0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.") == true)
        #expect(ContainerState.of("web", in: pending) == nil)

        var deleted = try Self.recorded("112-pods-p-ok-get-02-200")
        #expect(ContainerState.podTakenAway(deleted) == nil)
        deleted["metadata"]?["deletionTimestamp"] = "2026-12-07T09:50:54Z"
        #expect(ContainerState.podTakenAway(deleted)?.hasPrefix("was deleted") == true)
    }

    static func inputs(steps: [StepSpec], network: Bool = true, serviceAccount: String? = nil, template: JSONValue = [:]) -> JobPod.Inputs {
        var app = AppConfig(name: "shop_api.v2", repoURL: "file:///dev/null", branch: "main", forge: .github, webhookSecrets: [])
        app.network = network
        var settings = KubernetesExecutorSettings(cluster: "prod", namespace: "slipway-builds")
        settings.serviceAccount = serviceAccount
        settings.podTemplate = template
        let job = Job(id: 42, app: app.name, forge: .github, deliveryID: nil, trigger: .push, ref: "refs/heads/main", before: nil,
                      commit: String(repeating: "a", count: 40), message: nil, author: nil, status: .running, reason: nil,
                      createdAt: Date(), startedAt: Date(), finishedAt: nil, attempt: 2)
        return JobPod.Inputs(job: job, app: app, steps: steps, pipelineImage: "golang:1.22", settings: settings, killGrace: .seconds(10),
                             plainEnvironment: ["SLIPWAY_APP": app.name, "SLIPWAY_WORKSPACE": "/workspace"],
                             secretEnvironment: ["API_KEY": "s3cr3t"], token: "t0ken", workspaceURL: "https://slipway.example.com/api/v1/jobs/42/workspace",
                             serverCertificate: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
                             serverAddress: network ? nil : (host: "slipway.example.com", port: 443, ip: "10.0.0.7"))
    }

    @Test func thePodRunsTheFetchThenEachStepInItsImageAndHoldsNoSecret() throws {
        var compile = StepSpec(name: "Compile all", command: .shell("go build ./..."), env: ["API_KEY": "from-step"], workdir: "cmd")
        compile.resources = StepResources(cpu: "500m", memory: "1Gi")
        var lint = StepSpec(name: "lint", command: .shell("golangci-lint run"), retries: 2)
        lint.image = "golangci/golangci-lint:v1.59"
        let pod = JobPod(Self.inputs(steps: [compile, lint], template: ["nodeSelector": ["pool": "builds"], "hostNetwork": true]))
        #expect(pod.name == "slipway-shop-api-v2-42")
        #expect(pod.containers == ["workspace", "s1-compile-all", "s2-lint"])
        #expect(pod.labels == ["app.kubernetes.io/managed-by": "slipway", "slipway.dev/app": "shop_api.v2", "slipway.dev/job": "42", "slipway.dev/attempt": "2"])
        let spec = try #require(pod.pod["spec"])
        #expect(spec["restartPolicy"] == "Never")
        #expect(spec["automountServiceAccountToken"] == false)
        #expect(spec["serviceAccountName"] == nil)
        #expect(spec["nodeSelector"] == ["pool": "builds"])
        #expect(spec["hostNetwork"] == true)
        #expect(spec["terminationGracePeriodSeconds"] == 10)
        let stepsSeconds: Int64 = 30 * 60 + 3 * 30 * 60
        #expect(spec["activeDeadlineSeconds"] == .int(stepsSeconds + 3600))
        let inits = spec["initContainers"]?.arrayValue ?? []
        #expect(inits.map { $0["image"] } == ["curlimages/curl:8.10.1", "golang:1.22"])
        #expect(spec["containers"]?.arrayValue?.first?["image"] == "golangci/golangci-lint:v1.59")
        let compileContainer = inits[1]
        #expect(compileContainer["workingDir"] == "/workspace/cmd")
        #expect(compileContainer["resources"] == ["requests": ["cpu": "500m", "memory": "1Gi"], "limits": ["cpu": "500m", "memory": "1Gi"]])
        #expect(compileContainer[path: ["securityContext", "allowPrivilegeEscalation"]] == false)
        // The step's own variable wins over the app secret of the same name, as locally.
        let environment = compileContainer["env"]?.arrayValue ?? []
        #expect(environment.filter { $0["name"] == "API_KEY" } == [["name": "API_KEY", "value": "from-step"]])
        let lintEnvironment = spec["containers"]?.arrayValue?.first?["env"]?.arrayValue ?? []
        #expect(lintEnvironment.contains(["name": "API_KEY", "valueFrom": ["secretKeyRef": ["name": "slipway-shop-api-v2-42", "key": "API_KEY"]]]))
        #expect(spec["containers"]?.arrayValue?.first?["command"]?.arrayValue?.count == 5, "retries run inside the container")
        // Nothing secret in the pod: the token, the certificate and the secret are in the Secret.
        let text = String(decoding: try SlipwayJSON.data(pod.pod), as: UTF8.self)
        for secret in ["t0ken", "s3cr3t", "MIIB"] { #expect(!text.contains(secret)) }
        #expect(pod.secret[path: ["stringData", "SLIPWAY_JOB_TOKEN"]] == "t0ken")
        #expect(pod.secret[path: ["stringData", "API_KEY"]] == "s3cr3t")
        #expect(pod.networkPolicy == nil)
        let owned = pod.ownedByPod(pod.secret, uid: "u-1")
        #expect(owned[path: ["metadata", "ownerReferences"]] == [["apiVersion": "v1", "kind": "Pod", "name": "slipway-shop-api-v2-42", "uid": "u-1",
                                                                  "controller": false, "blockOwnerDeletion": false]])
    }

    @Test func aServiceAccountGetsItsTokenAndNoNetworkGetsAPolicy() throws {
        var offline = StepSpec(name: "test", command: .shell("make test"))
        offline.network = false
        let pod = JobPod(Self.inputs(steps: [offline], network: false, serviceAccount: "builder"))
        #expect(pod.pod[path: ["spec", "serviceAccountName"]] == "builder")
        #expect(pod.pod[path: ["spec", "automountServiceAccountToken"]] == true)
        let policy = try #require(pod.networkPolicy)
        #expect(policy[path: ["spec", "egress"]] == [["to": [["ipBlock": ["cidr": "10.0.0.7/32"]]], "ports": [["protocol": "TCP", "port": 443]]]])
        let fetch = pod.pod[path: ["spec", "initContainers"]]?.arrayValue?.first?["command"]?.arrayValue?.last?.stringValue ?? ""
        #expect(fetch.contains("--resolve 'slipway.example.com:443:10.0.0.7'"))
        #expect(fetch.contains("--cacert /slipway/ca.crt"))
    }

    /// The kubelet's time stamps (Go's RFC3339Nano drops trailing zeros) compare as times, so
    /// a log read on after a broken stream skips exactly the lines already written.
    @Test func logTimeStampsCompareAsTimes() {
        let earlier = PodStepRunner.sortableStamp("2026-12-07T09:50:26.0213596Z")
        let later = PodStepRunner.sortableStamp("2026-12-07T09:50:26.021359633Z")
        #expect(earlier == "2026-12-07T09:50:26.021359600Z")
        #expect(earlier < later)
        #expect(PodStepRunner.sortableStamp("2026-12-07T09:50:27Z") > later)
    }

    /// A log read on after a broken stream repeats the lines since the last line's second; of
    /// those, exactly the ones already written are skipped, lines stamped alike included.
    @Test func aLogReadOnSkipsExactlyTheLinesAlreadyRead() {
        let stamps = ["09:50:26.1", "09:50:26.2", "09:50:26.2", "09:50:26.2", "09:50:26.3"].map { "2026-12-07T\($0)00000000Z" }
        // Read so far: up to the second of the three lines stamped .2.
        var position = PodStepRunner.LogPosition(stamp: stamps[0], count: 1)
        for stamp in stamps[1...2] { position = position.after(stamp) }
        #expect(position == PodStepRunner.LogPosition(stamp: stamps[1], count: 2))
        var skipped = 0
        let admitted = stamps.filter { position.admits($0, skipped: &skipped) }
        #expect(admitted == [stamps[3], stamps[4]])
    }
}
