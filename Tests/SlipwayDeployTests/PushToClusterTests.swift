import Foundation
import KubeTestServer
import Logging
import SlipwayConfig
import SlipwayCore
import SlipwayDeploy
import SlipwayKube
import SlipwayStore
import SlipwayTestSupport
import Testing

/// The whole path: a push to a real git repository, the runner, the deployer, the Kubernetes
/// API test server.
@Suite struct PushToClusterTests {
    static func manifests(image: String, extra: String = "") -> [String: String?] {
        [
            ".slipway.yaml": """
                stages:
                  test:
                    - {name: lint, run: test -f deploy/web.yaml}
                deploy:
                  manifests: deploy
                  variables: {TAG: "${IMAGE_TAG:=\(image)}", REVISION: "${SLIPWAY_COMMIT_SHORT}"}
                  wait: 20s
                hooks:
                  post-deploy:
                    - {name: after, run: echo deployed $SLIPWAY_COMMIT_SHORT}
                """,
            "deploy/web.yaml": """
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: web, annotations: {revision: "${REVISION}"}}
                spec:
                  replicas: 2
                  selector: {matchLabels: {app: web}}
                  template:
                    metadata: {labels: {app: web}}
                    spec:
                      containers: [{name: web, image: "shop:${TAG}"}]
                """,
            "deploy/extra.yaml": extra.isEmpty ? nil : extra,
        ]
    }

    static let extraConfigMap = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\ndata: {a: b}\n"

