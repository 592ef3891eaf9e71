import Foundation
import KubeTestServer
import Logging
import SlipwayConfig
import SlipwayCore
import SlipwayKube
import SlipwayStore
import SlipwayTestSupport
import Testing

/// The reconciler against real git repositories and the Kubernetes API test server.
@Suite struct ReconcilerTests {
    static let files: [String: String] = [
        ".slipway.yaml": "deploy:\n  manifests: deploy\n  wait: 20s\n",
        "deploy/app.yaml": """
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
                spec: {containers: [{name: web, image: "shop:1"}]}
            """,
    ]

    struct Status: Decodable {
        var sync: String
        var health: String?
        var deployed_commit: String?
        var drifted: [Drift]
        var next_correction_at: String?
        var message: String?
        struct Drift: Decodable, Equatable {
            var object: String
            var kind: String
            var fields: [Field]
        }
        struct Field: Decodable, Equatable {
            var path: String
            var live: String?
            var desired: String?
        }
    }

    static func refresh(_ server: LiveServer) async throws -> Status {
        let (status, body) = try await server.withClient { api in try await api.send(.POST, "/api/v1/apps/github/refresh") }
        #expect(status == 200, "\(String(decoding: body, as: UTF8.self))")
        return try JSONDecoder().decode(Status.self, from: body)
    }

