import AsyncHTTPClient
import Foundation
import KubeTestServer
import SlipwayClient
import SlipwayConfig
import SlipwayCore
import SlipwayDeploy
import SlipwayKube
import SlipwayRollout
import SlipwayStore
import SlipwayTestSupport
import Testing

/// Progressive delivery end to end: pushes to a real git repository, the runner, the
/// Kubernetes API test server's Deployment controller, and a real Prometheus
/// (`script/with-prometheus`) scraping a metrics endpoint whose success rate each test sets.
@Suite struct ProgressiveDeliveryTests {
    static let namespace = "shop"

    /// The app's files: a Deployment `web` of 5 replicas with `image`, a Service selecting its
    /// pods, and a rollout of `steps` with an analysis `success-rate` on `query`.
    static func files(image: String, steps: String, query: String, count: Int = 2, failureLimit: Int = 0, hooks: String = "") -> [String: String?] {
        [
            ".slipway.yaml": """
                deploy:
                  manifests: deploy
                  wait: 20s
                  rollout:
                    target: Deployment/web
                    steps: \(steps)
                    analyses:
                      success-rate:
                        query: '\(query)'
                        success: ">= 0.95"
                        interval: 1s
                        count: \(count)
                        failure_limit: \(failureLimit)
                """,
            "deploy/web.yaml": """
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: web}
                spec:
                  replicas: 5
                  selector: {matchLabels: {app: web}}
                  template:
                    metadata: {labels: {app: web}}
                    spec:
                      containers: [{name: web, image: "shop:\(image)"}]
                ---
                apiVersion: v1
                kind: Service
                metadata: {name: web}
                spec:
                  selector: {app: web}
                  ports: [{port: 80}]
                """,
            "deploy/hooks.yaml": hooks.isEmpty ? nil : hooks,
        ]
    }

    static let syncFailHook = """
        apiVersion: batch/v1
        kind: Job
        metadata: {generateName: alert-, annotations: {argocd.argoproj.io/hook: SyncFail, argocd.argoproj.io/hook-delete-policy: HookSucceeded}}
        spec:
          backoffLimit: 0
          template: {spec: {restartPolicy: Never, containers: [{name: alert, image: "alert:1"}]}}
        """