    /// Hooks through the runner: a PostSync smoke Job that fails fails the job and, with
    /// rollback on, re-applies the last healthy revision; the SyncFail hook runs after that.
    @Test func aFailedPostSyncHookRollsBackAndSyncFailRuns() async throws {
        let kube = try await KubeTestServer.start(controllers: true)
        let client = try kube.client()
        _ = try await client.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "shop"]], fieldManager: "setup", force: true)
        func hook(_ name: String, _ phase: String, image: String) -> String {
            """
            apiVersion: batch/v1
            kind: Job
            metadata: {generateName: \(name)-, annotations: {argocd.argoproj.io/hook: \(phase), argocd.argoproj.io/hook-delete-policy: HookSucceeded}}
            spec:
              backoffLimit: 0
              template: {spec: {restartPolicy: Never, containers: [{name: \(name), image: "\(image)"}]}}
            """
        }
        var files = Self.manifests(image: "1.0").compactMapValues { $0 }
        files["deploy/hooks.yaml"] = hook("smoke", "PostSync", image: "smoke:1") + "\n---\n" + hook("alert", "SyncFail", image: "alert:1")
        let repository = try GitRepository.make(files: files)
        defer { repository.directory.remove() }
        try await withLiveServer(runner: true, clusters: ["test": client], configure: { config in
            config.apps[0].repoURL = repository.url
            config.apps[0].target = DeployTarget(cluster: "test", namespace: "shop", rollback: true)
        }) { server in
            let good = try await server.push(app: "github", commit: try repository.head())
            var job = try await server.waitForEnd(of: good)
            var log = try await server.log(of: good)
            #expect(job.status == .succeeded, "\(job.reason ?? "")\n\(log)")
            #expect(log.contains("PostSync hook Job shop/smoke-"))
            #expect(!log.contains("SyncFail hook"))
            // HookSucceeded deleted the smoke Job; a foreground deletion ends when the garbage
            // collector has removed its pods (workloads 005-007: the object lingers ~0.4 s).
            try await waitFor { await kube.cluster.objects(apiVersion: "batch/v1", kind: "Job").isEmpty }

            files = Self.manifests(image: "2.0").compactMapValues { $0 }
            files["deploy/hooks.yaml"] = hook("smoke", "PostSync", image: "smoke:fails") + "\n---\n" + hook("alert", "SyncFail", image: "alert:1")
            let bad = try await server.push(app: "github", commit: try repository.commit(files: files.mapValues { Optional($0) }, message: "2.0, smoke fails"))
            job = try await server.waitForEnd(of: bad)
            log = try await server.log(of: bad)
            #expect(job.status == .failed)
            #expect(job.reason?.contains("PostSync hook Job shop/smoke-") == true, "\(job.reason ?? "")")
            #expect(job.reason?.contains("rolled back to") == true, "\(job.reason ?? "")")
            let rolledBack = try #require(log.range(of: "rolled back to"))
            let syncFail = try #require(log.range(of: "SyncFail hook Job shop/alert-"), "\(log)")
            #expect(rolledBack.lowerBound < syncFail.lowerBound, "SyncFail runs after the rollback")
            #expect(log.contains("container smoke Error (exit 1)"))
            let web = await kube.cluster.object(apiVersion: "apps/v1", kind: "Deployment", namespace: "shop", name: "web")
            #expect(web?[path: ["spec", "template", "spec", "containers"]]?.arrayValue?.first?["image"] == "shop:1.0")
            // The failed smoke Job stays for inspection (HookSucceeded only); the SyncFail one is gone.
            try await waitFor { await kube.cluster.objects(apiVersion: "batch/v1", kind: "Job").count == 1 }
            let jobs = await kube.cluster.objects(apiVersion: "batch/v1", kind: "Job").compactMap { $0[path: ["metadata", "name"]]?.stringValue }
            #expect(jobs.count == 1 && jobs.first?.hasPrefix("smoke-") == true, "\(jobs)")
        }
        await client.shutdown()
        await kube.stop()
    }

    @Test func aPushDeploysPrunesAndRollsBack() async throws {
        let kube = try await KubeTestServer.start(controllers: true)
        let client = try kube.client()
        _ = try await client.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "shop"]], fieldManager: "setup", force: true)

        let repository = try GitRepository.make(files: Self.manifests(image: "1.0", extra: Self.extraConfigMap).compactMapValues { $0 })
        defer { repository.directory.remove() }
        try await withLiveServer(runner: true, clusters: ["test": client], configure: { config in
            config.apps[0].repoURL = repository.url
            config.apps[0].target = DeployTarget(cluster: "test", namespace: "shop", rollback: true)
        }) { server in
            // 1. First deploy: both objects, healthy, post-deploy hook ran.
            let first = try await server.push(app: "github", commit: try repository.head())
            var job = try await server.waitForEnd(of: first)
            var log = try await server.log(of: first)
            #expect(job.status == .succeeded, "\(job.reason ?? "")\n\(log)")
            #expect(log.contains("[deploy/apply] applied Deployment shop/web"))
            #expect(log.contains("[post-deploy/after] deployed"))
            let web = await kube.cluster.object(apiVersion: "apps/v1", kind: "Deployment", namespace: "shop", name: "web")
            #expect(web?[path: ["spec", "template", "spec", "containers"]]?.arrayValue?.first?["image"] == "shop:1.0")
            #expect(web?[path: ["metadata", "annotations", "revision"]]?.stringValue == String(try repository.head().prefix(7)))
            #expect(try await server.store.steps(first).map(\.name) == ["lint", "apply manifests", "after"])

            // 2. A new image tag in git, the ConfigMap removed: applied, waited for, pruned.
            let second = try await server.push(app: "github", commit: try repository.commit(files: Self.manifests(image: "2.0"), message: "2.0"))
            job = try await server.waitForEnd(of: second)
            log = try await server.log(of: second)
            #expect(job.status == .succeeded, "\(job.reason ?? "")\n\(log)")
            #expect(log.contains("[deploy/apply] pruned ConfigMap shop/extra"))
            try await waitFor { await kube.cluster.object(apiVersion: "v1", kind: "ConfigMap", namespace: "shop", name: "extra") == nil }
            let goodCommit = try repository.head()

            // 3. A broken image: the rollout stalls, the job fails, 2.0 is re-applied, the commit is marked bad.
            let badCommit = try repository.commit(files: Self.manifests(image: "broken"), message: "broken")
            let third = try await server.push(app: "github", commit: badCommit)
            job = try await server.waitForEnd(of: third)
            log = try await server.log(of: third)
            #expect(job.status == .failed)
            #expect(job.reason?.contains("ProgressDeadlineExceeded") == true, "\(job.reason ?? "")")
            #expect(job.reason?.hasSuffix("rolled back to \(goodCommit.prefix(12))") == true, "\(job.reason ?? "")")
            let rolledBack = await kube.cluster.object(apiVersion: "apps/v1", kind: "Deployment", namespace: "shop", name: "web")
            #expect(rolledBack?[path: ["spec", "template", "spec", "containers"]]?.arrayValue?.first?["image"] == "shop:2.0")
            #expect(try await server.store.badCommit(app: "github", commit: badCommit) != nil)
            #expect(try await server.store.steps(third).map(\.status).last == .skipped)

            // 4. The bad commit again (a manual redelivery): refused before anything runs.
            let again = try await server.store.enqueue(app: "github", ref: "refs/heads/main", commit: badCommit, trigger: .manual)
            job = try await server.waitForEnd(of: again.id)
            #expect(job.status == .failed)
            #expect(job.reason?.contains("was rolled back as bad by job \(third)") == true, "\(job.reason ?? "")")

            // 5. A newer commit deploys normally.
            let fourth = try await server.push(app: "github", commit: try repository.commit(files: Self.manifests(image: "3.0"), message: "3.0"))
            #expect(try await server.waitForEnd(of: fourth).status == .succeeded)
        }
        await client.shutdown()
        await kube.stop()
    }

    /// A failed deploy keeps what it sent, resolved: the rollback prunes what the bad commit
    /// added, the next deploy finds its live objects, and drift agrees with the cluster.
    @Test func aFailedDeployRollbackNextDeployAndDriftAgree() async throws {
        let kube = try await KubeTestServer.start(controllers: true)
        let client = try kube.client()
        _ = try await client.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "shop"]], fieldManager: "setup", force: true)
        let repository = try GitRepository.make(files: Self.manifests(image: "1.0").compactMapValues { $0 })
        defer { repository.directory.remove() }
        try await withLiveServer(runner: true, clusters: ["test": client], configure: { config in
            config.apps[0].repoURL = repository.url
            config.apps[0].target = DeployTarget(cluster: "test", namespace: "shop", rollback: true)
        }) { server in
            let first = try await server.push(app: "github", commit: try repository.head())
            let firstJob = try await server.waitForEnd(of: first)
            #expect(firstJob.status == .succeeded, "\(firstJob.reason ?? "")")

            // A broken image and a new ConfigMap: fails, rolls back, and the ConfigMap goes.
            let bad = try await server.push(app: "github", commit: try repository.commit(files: Self.manifests(image: "broken", extra: Self.extraConfigMap), message: "bad"))
            let failed = try await server.waitForEnd(of: bad)
            let badLog = try await server.log(of: bad)
            #expect(failed.status == .failed)
            #expect(badLog.contains("pruned ConfigMap shop/extra"), "\(badLog)")
            try await waitFor { await kube.cluster.object(apiVersion: "v1", kind: "ConfigMap", namespace: "shop", name: "extra") == nil }
            let failedRecord = try #require(try await server.store.deployments(app: "github").first { $0.jobID == bad && !$0.healthy })
            for object in failedRecord.manifests.arrayValue ?? [] {
                #expect(object[path: ["metadata", "namespace"]] == "shop", "\(object)")
                #expect(object[path: ["metadata", "labels", Deployer.partOfLabel]] != nil, "\(object)")
            }
            #expect((failedRecord.objects.arrayValue ?? []).allSatisfy { $0["namespace"] == "shop" }, "\(failedRecord.objects)")

            // The next deploy sees its live Deployment (no "already gone"), and nothing drifts.
            let next = try await server.push(app: "github", commit: try repository.commit(files: Self.manifests(image: "3.0"), message: "3.0"))
            #expect(try await server.waitForEnd(of: next).status == .succeeded)
            let nextLog = try await server.log(of: next)
            #expect(!nextLog.contains("already gone"), "\(nextLog)")
            let healthy = try #require(try await server.store.lastDeployment(app: "github", healthyOnly: true))
            let (drift, health) = try await DriftDetector(client: client).detect(
                desired: Manifest.stored(healthy.manifests, commit: healthy.commit),
                applySetID: Deployer.applySetID(app: "github", namespace: "shop"), defaultNamespace: "shop")
            #expect(drift.drifted.isEmpty, "\(drift.drifted)")
            #expect(health == .healthy)
        }
        await client.shutdown()
        await kube.stop()
    }

    /// A job's reason is stored and shown by the API: an app secret in it is masked, as in the log.
    @Test func secretsInAFailureReasonAreMasked() async throws {
        let kube = try await KubeTestServer.start()
        let client = try kube.client()
        let repository = try GitRepository.make(files: [".slipway.yaml": """
            deploy:
              render: |
                printf 'apiVersion: v1\\nkind: X%s\\nmetadata: {name: a}\\n' "$TOKEN"
            """])
        defer { repository.directory.remove() }
        try await withLiveServer(runner: true, clusters: ["test": client], configure: { config in
            config.apps[0].repoURL = repository.url
            config.apps[0].target = DeployTarget(cluster: "test", namespace: "shop")
            config.apps[0].secrets = ["TOKEN": SecretValue("super-secret-value")]
        }) { server in
            let id = try await server.push(app: "github", commit: try repository.head())
            let job = try await server.waitForEnd(of: id)
            #expect(job.status == .failed)
            #expect(job.reason?.contains("kind X*** in v1") == true, "\(job.reason ?? "")")
            #expect(job.reason?.contains("super-secret-value") == false)
            #expect(!(try await server.log(of: id)).contains("super-secret-value"))
        }
        await client.shutdown()
        await kube.stop()
    }

    @Test func appWithoutAClusterFailsTheDeployClearly() async throws {
        let repository = try GitRepository.make(files: Self.manifests(image: "1.0").compactMapValues { $0 })
        defer { repository.directory.remove() }
        try await withLiveServer(runner: true, configure: { $0.apps[0].repoURL = repository.url }) { server in
            let id = try await server.push(app: "github", commit: try repository.head())
            let job = try await server.waitForEnd(of: id)
            #expect(job.status == .failed)
            #expect(job.reason == "the pipeline has a deploy block, but app 'github' has no cluster: add cluster and namespace to the app")
        }
    }
}

