import Foundation
import KubeTestServer
import SlipwayConfig
import SlipwayCore
import SlipwayKube
import SlipwayTestSupport
import SlipwayWebhooks
import Testing

/// Pull-request previews end to end: a signed `pull_request` delivery, the request's head ref
/// in a real repository, the dry-run against the Kubernetes API test server with the app's
/// rules, the one comment on the fake forge, edited on later pushes; then the merge deploys.
@Suite struct PullRequestPreviewTests {
    static let pipeline = """
        stages:
          test:
            - {name: lint, run: test -f deploy/web.yaml}
        deploy:
          manifests: deploy
          wait: 20s
        """

    static func web(replicas: Int) -> String {
        """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          replicas: \(replicas)
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers: [{name: web, image: "shop:1.0"}]
        """
    }

    static let payment = """
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: payment}
        data: {provider: "acme-pay"}
        ---
        apiVersion: v1
        kind: Secret
        metadata: {name: payment-key}
        stringData: {key: "s3cr3t-value-from-the-request"}
        """

    static let namespace = "apiVersion: v1\nkind: Namespace\nmetadata: {name: elsewhere}\n"

    /// Sends a GitHub `pull_request` delivery, signed, and returns the answer's status and job.
    static func pullRequest(_ server: LiveServer, app: String, number: Int, action: String, head: String,
                            fork: Bool = false) async throws -> (status: Int, job: JobID?) {
        let payload: [String: Any] = [
            "action": action, "number": number,
            "pull_request": [
                "number": number, "title": "Checkout", "user": ["login": "sam-dev"],
                "head": ["ref": "feature", "sha": head, "repo": ["full_name": fork ? "sam-dev/shop" : "acme/shop"]],
                "base": ["ref": "main", "sha": String(repeating: "0", count: 40), "repo": ["full_name": "acme/shop"]],
            ],
            "repository": ["full_name": "acme/shop"],
        ]
        let body = try JSONSerialization.data(withJSONObject: payload)
        let headers = GitHubAdapter().signedHeaders(body: body, event: "pull_request", deliveryID: UUID().uuidString,
                                                    secret: SecretValue(WebhookFixture.secret), now: Date())
        let (status, answer) = try await server.withClient(token: nil) { client in
            try await client.send(.POST, "/hooks/\(app)", headers: headers.map { ($0.name, $0.value) }, body: body)
        }
        let job = (try? JSONSerialization.jsonObject(with: answer) as? [String: Any])?["job"] as? Int64
        return (status, job)
    }

    /// Commits `files` on branch `feature` and publishes it as GitHub does, under `refs/pull/N/head`.
    static func pushToRequest(_ repository: GitRepository, number: Int, files: [String: String?], message: String) throws -> String {
        _ = try repository.git("checkout", "-q", "-B", "feature", (try? repository.git("rev-parse", "--verify", "-q", "feature")) == nil ? "main" : "feature")
        let head = try repository.commit(files: files, message: message)
        _ = try repository.git("update-ref", "refs/pull/\(number)/head", head)
        _ = try repository.git("checkout", "-q", "main")
        return head
    }