    static func withSetup(policy: DriftPolicy, _ body: (LiveServer, KubeTestServer, GitRepository) async throws -> Void) async throws {
        let kube = try await KubeTestServer.start(controllers: true)
        let client = try kube.client(retry: RetryPolicy(attempts: 2, baseDelay: .milliseconds(10)))
        _ = try await client.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "shop"]], fieldManager: "setup", force: true)
        let repository = try GitRepository.make(files: files)
        defer { repository.directory.remove() }
        do {
            try await withLiveServer(runner: true, clusters: ["test": client], reconciler: true, configure: { config in
                config.apps[0].repoURL = repository.url
                config.apps[0].target = DeployTarget(cluster: "test", namespace: "shop", driftPolicy: policy)
                // Only refreshes reconcile in these tests.
                config.apps[0].reconcileInterval = .seconds(3600)
            }) { server in
                let id = try await server.push(app: "github", commit: try repository.head())
                let job = try await server.waitForEnd(of: id)
                #expect(job.status == .succeeded, "\(job.reason ?? "")")
                try await body(server, kube, repository)
            }
        } catch {
            await client.shutdown()
            await kube.stop()
            throw error
        }
        await client.shutdown()
        await kube.stop()
    }

    @Test func driftIsReportedWithTheExactFieldAndOtherManagersFieldsAreNot() async throws {
        try await Self.withSetup(policy: .report) { server, kube, repository in
            var status = try await Self.refresh(server)
            #expect(status.sync == "Synced")
            #expect(status.health == "Healthy")
            #expect(status.deployed_commit == (try repository.head()))

            // An annotation and a default another manager set: still Synced.
            _ = await kube.cluster.edit(apiVersion: "apps/v1", kind: "Deployment", namespace: "shop", name: "web", manager: "kubectl-annotate",
                                        patch: ["metadata": ["annotations": ["oncall": "dana"]], "spec": ["progressDeadlineSeconds": 600]])
            status = try await Self.refresh(server)
            #expect(status.sync == "Synced", "\(status.drifted)")

            // A hand edit of a field Slipway applied.
            _ = await kube.cluster.edit(apiVersion: "v1", kind: "ConfigMap", namespace: "shop", name: "settings", manager: "kubectl-edit",
                                        patch: ["data": ["LOG_LEVEL": "debug"]])
            status = try await Self.refresh(server)
            #expect(status.sync == "OutOfSync")
            #expect(status.drifted == [.init(object: "ConfigMap shop/settings", kind: "changed",
                                             fields: [.init(path: "data.LOG_LEVEL", live: "\"debug\"", desired: "\"info\"")])])
            let (code, text) = try await server.withClient(token: LiveServer.readToken) { api in
                try await api.send(.GET, "/api/v1/apps/github/diff?format=text")
            }
            #expect(code == 200)
            #expect(String(decoding: text, as: UTF8.self).contains("~ ConfigMap shop/settings\n    data.LOG_LEVEL: live \"debug\", desired \"info\""))

            // A deleted object: OutOfSync and Missing.
            await kube.cluster.remove(apiVersion: "apps/v1", kind: "Deployment", namespace: "shop", name: "web")
            status = try await Self.refresh(server)
            #expect(status.sync == "OutOfSync")
            #expect(status.health == "Missing")
            #expect(status.drifted.contains(.init(object: "Deployment shop/web", kind: "missing", fields: [])))

            // The list API and the metrics agree.
            let (_, list) = try await server.withClient(token: LiveServer.readToken) { api in try await api.send(.GET, "/api/v1/apps") }
            #expect(String(decoding: list, as: UTF8.self).contains("\"sync\":\"OutOfSync\""))
            // Job metrics are recorded right after the job's end is stored.
            var exposition = ""
            try await waitFor(timeout: .seconds(10)) {
                let (_, metrics) = try await server.withClient(token: nil) { api in try await api.send(.GET, "/metrics") }
                exposition = String(decoding: metrics, as: UTF8.self)
                return exposition.contains(#"slipway_jobs_total{status="succeeded"} 1"#)
            }
            #expect(exposition.contains(#"slipway_app_sync_status{app="github",status="OutOfSync"} 1"#), "\(exposition)")
            #expect(exposition.contains(#"slipway_drifted_objects{app="github"} 2"#), "\(exposition)")
            #expect(exposition.contains(#"slipway_webhook_deliveries_total{forge="github",result="queued"} 1"#), "\(exposition)")
            #expect(exposition.contains("slipway_reconcile_duration_seconds_count"))
            #expect(exposition.contains(#"slipway_jobs_total{status="succeeded"} 1"#), "\(exposition)")
            #expect(exposition.contains(#"slipway_stage_duration_seconds_count{stage="deploy"} 1"#), "\(exposition)")
            #expect(exposition.contains("slipway_queue_depth 0"), "\(exposition)")
        }
    }

    @Test func correctRestoresAndBacksOffOnRepeatedFights() async throws {
        try await Self.withSetup(policy: .correct) { server, kube, _ in
            _ = await kube.cluster.edit(apiVersion: "v1", kind: "ConfigMap", namespace: "shop", name: "settings", manager: "kubectl-edit",
                                        patch: ["data": ["LOG_LEVEL": "debug"]])
            var status = try await Self.refresh(server)
            #expect(status.message?.contains("self-heal job") == true, "\(status.message ?? "")")
            let heal = try #require(try await server.store.jobs(JobQuery(app: "github", limit: 1)).first)
            #expect(heal.trigger == .selfHeal)
            let healed = try await server.waitForEnd(of: heal.id)
            let healLog = try await server.log(of: heal.id)
            #expect(healed.status == .succeeded, "\(healLog)")
            #expect(await kube.cluster.object(apiVersion: "v1", kind: "ConfigMap", namespace: "shop", name: "settings")?[path: ["data", "LOG_LEVEL"]] == "info")
            #expect(try await server.log(of: heal.id).contains("[deploy/self-heal] self-heal: re-applying 2 objects"))

            // The other controller changes it back at once: no second self-heal before the back-off.
            _ = await kube.cluster.edit(apiVersion: "v1", kind: "ConfigMap", namespace: "shop", name: "settings", manager: "kubectl-edit",
                                        patch: ["data": ["LOG_LEVEL": "debug"]])
            status = try await Self.refresh(server)
            #expect(status.sync == "OutOfSync")
            #expect(status.next_correction_at != nil)
            #expect(try await server.store.jobs(JobQuery(app: "github", limit: 1)).first?.id == heal.id)
        }
    }

    @Test func aCommitPushedWithoutAWebhookIsPickedUp() async throws {
        try await Self.withSetup(policy: .report) { server, kube, repository in
            var files = Self.files
            files["deploy/app.yaml"] = files["deploy/app.yaml"]!.replacingOccurrences(of: "shop:1", with: "shop:2")
            let commit = try repository.commit(files: files, message: "no webhook for this one")
            _ = try await Self.refresh(server)
            let job = try #require(try await server.store.jobs(JobQuery(app: "github", limit: 1)).first)
            #expect(job.trigger == .poll)
            #expect(job.commit == commit)
            #expect(try await server.waitForEnd(of: job.id).status == .succeeded)
            let web = await kube.cluster.object(apiVersion: "apps/v1", kind: "Deployment", namespace: "shop", name: "web")
            #expect(web?[path: ["spec", "template", "spec", "containers"]]?.arrayValue?.first?["image"] == "shop:2")
            // Seen once, queued once.
            _ = try await Self.refresh(server)
            #expect(try await server.store.jobs(JobQuery(app: "github")).filter { $0.commit == commit }.count == 1)
        }
    }

    @Test func anUnreachableClusterIsUnknownAndRecovers() async throws {
        try await Self.withSetup(policy: .report) { server, kube, _ in
            await kube.cluster.failNext(1000, status: 503)
            var status = try await Self.refresh(server)
            #expect(status.sync == "Unknown")
            #expect(status.message?.hasPrefix("cluster:") == true, "\(status.message ?? "")")
            await kube.cluster.clearFailures()
            status = try await Self.refresh(server)
            #expect(status.sync == "Synced")
        }
    }

    @Test func syncRedeploysTheDeployedCommitAndRefusesBadOnes() async throws {
        try await Self.withSetup(policy: .report) { server, _, repository in
            let (code, body) = try await server.withClient { api in try await api.send(.POST, "/api/v1/apps/github/sync") }
            #expect(code == 202, "\(String(decoding: body, as: UTF8.self))")
            struct Queued: Decodable { var job: Int64; var commit: String }
            let queued = try JSONDecoder().decode(Queued.self, from: body)
            #expect(queued.commit == (try repository.head()))
            #expect(try await server.waitForEnd(of: queued.job).status == .succeeded)
            #expect(try await server.store.job(id: queued.job)?.trigger == .manual)

            let (forbidden, _) = try await server.withClient(token: LiveServer.readToken) { api in try await api.send(.POST, "/api/v1/apps/github/sync") }
            #expect(forbidden == 403)
            try await server.store.markBad(app: "github", commit: try repository.head(), jobID: 1, reason: "broken")
            let (refused, message) = try await server.withClient { api in try await api.send(.POST, "/api/v1/apps/github/sync") }
            #expect(refused == 409)
            #expect(String(decoding: message, as: UTF8.self).contains("rolled back as bad"))
        }
    }
}