@Suite struct DiffAndRenderCommandTests {
    @Test func diffShowsWhatTheNextCommitWouldChangeWithSecretsMasked() async throws {
        let kube = try await KubeTestServer.start(controllers: true)
        let client = try kube.client()
        _ = try await client.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "shop"]], fieldManager: "setup", force: true)
        let secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData: {password: hunter2}\n"
        var files = PushToClusterTests.manifests(image: "1.0", extra: PushToClusterTests.extraConfigMap)
        files["deploy/secret.yaml"] = secret
        let repository = try GitRepository.make(files: files.compactMapValues { $0 })
        defer { repository.directory.remove() }
        try await withLiveServer(runner: true, clusters: ["test": client], configure: { config in
            config.apps[0].repoURL = repository.url
            config.apps[0].target = DeployTarget(cluster: "test", namespace: "shop")
        }) { server in
            let first = try await server.push(app: "github", commit: try repository.head())
            let firstJob = try await server.waitForEnd(of: first)
            let firstLog = try await server.log(of: first)
            #expect(firstJob.status == .succeeded, "\(firstLog)")

            var next = PushToClusterTests.manifests(image: "2.0")
            next["deploy/secret.yaml"] = secret.replacingOccurrences(of: "hunter2", with: "correct-horse")
            let commit = try repository.commit(files: next, message: "2.0")
            let (status, body) = try await server.withClient(token: LiveServer.readToken) { api in
                try await api.send(.GET, "/api/v1/apps/github/diff?format=text&commit=\(commit)")
            }
            let text = String(decoding: body, as: UTF8.self)
            #expect(status == 200, "\(text)")
            #expect(text.contains("~ Deployment shop/web"), "\(text)")
            #expect(text.contains("spec.template.spec.containers[name=web].image: \"shop:1.0\" -> \"shop:2.0\""), "\(text)")
            #expect(text.contains("- ConfigMap shop/extra (would be pruned)"), "\(text)")
            #expect(text.contains("~ Secret shop/creds"), "\(text)")
            #expect(!text.contains("hunter2") && !text.contains("correct-horse"), "\(text)")
            // Nothing changed in the cluster.
            #expect(await kube.cluster.object(apiVersion: "v1", kind: "ConfigMap", namespace: "shop", name: "extra") != nil)

            // JSON without format.
            let (jsonStatus, json) = try await server.withClient(token: LiveServer.readToken) { api in
                try await api.send(.GET, "/api/v1/apps/github/diff?commit=\(commit)")
            }
            #expect(jsonStatus == 200)
            #expect(String(decoding: json, as: UTF8.self).contains("\"commit\":\"\(commit)\""))
            let (missing, _) = try await server.withClient { api in try await api.send(.GET, "/api/v1/apps/nope/diff") }
            #expect(missing == 404)
        }
        await client.shutdown()
        await kube.stop()
    }

    @Test func aRenderCommandsOutputIsDeployed() async throws {
        let kube = try await KubeTestServer.start(controllers: true)
        let client = try kube.client()
        let repository = try GitRepository.make(files: [
            ".slipway.yaml": """
                deploy:
                  render: |
                    echo "rendering for $SLIPWAY_APP" >&2
                    printf 'apiVersion: v1\\nkind: Namespace\\nmetadata: {name: rendered}\\n---\\n'
                    printf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: from-command}\\ndata: {commit: "${SLIPWAY_COMMIT}"}\\n'
                """,
        ])
        defer { repository.directory.remove() }
        try await withLiveServer(runner: true, clusters: ["test": client], configure: { config in
            config.apps[0].repoURL = repository.url
            config.apps[0].target = DeployTarget(cluster: "test", namespace: "rendered")
            config.apps[0].target?.allowedClusterKinds = ["Namespace"]
        }) { server in
            let id = try await server.push(app: "github", commit: try repository.head())
            let job = try await server.waitForEnd(of: id)
            let log = try await server.log(of: id)
            #expect(job.status == .succeeded, "\(job.reason ?? "")\n\(log)")
            #expect(log.contains("render: rendering for github"))
            let made = await kube.cluster.object(apiVersion: "v1", kind: "ConfigMap", namespace: "rendered", name: "from-command")
            #expect(made?[path: ["data", "commit"]]?.stringValue == (try repository.head()))
        }
        await client.shutdown()
        await kube.stop()
    }
}