    @Test func aPullRequestIsPreviewedInOneCommentEditedOnEachPushThenTheMergeDeploys() async throws {
        let kube = try await KubeTestServer.start(controllers: true)
        let client = try kube.client()
        _ = try await client.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "shop"]], fieldManager: "setup", force: true)
        let fake = try await FakeForgeAPI.start(.github, repository: "acme/shop")
        let repository = try GitRepository.make(files: [".slipway.yaml": Self.pipeline, "deploy/web.yaml": Self.web(replicas: 2)])
        defer { repository.directory.remove() }
        try await withLiveServer(runner: true, clusters: ["test": client], configure: { config in
            config.publicURL = "https://slipway.example.com"
            config.apps[0].repoURL = repository.url
            config.apps[0].target = DeployTarget(cluster: "test", namespace: "shop")
            config.apps[0].forgeAPI = ForgeAPI(url: fake.url, token: SecretValue(fake.token), repository: fake.repository)
            config.apps[0].preview.stages = [.test]
        }) { server in
            // The branch deployed first.
            let base = try repository.head()
            let deployed = try await server.push(app: "github", commit: base)
            #expect(try await server.waitForEnd(of: deployed).status == .succeeded)

            // 1. Opened: one preview job, one comment, nothing applied.
            let head1 = try Self.pushToRequest(repository, number: 7, files: ["deploy/web.yaml": Self.web(replicas: 3), "deploy/payment.yaml": Self.payment],
                                               message: "scale and pay")
            let opened = try await Self.pullRequest(server, app: "github", number: 7, action: "opened", head: head1)
            #expect(opened.status == 202)
            let first = try await server.waitForEnd(of: try #require(opened.job))
            let firstLog = try await server.log(of: first.id)
            #expect(first.status == .succeeded, "\(first.reason ?? "")\n\(firstLog)")
            #expect(first.trigger == .preview && first.pullRequest == 7 && first.ref == "refs/pull/7/head" && !first.fromFork)
            #expect(first.reason == "2 to create, 1 to change, 0 to prune, 0 refused")
            #expect(try await server.store.steps(first.id).map { "\($0.stage)/\($0.name)" } == ["test/lint", "preview/dry-run manifests"])
            try await waitFor(timeout: .seconds(10)) { await fake.comments().count == 1 }
            var comment = try #require(await fake.comments().first)
            #expect(comment.pullRequest == 7)
            #expect(comment.body.contains("### Slipway preview: `github`"))
            #expect(comment.body.contains("**2 to create, 1 to change, 0 to prune, 0 refused**"))
            #expect(comment.body.contains("~ spec.replicas: 2 → 3"), "\(comment.body)")
            #expect(comment.body.contains("**create** `ConfigMap shop/payment`") && comment.body.contains("+ data.provider: \"acme-pay\""))
            #expect(comment.body.contains("**create** `Secret shop/payment-key`") && comment.body.contains("\"***\""))
            #expect(!comment.body.contains("s3cr3t-value-from-the-request"), "Secret values are masked")
            #expect(comment.body.contains("https://slipway.example.com/jobs/\(first.id)"))
            // A preview applies nothing.
            let live = await kube.cluster.object(apiVersion: "apps/v1", kind: "Deployment", namespace: "shop", name: "web")
            #expect(live?[path: ["spec", "replicas"]] == 2)
            #expect(await kube.cluster.object(apiVersion: "v1", kind: "ConfigMap", namespace: "shop", name: "payment") == nil)

            // A redelivery, or another event with the same head, is the same preview.
            let again = try await Self.pullRequest(server, app: "github", number: 7, action: "synchronize", head: head1)
            #expect(again.status == 200 && again.job == first.id)

            // 2. A push that adds what the app may not deploy: the same comment, edited; the check fails.
            let head2 = try Self.pushToRequest(repository, number: 7, files: ["deploy/namespace.yaml": Self.namespace], message: "a namespace")
            let refusedRun = try await Self.pullRequest(server, app: "github", number: 7, action: "synchronize", head: head2)
            let second = try await server.waitForEnd(of: try #require(refusedRun.job))
            #expect(second.status == .failed)
            #expect(second.reason == "1 object(s) would be refused: 2 to create, 1 to change, 0 to prune, 1 refused", "\(second.reason ?? "")")
            try await waitFor(timeout: .seconds(10)) { await fake.comments().first?.edits == 1 }
            comment = try #require(await fake.comments().first)
            #expect(await fake.comments().count == 1, "edited, not added")
            #expect(comment.body.contains("**refused** `Namespace elsewhere`"))
            #expect(comment.body.contains("allowed_cluster_kinds"), "\(comment.body)")

            // 3. Fixed, then merged: the preview passes again, and the merge commit deploys.
            let head3 = try Self.pushToRequest(repository, number: 7, files: ["deploy/namespace.yaml": nil], message: "no namespace")
            let fixed = try await Self.pullRequest(server, app: "github", number: 7, action: "synchronize", head: head3)
            #expect(try await server.waitForEnd(of: try #require(fixed.job)).status == .succeeded)
            try await waitFor(timeout: .seconds(10)) { await fake.comments().first?.edits == 2 }
            _ = try repository.git("merge", "-q", "--no-ff", "-m", "Merge pull request #7", "feature")
            let merge = try repository.head()
            let deploy = try await server.push(app: "github", commit: merge)
            #expect(try await server.waitForEnd(of: deploy).status == .succeeded)
            let merged = await kube.cluster.object(apiVersion: "apps/v1", kind: "Deployment", namespace: "shop", name: "web")
            #expect(merged?[path: ["spec", "replicas"]] == 3)

            // Statuses: the previews under their own context on the request's heads, the deploy on the merge commit.
            try await waitFor(timeout: .seconds(10)) { await fake.taken().filter { $0.commit == merge }.count >= 3 }
            let taken = await fake.taken()
            #expect(taken.filter { $0.commit == head1 }.map { "\($0.context) \($0.state)" }
                    == ["slipway/github/preview pending", "slipway/github/preview pending", "slipway/github/preview success"])
            #expect(taken.filter { $0.commit == head1 }.last?.description == "preview: 2 to create, 1 to change, 0 to prune, 0 refused")
            #expect(taken.filter { $0.commit == head2 }.last?.state == "failure")
            #expect(taken.filter { $0.commit == merge }.map { "\($0.context) \($0.state)" }
                    == ["slipway/github pending", "slipway/github pending", "slipway/github success"])
            #expect(await fake.comments().count == 1)
            let refusals = await fake.refusals()
            #expect(refusals.isEmpty, "\(refusals)")
        }
        await fake.stop()
        await kube.stop()
    }

    /// A fork's request: no steps, and its render command runs without the app's secrets.
    @Test func aForkGetsNoSecretsAndNoSteps() async throws {
        let kube = try await KubeTestServer.start()
        let client = try kube.client()
        _ = try await client.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "shop"]], fieldManager: "setup", force: true)
        let pipeline = """
            stages:
              test:
                - {name: has-token, run: test -n "$API_TOKEN"}
            deploy:
              render: |
                printf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: probe}\\ndata: {token: "%s", pr: "%s"}\\n' "$API_TOKEN" "$SLIPWAY_PULL_REQUEST"
            """
        let repository = try GitRepository.make(files: [".slipway.yaml": pipeline])
        defer { repository.directory.remove() }
        try await withLiveServer(runner: true, clusters: ["test": client], configure: { config in
            config.apps[0].repoURL = repository.url
            config.apps[0].target = DeployTarget(cluster: "test", namespace: "shop")
            config.apps[0].secrets = ["API_TOKEN": SecretValue("app-token-9f8e")]
            config.apps[0].preview.stages = [.test]
        }) { server in
            let head = try Self.pushToRequest(repository, number: 12, files: ["README.md": "fork"], message: "from a fork")
            let forked = try await Self.pullRequest(server, app: "github", number: 12, action: "opened", head: head, fork: true)
            let job = try await server.waitForEnd(of: try #require(forked.job))
            #expect(job.status == .succeeded, "\(job.reason ?? "")")
            #expect(job.fromFork)
            #expect(try await server.store.steps(job.id).map(\.name) == ["dry-run manifests"], "no pipeline steps for a fork")
            let log = try await server.log(of: job.id)
            #expect(log.contains("from a fork: no secrets, no steps"))
            #expect(log.contains("data.token: (absent) -> \"\""), "rendered without the secret:\n\(log)")
            #expect(log.contains("data.pr: (absent) -> \"12\""))
            #expect(!log.contains("app-token-9f8e"))

            // The same request from the repository itself gets the secret (masked) and runs its steps.
            let own = try await Self.pullRequest(server, app: "github", number: 13, action: "opened", head: head)
            let ownJob = try await server.waitForEnd(of: try #require(own.job))
            #expect(ownJob.status == .succeeded, "\(ownJob.reason ?? "")")
            #expect(try await server.store.steps(ownJob.id).map(\.name) == ["has-token", "dry-run manifests"])
            let ownLog = try await server.log(of: ownJob.id)
            #expect(ownLog.contains("data.token: (absent) -> \"***\""), "\(ownLog)")
        }
        await kube.stop()
    }

    /// Without the sandbox, a fork's render command does not run at all.
    @Test func aForksRenderCommandNeedsTheSandbox() async throws {
        let pipeline = "deploy:\n  render: cat deploy.yaml\n"
        let repository = try GitRepository.make(files: [".slipway.yaml": pipeline])
        defer { repository.directory.remove() }
        try await withLiveServer(runner: true, configure: { config in
            config.apps[0].repoURL = repository.url
            config.apps[0].target = DeployTarget(cluster: "test", namespace: "shop")
            config.sandbox.mode = .none
        }) { server in
            let head = try Self.pushToRequest(repository, number: 21, files: ["README.md": "fork"], message: "from a fork")
            let forked = try await Self.pullRequest(server, app: "github", number: 21, action: "opened", head: head, fork: true)
            let job = try await server.waitForEnd(of: try #require(forked.job))
            #expect(job.status == .failed)
            #expect(job.reason?.contains("runs commands only in the sandbox") == true, "\(job.reason ?? "")")
        }
    }

    /// On the kubernetes executor a preview's opted-in steps run as a pod too, in the request's
    /// head (fetched from the forge's pull-request ref into Slipway's mirror, then served to the pod).
    @Test func aPreviewOnTheKubernetesExecutorRunsItsStepsAsAPod() async throws {
        let kube = try await KubeTestServer.start(controllers: true, processes: true)
        let client = try kube.client()
        for namespace in ["shop", "builds"] {
            _ = try await client.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(namespace)]], fieldManager: "setup", force: true)
        }
        let repository = try GitRepository.make(files: [".slipway.yaml": """
            stages:
              test:
                - {name: lint, run: 'echo "request $SLIPWAY_PULL_REQUEST"; grep "replicas:" deploy/web.yaml'}
            deploy:
              manifests: deploy
            """, "deploy/web.yaml": Self.web(replicas: 2)])
        defer { repository.directory.remove() }
        let port = try freeLoopbackPort()
        try await withLiveServer(runner: true, clusters: ["test": client], configure: { config in
            config.port = port
            config.publicURL = "https://localhost:\(port)"
            config.apps[0].repoURL = repository.url
            config.apps[0].target = DeployTarget(cluster: "test", namespace: "shop")
            config.apps[0].preview.stages = [.test]
            config.executor = .kubernetes
            var settings = KubernetesExecutorSettings(cluster: "test", namespace: "builds")
            settings.imagePullPolicy = "Never"
            settings.fetchImage = "slipway.local/busybox:1"
            settings.defaultImage = "slipway.local/debian:12"
            config.kubernetes = settings
        }) { server in
            let head = try Self.pushToRequest(repository, number: 9, files: ["deploy/web.yaml": Self.web(replicas: 3)], message: "three")
            let opened = try await Self.pullRequest(server, app: "github", number: 9, action: "opened", head: head)
            let job = try await server.waitForEnd(of: try #require(opened.job))
            let log = try await server.log(of: job.id)
            #expect(job.status == .succeeded, "\(job.reason ?? "")\n\(log)")
            #expect(log.contains("[slipway] pod builds/slipway-github-\(job.id) created"), "\(log)")
            #expect(log.contains("[test/lint] request 9"))
            // The request's head, not the branch's: the pod's workspace has three replicas.
            #expect(log.contains("[test/lint]   replicas: 3"), "\(log)")
            #expect(try await server.store.steps(job.id).map(\.status) == [.succeeded, .succeeded])
            try await waitFor { await kube.cluster.objects(apiVersion: "v1", kind: "Pod").isEmpty }
        }
        await client.shutdown()
        await kube.stop()
    }
}