    /// A cluster with the namespace, a repository at 1.0, a metrics endpoint Prometheus
    /// already has a value for, and a server whose app `github` deploys there with rollback.
    static func withRollout(steps: String, successRate: Double, count: Int = 2, failureLimit: Int = 0, hooks: String = "", reconciler: Bool = false,
                            configure: (inout ServerConfig) -> Void = { _ in },
                            _ body: (LiveServer, KubeTestServer, GitRepository, ScrapedMetrics) async throws -> Void) async throws {
        let metrics = try await ScrapedMetrics.start(successRate: successRate)
        let kube = try await KubeTestServer.start(controllers: true)
        let client = try kube.client()
        _ = try await client.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(namespace)]], fieldManager: "setup", force: true)
        let query = metrics.successRateQuery()
        let repository = try GitRepository.make(files: files(image: "1.0", steps: steps, query: query, count: count, failureLimit: failureLimit, hooks: hooks)
            .compactMapValues { $0 })
        defer { repository.directory.remove() }
        let provider = MetricsProvider(name: "prometheus", url: try ScrapedMetrics.prometheusURL())
        try await waitUntilMeasurable(query, provider: provider)
        do {
            try await withLiveServer(runner: true, clusters: ["test": client], reconciler: reconciler, configure: { config in
                config.metricsProviders = [provider]
                config.apps[0].repoURL = repository.url
                config.apps[0].metricsProvider = provider
                config.apps[0].target = DeployTarget(cluster: "test", namespace: namespace, rollback: true)
                config.apps[0].reconcileInterval = .seconds(3600)
                configure(&config)
            }) { server in
                // The first deploy has nothing live: the Deployment is applied whole.
                let first = try await server.push(app: "github", commit: try repository.head())
                let job = try await server.waitForEnd(of: first)
                let log = try await server.log(of: first)
                #expect(job.status == .succeeded, "\(job.reason ?? "")\n\(log)")
                #expect(log.contains("rollout: Deployment shop/web is applied whole (nothing of it is live yet)"), "\(log)")
                try await body(server, kube, repository, metrics)
            }
        } catch {
            await metrics.stop()
            await client.shutdown()
            await kube.stop()
            throw error
        }
        await metrics.stop()
        await client.shutdown()
        await kube.stop()
    }

    /// Prometheus has scraped the endpoint twice: the rate has a value.
    static func waitUntilMeasurable(_ query: String, provider: MetricsProvider) async throws {
        let prometheus = PrometheusQuery(provider: provider, client: HTTPClient.shared)
        try await waitFor(timeout: .seconds(30)) {
            if case .success = await prometheus.value(query, timeout: .seconds(2)) { return true }
            return false
        }
    }

    static func deployment(_ kube: KubeTestServer, _ name: String) async -> JSONValue? {
        await kube.cluster.object(apiVersion: "apps/v1", kind: "Deployment", namespace: namespace, name: name)
    }

    static func image(_ deployment: JSONValue?) -> String? {
        deployment?[path: ["spec", "template", "spec", "containers"]]?.arrayValue?.first?["image"]?.stringValue
    }

    static func replicas(_ deployment: JSONValue?) -> Int64? { deployment?[path: ["spec", "replicas"]]?.intValue }

    static func push(_ server: LiveServer, _ repository: GitRepository, image: String, steps: String, metrics: ScrapedMetrics, count: Int = 2,
                     failureLimit: Int = 0, hooks: String = "") async throws -> (JobID, String) {
        let commit = try repository.commit(files: files(image: image, steps: steps, query: metrics.successRateQuery(), count: count,
                                                        failureLimit: failureLimit, hooks: hooks), message: image)
        return (try await server.push(app: "github", commit: commit), commit)
    }

    /// Waits until the app's rollout is paused at `step` (1-based) and returns its state.
    static func waitUntilPaused(_ server: LiveServer, job: JobID, step: Int) async throws -> RolloutState {
        var state: RolloutState?
        try await waitFor(timeout: .seconds(60)) {
            state = try await server.store.rollout(app: "github")?.state
            return state?.jobID == job && state?.phase == .paused && state?.step == step - 1
        }
        return try #require(state)
    }

    @Test func weightsScaleTheTracksAndAGoodAnalysisPromotes() async throws {
        let steps = "[{weight: 20}, {pause: 1s}, {analysis: success-rate}, {weight: 60}, {weight: 100}]"
        try await Self.withRollout(steps: steps, successRate: 1.0) { server, kube, repository, metrics in
            let stableBefore = try #require(await Self.deployment(kube, "web"))
            let (id, commit) = try await Self.push(server, repository, image: "2.0", steps: steps, metrics: metrics)
            let job = try await server.waitForEnd(of: id)
            let log = try await server.log(of: id)
            #expect(job.status == .succeeded, "\(job.reason ?? "")\n\(log)")
            // ceil(5 × 20 %) = 1, ceil(5 × 60 %) = 3, 100 % = 5; the stable Deployment the rest, in this order.
            var position = log.startIndex
            for line in ["applied Deployment shop/web-canary with 1 replica(s)", "scaled the stable Deployment shop/web to 4 replica(s)",
                         "analysis success-rate: measurement 2/2: 1: successful", "analysis success-rate passed",
                         "applied Deployment shop/web-canary with 3 replica(s)", "scaled the stable Deployment shop/web to 2 replica(s)",
                         "applied Deployment shop/web-canary with 5 replica(s)", "scaled the stable Deployment shop/web to 0 replica(s)",
                         "deleted the canary Deployment shop/web-canary", "rollout promoted: Deployment shop/web runs \(commit.prefix(12)) on all 5 replica(s)"] {
                let found = log.range(of: line, range: position..<log.endIndex)
                #expect(found != nil, "missing, or out of order: \(line)\n\(log)")
                position = found?.upperBound ?? position
            }
            #expect(!log.contains("warning: no Service"), "the Service selects both tracks")
            // Each weight healthy before the stable track shrinks.
            let canaryHealthy = try #require(log.range(of: "the canary: all 1 healthy"))
            let stableScaled = try #require(log.range(of: "scaled the stable Deployment shop/web to 4"))
            #expect(canaryHealthy.lowerBound < stableScaled.lowerBound)
            // Promoted: the stable Deployment has the new template at 5 replicas, the canary is gone.
            let stable = await Self.deployment(kube, "web")
            #expect(Self.image(stable) == "shop:2.0")
            #expect(Self.replicas(stable) == 5)
            #expect(stable?[path: ["spec", "selector"]] == stableBefore[path: ["spec", "selector"]])
            try await waitFor { await Self.deployment(kube, "web-canary") == nil }
            try await waitFor { await kube.cluster.objects(apiVersion: "v1", kind: "Pod").allSatisfy { $0[path: ["metadata", "labels", "track"]] != "canary" } }
            // The state, the API and the metrics say so.
            let state = try #require(try await server.store.rollout(app: "github")?.state)
            #expect(state.phase == .promoted && state.step == 5 && state.measurements.count == 2, "\(state)")
            #expect(state.measurements.allSatisfy { $0.result == .successful && $0.value == 1 })
            let body = try await server.withClient { try await $0.send(.GET, "/api/v1/apps/github/rollout").body }
            let shown = try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any])
            #expect(shown["phase"] as? String == "promoted" && shown["active"] as? Bool == false, "\(shown)")
            let app = try await server.withClient { try await $0.send(.GET, "/api/v1/apps/github").body }
            #expect(String(decoding: app, as: UTF8.self).contains("\"rollout\":{"))
            let exposition = try await server.withClient { try await $0.send(.GET, "/metrics", authorized: false).body }
            let text = String(decoding: exposition, as: UTF8.self)
            #expect(text.contains("slipway_analysis_measurements_total{result=\"successful\"} 2"), "\(text)")
            #expect(text.contains("slipway_rollout_step{app=\"github\"} 0"))
            #expect(try await server.store.lastDeployment(app: "github", healthyOnly: true)?.commit == commit)
        }
    }

    @Test func aFailingAnalysisAbortsWithTheStableTemplateUntouched() async throws {
        let steps = "[{weight: 20}, {analysis: success-rate}, {weight: 100}]"
        try await Self.withRollout(steps: steps, successRate: 1.0, hooks: Self.syncFailHook) { server, kube, repository, metrics in
            let before = try #require(await Self.deployment(kube, "web"))
            let setsBefore = await kube.cluster.objects(apiVersion: "apps/v1", kind: "ReplicaSet").compactMap { $0[path: ["metadata", "name"]]?.stringValue }
            await metrics.setSuccessRate(0.5)
            // Until the analysis' own query says so (a comparison keeps only a value below).
            try await Self.waitUntilMeasurable(metrics.successRateQuery() + " < 0.9", provider: try #require(server.config.apps[0].metricsProvider))
            let (id, commit) = try await Self.push(server, repository, image: "2.0", steps: steps, metrics: metrics, count: 3, failureLimit: 1,
                                                   hooks: Self.syncFailHook)
            let job = try await server.waitForEnd(of: id)
            let log = try await server.log(of: id)
            #expect(job.status == .failed)
            #expect(job.reason?.contains("rollout aborted: analysis success-rate failed: 2 of 2 measurement(s) failed, 1 tolerated") == true,
                    "\(job.reason ?? "")\n\(log)")
            #expect(log.contains("does not meet >= 0.95"), "\(log)")
            // The stable Deployment kept its template and its ReplicaSet; its replicas are back.
            let after = try #require(await Self.deployment(kube, "web"))
            #expect(after[path: ["spec", "template"]] == before[path: ["spec", "template"]])
            #expect(Self.replicas(after) == 5)
            let setsAfter = await kube.cluster.objects(apiVersion: "apps/v1", kind: "ReplicaSet")
                .filter { $0[path: ["metadata", "labels", "track"]] == nil }.compactMap { $0[path: ["metadata", "name"]]?.stringValue }
            #expect(Set(setsAfter) == Set(setsBefore), "no new ReplicaSet for the stable track")
            try await waitFor { await Self.deployment(kube, "web-canary") == nil }
            // Marked bad as a rollback marks it; the SyncFail hook ran after the abort.
            #expect(try await server.store.badCommit(app: "github", commit: commit) != nil)
            let aborted = try #require(log.range(of: "rollout aborted:"))
            let syncFail = try #require(log.range(of: "SyncFail hook Job shop/alert-"), "\(log)")
            #expect(aborted.lowerBound < syncFail.lowerBound)
            let state = try #require(try await server.store.rollout(app: "github")?.state)
            #expect(state.phase == .aborted && state.measurements.map(\.result) == [.failed, .failed], "\(state)")
            let exposition = try await server.withClient { try await $0.send(.GET, "/metrics", authorized: false).body }
            #expect(String(decoding: exposition, as: UTF8.self).contains("slipway_analysis_measurements_total{result=\"failed\"} 2"))
        }
    }

    @Test func pauseUntilPromotedByTheCLIAndAbortByTheAPI() async throws {
        let steps = "[{weight: 40}, {pause: {until: promoted}}, {weight: 100}]"
        try await Self.withRollout(steps: steps, successRate: 1.0, reconciler: true) { server, kube, repository, metrics in
            // Nothing runs: nothing to promote (409); a read token may not (403).
            let idle = try await server.withClient { try await $0.send(.POST, "/api/v1/apps/github/rollout/promote").status }
            #expect(idle == 409)
            let (id, commit) = try await Self.push(server, repository, image: "2.0", steps: steps, metrics: metrics)
            var state = try await Self.waitUntilPaused(server, job: id, step: 2)
            #expect(state.canaryReplicas == 2 && state.stableReplicas == 3, "\(state)")
            let reader = try await server.withClient(token: LiveServer.readToken) { try await $0.send(.POST, "/api/v1/apps/github/rollout/promote").status }
            #expect(reader == 403)
            // While it is paused, drift checks do not count the tracks.
            let drift = try await server.withClient { try await $0.send(.GET, "/api/v1/apps/github/diff").body }
            let status = try #require(try JSONSerialization.jsonObject(with: drift) as? [String: Any])
            #expect((status["drifted"] as? [Any])?.isEmpty == true, "\(status)")
            #expect((status["message"] as? String)?.contains("its replicas are not drift") == true, "\(status)")
            // The CLI's promote ends the pause; the rollout goes on to 100 % and promotes.
            let caFile = server.certificatePath
            let environment = ["SLIPWAY_TOKEN": LiveServer.adminToken, "SSL_CERT_FILE": caFile]
            let shownStatus = try await runSlipway(["rollout", "status", "github", "--server", server.baseURL, "--ca-file", caFile], environment: environment)
            #expect(shownStatus.output.contains("▶ 2. pause until promoted"), "\(shownStatus.output)")
            let promoted = try await runSlipway(["rollout", "promote", "github", "--server", server.baseURL, "--ca-file", caFile], environment: environment)
            #expect(promoted.status == 0, "\(promoted.output)")
            var job = try await server.waitForEnd(of: id)
            var log = try await server.log(of: id)
            #expect(job.status == .succeeded, "\(job.reason ?? "")\n\(log)")
            #expect(log.contains("promoted by test-admin: the pause ends"), "\(log)")
            #expect(Self.image(await Self.deployment(kube, "web")) == "shop:2.0")
            _ = commit

            // The next commit, aborted through the API while paused.
            let (next, nextCommit) = try await Self.push(server, repository, image: "3.0", steps: steps, metrics: metrics)
            state = try await Self.waitUntilPaused(server, job: next, step: 2)
            let answer = try await server.withClient { try await $0.send(.POST, "/api/v1/apps/github/rollout/abort") }
            #expect(answer.status == 202)
            job = try await server.waitForEnd(of: next)
            log = try await server.log(of: next)
            #expect(job.status == .failed)
            #expect(job.reason?.contains("rollout aborted: aborted by test-admin") == true, "\(job.reason ?? "")")
            let stable = await Self.deployment(kube, "web")
            #expect(Self.image(stable) == "shop:2.0" && Self.replicas(stable) == 5)
            try await waitFor { await Self.deployment(kube, "web-canary") == nil }
            #expect(try await server.store.badCommit(app: "github", commit: nextCommit) != nil)
        }
    }

    /// A canary whose pods never become available (the test server's controller reports
    /// ProgressDeadlineExceeded for an image tagged `broken`) aborts before the stable
    /// Deployment is scaled at all.
    @Test func aCanaryThatIsNotHealthyInTimeAborts() async throws {
        let steps = "[{weight: 20}, {weight: 100}]"
        try await Self.withRollout(steps: steps, successRate: 1.0) { server, kube, repository, metrics in
            let before = try #require(await Self.deployment(kube, "web"))
            let (id, commit) = try await Self.push(server, repository, image: "broken", steps: steps, metrics: metrics)
            let job = try await server.waitForEnd(of: id)
            let log = try await server.log(of: id)
            #expect(job.status == .failed)
            #expect(job.reason?.contains("rollout aborted: weight 20%: Deployment shop/web-canary is unhealthy: ProgressDeadlineExceeded") == true,
                    "\(job.reason ?? "")\n\(log)")
            #expect(!log.contains("scaled the stable Deployment shop/web to 4"), "the stable track was never scaled down")
            let after = try #require(await Self.deployment(kube, "web"))
            #expect(after[path: ["metadata", "resourceVersion"]] == before[path: ["metadata", "resourceVersion"]], "the stable Deployment was not written at all")
            try await waitFor { await Self.deployment(kube, "web-canary") == nil }
            #expect(try await server.store.badCommit(app: "github", commit: commit) != nil)
        }
    }

    @Test func aNewerPushDuringAPauseAbortsAndStartsAgain() async throws {
        let steps = "[{weight: 20}, {pause: {until: promoted}}, {weight: 100}]"
        try await Self.withRollout(steps: steps, successRate: 1.0) { server, kube, repository, metrics in
            let (first, _) = try await Self.push(server, repository, image: "2.0", steps: steps, metrics: metrics)
            _ = try await Self.waitUntilPaused(server, job: first, step: 2)
            let (second, secondCommit) = try await Self.push(server, repository, image: "3.0", steps: steps, metrics: metrics)
            let ended = try await server.waitForEnd(of: first)
            #expect(ended.status == .failed)
            #expect(ended.reason?.contains("rollout aborted: a newer push (job \(second)") == true, "\(ended.reason ?? "")")
            // The newer push starts over from the live state: the stable pods still run 1.0.
            _ = try await Self.waitUntilPaused(server, job: second, step: 2)
            #expect(Self.image(await Self.deployment(kube, "web")) == "shop:1.0")
            #expect(Self.image(await Self.deployment(kube, "web-canary")) == "shop:3.0")
            #expect(await kube.cluster.objects(apiVersion: "apps/v1", kind: "Deployment").count == 2, "one stable, one canary")
            _ = try await server.withClient { try await $0.send(.POST, "/api/v1/apps/github/rollout/promote") }
            let job = try await server.waitForEnd(of: second)
            #expect(job.status == .succeeded, "\(job.reason ?? "")")
            #expect(Self.image(await Self.deployment(kube, "web")) == "shop:3.0")
            #expect(try await server.store.lastDeployment(app: "github", healthyOnly: true)?.commit == secondCommit)
        }
    }

    /// A rollout paused until someone promotes it holds no worker: with one worker, another
    /// app's job runs meanwhile.
    @Test func aPausedRolloutHoldsNoWorker() async throws {
        let steps = "[{weight: 20}, {pause: {until: promoted}}, {weight: 100}]"
        let other = try GitRepository.make(files: [".slipway.yaml": "stages:\n  build:\n    - {name: hello, run: echo hello from the other app}\n"])
        defer { other.directory.remove() }
        try await Self.withRollout(steps: steps, successRate: 1.0, configure: { config in
            config.workers = 1
            config.apps.append(AppConfig(name: "other", repoURL: other.url, branch: "main", forge: .github, webhookSecrets: [SecretValue(WebhookFixture.secret)]))
        }) { server, kube, repository, metrics in
            let (rolling, _) = try await Self.push(server, repository, image: "2.0", steps: steps, metrics: metrics)
            _ = try await Self.waitUntilPaused(server, job: rolling, step: 2)
            let meanwhile = try await server.push(app: "other", commit: try other.head())
            let job = try await server.waitForEnd(of: meanwhile)
            #expect(job.status == .succeeded, "\(job.reason ?? "")")
            #expect(try await server.store.job(id: rolling)?.status == .running, "the rollout still waits")
            _ = try await server.withClient { try await $0.send(.POST, "/api/v1/apps/github/rollout/promote") }
            #expect(try await server.waitForEnd(of: rolling).status == .succeeded)
            #expect(Self.image(await Self.deployment(kube, "web")) == "shop:2.0")
        }
    }

    /// `slipway serve` killed with -9 while its rollout waits for a promotion: started again,
    /// the job's next attempt continues the rollout at the pause (one canary, never two), and
    /// a promotion finishes it.
    @Test func aServerKilledMidRolloutContinuesOnRestart() async throws {
        let kube = try await KubeTestServer.start(controllers: true)
        let admin = try kube.client()
        _ = try await admin.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(Self.namespace)]], fieldManager: "setup", force: true)
        let steps = "[{weight: 40}, {pause: {until: promoted}}, {weight: 100}]"
        let repository = try GitRepository.make(files: Self.files(image: "1.0", steps: steps, query: "vector(1)").compactMapValues { $0 })
        defer { repository.directory.remove() }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let port = try freeLoopbackPort()
        let config = try dir.write("slipway.yaml", """
            listen: {host: 127.0.0.1, port: \(port)}
            data_dir: \(dir.path)/data
            runner: {max_attempts: 2}
            clusters:
              - {name: test, kubeconfig: \(kube.kubeconfigPath)}
            api_tokens:
              - {name: admin, role: admin, token: {env: ADMIN_TOKEN}}
            apps:
              - {name: app, repo: \(repository.url), forge: github, webhook_secrets: [{env: HOOK_SECRET}], cluster: test, namespace: \(Self.namespace),
                 reconcile_interval: 1h}
            """)
        // Secrets are masked in logs: one that is not a common letter.
        let environment = ["ADMIN_TOKEN": "admin-token-for-the-test", "HOOK_SECRET": "hook-secret-for-the-test"]
        let caFile = dir.path + "/data/tls/server.crt"
        let url = "https://localhost:\(port)"
        func send(_ commit: String) async throws {
            let sent = try await runSlipway(["send-test-hook", "app", "--commit", commit, "--config", config, "--server", url], environment: environment)
            #expect(sent.status == 0, "\(sent.output)")
        }
        func rollout(_ api: APIClient) async throws -> [String: Any]? {
            let (status, body) = try await api.send(.GET, "/api/v1/apps/app/rollout")
            return status == 200 ? try JSONSerialization.jsonObject(with: body) as? [String: Any] : nil
        }

        let first = try await ServerProcess.start(configPath: config, environment: environment)
        var api = try APIClient(baseURL: url, token: "admin-token-for-the-test", caFile: caFile)
        try await send(try repository.head())
        try await waitFor(timeout: .seconds(60)) { try await api.job(1).status.isFinal }
        #expect(try await api.job(1).status == .succeeded)
        try await send(try repository.commit(files: Self.files(image: "2.0", steps: steps, query: "vector(1)"), message: "2.0"))
        try await waitFor(timeout: .seconds(60)) { try await rollout(api)?["phase"] as? String == "paused" }
        await first.kill()
        try await api.shutdown()
        #expect(Self.replicas(await Self.deployment(kube, "web-canary")) == 2, "the canary outlives the server that made it")

        let second = try await ServerProcess.start(configPath: config, environment: environment)
        defer { second.stop() }
        api = try APIClient(baseURL: url, token: "admin-token-for-the-test", caFile: caFile)
        try await waitFor(timeout: .seconds(60)) {
            let state = try await rollout(api)
            return state?["job_id"] as? Int == 3 && state?["phase"] as? String == "paused"
        }
        #expect(try await api.job(2).status == .interrupted)
        var log = ""
        try await waitFor {
            log = String(decoding: try await api.send(.GET, "/api/v1/jobs/3/log").body, as: UTF8.self)
            return log.contains("paused until promoted")
        }
        #expect(log.contains("rollout of Deployment shop/web continues at step 2/3 (paused), as job 2 left it"), "\(log)")
        #expect(!log.contains("rollout step 1/3"), "the weight step is not run again")
        #expect(await kube.cluster.objects(apiVersion: "apps/v1", kind: "Deployment").count == 2, "one stable, one canary")
        #expect(try await api.send(.POST, "/api/v1/apps/app/rollout/promote").status == 202)
        try await waitFor(timeout: .seconds(60)) { try await api.job(3).status.isFinal }
        #expect(try await api.job(3).status == .succeeded)
        #expect(Self.image(await Self.deployment(kube, "web")) == "shop:2.0")
        try await waitFor { await Self.deployment(kube, "web-canary") == nil }
        try await api.shutdown()
        await admin.shutdown()
        await kube.stop()
    }
}