/// `slipway diff` from the command line, against `slipway serve` as its own process.
@Suite struct DiffCommandTests {
    @Test func theCLIPrintsTheDiff() async throws {
        let kube = try await KubeTestServer.start(controllers: true)
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let repository = try GitRepository.make(files: PushToClusterTests.manifests(image: "9.9").compactMapValues { $0 })
        defer { repository.directory.remove() }
        let config = try dir.write("slipway.yaml", """
            listen: {host: 127.0.0.1, port: 0}
            data_dir: \(dir.path)/data
            api_tokens: [{name: admin, role: admin, token: {env: ADMIN_TOKEN}}]
            clusters: [{name: test, kubeconfig: \(kube.kubeconfigPath)}]
            apps:
              - {name: shop, repo: \(repository.url), forge: github, webhook_secrets: [{env: HOOK}], cluster: test, namespace: shop,
                 reconcile_interval: 1h}
            """)
        let environment = ["ADMIN_TOKEN": "admin", "HOOK": "h"]
        let client = try kube.client()
        _ = try await client.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "shop"]], fieldManager: "setup", force: true)
        await client.shutdown()
        let server = try await ServerProcess.start(configPath: config, environment: environment)
        defer { server.stop() }
        let result = try await runSlipway(["diff", "shop", "--commit", try repository.head(), "--config", config, "--server", "https://localhost:\(server.port)"],
                                    environment: environment)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("diff of shop at \(try repository.head().prefix(12)) against the cluster:"), "\(result.output)")
        #expect(result.output.contains("+ Deployment shop/web"), "\(result.output)")
        #expect(result.output.contains("spec.template.spec.containers[name=web].image: (absent) -> \"shop:9.9\""), "\(result.output)")

        // Deploy it with `slipway sync`, then `slipway apps` shows it.
        let synced = try await runSlipway(["sync", "shop", "--commit", try repository.head(), "--config", config, "--server", "https://localhost:\(server.port)"],
                                          environment: environment)
        #expect(synced.output.hasPrefix("job 1 queued for shop at \(try repository.head().prefix(12))"), "\(synced.output)")
        try await waitFor {
            try await runSlipway(["jobs", "--config", config, "--server", "https://localhost:\(server.port)"], environment: environment).output.contains("succeeded")
        }
        try await waitFor {
            let apps = try await runSlipway(["apps", "--config", config, "--server", "https://localhost:\(server.port)"], environment: environment)
            let head = String(try repository.head().prefix(12))
            return apps.output.contains("shop") && apps.output.contains(head)
        }
        await kube.stop()
    }
}