/// Apps that share a repository (a monorepo's services) share one read of its branch heads.
@Suite struct SharedBranchReadTests {
    @Test func twelveAppsOfOneRepositoryReadItsBranchesOnce() async throws {
        let repository = try GitRepository.make(files: ["README.md": "monorepo\n"])
        defer { repository.directory.remove() }
        try await withLiveServer(reconciler: true, configure: { config in
            let template = config.apps[0]
            config.apps = (0..<12).map { index in
                var app = template
                app.name = "svc-\(index)"
                app.repoURL = repository.url
                // Due within the first 6 s (10 % jitter); the read serves for 30 s.
                app.reconcileInterval = .seconds(60)
                return app
            }
        }) { server in
            struct List: Decodable { struct App: Decodable { var reconciled_at: String? }; var apps: [App] }
            try await waitFor(timeout: .seconds(120)) {
                let (_, body) = try await server.withClient { try await $0.send(.GET, "/api/v1/apps") }
                return try JSONDecoder().decode(List.self, from: body).apps.allSatisfy { $0.reconciled_at != nil }
            }
            let (_, metrics) = try await server.withClient(token: nil) { try await $0.send(.GET, "/metrics") }
            let line = String(decoding: metrics, as: UTF8.self).split(separator: "\n").first { $0.hasPrefix("slipway_branch_reads_total ") }
            #expect(line == "slipway_branch_reads_total 1", "\(String(describing: line))")
            // Every app saw the branch head from that one read (and queued its poll job).
            let jobs = try await server.store.jobs(JobQuery(limit: 100))
            #expect(Set(jobs.map(\.app)).count == 12)
            #expect(Set(jobs.map(\.commit)) == [try repository.head()])
        }
    }
}
