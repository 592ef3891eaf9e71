import Foundation
import SlipwayConfig
import SlipwayCore
import SlipwayStore
import SlipwayTestSupport
import Testing

/// Several apps in one repository: a push makes a job only for the apps whose `paths` it
/// touches, from the payload's file lists when complete, else from the mirror's diff.
@Suite struct MonorepoTests {
    /// A GitHub push payload listing `commits` (id, modified files).
    static func payload(before: String, after: String, commits: [(String, [String])], forced: Bool = false) -> Data {
        let list = commits.map { commit in
            #"{"id":"\#(commit.0)","message":"m","author":{"name":"Dev","email":"dev@example.com"},"added":[],"removed":[],"modified":[\#(commit.1.map { "\"\($0)\"" }.joined(separator: ","))]}"#
        }
        return Data(#"""
            {"ref":"refs/heads/main","before":"\#(before)","after":"\#(after)","created":false,"deleted":false,"forced":\#(forced),
             "repository":{"full_name":"acme/mono","clone_url":"https://example.com/acme/mono.git"},
             "head_commit":{"id":"\#(after)","message":"head","author":{"name":"Dev","email":"dev@example.com"}},
             "commits":[\#(list.joined(separator: ","))]}
            """#.utf8)
    }

    static func post(_ server: LiveServer, app: String, _ body: Data, event: String = "push") async throws -> (Int, [String: Any]) {
        let (status, answer) = try await server.withClient(token: nil) { api in
            try await api.send(.POST, "/hooks/\(app)", headers: GitHubSigning.headers(body: body, secret: WebhookFixture.secret, event: event), body: body,
                               authorized: false)
        }
        return (status, (try JSONSerialization.jsonObject(with: answer) as? [String: Any]) ?? [:])
    }

    static func jobApps(_ answer: [String: Any]) -> [String] {
        ((answer["jobs"] as? [[String: Any]]) ?? []).compactMap { $0["app"] as? String }
    }

    static func skippedApps(_ answer: [String: Any]) -> [String] {
        ((answer["skipped"] as? [[String: Any]]) ?? []).compactMap { $0["app"] as? String }
    }

    /// A GitHub `pull_request` payload (same repository) for request `number` at `head`.
    static func pullRequest(number: Int, head: String) -> Data {
        Data(#"""
            {"action":"opened","number":\#(number),"repository":{"full_name":"acme/mono"},
             "pull_request":{"number":\#(number),"title":"t","user":{"login":"dev"},
               "head":{"ref":"feature","sha":"\#(head)","repo":{"full_name":"acme/mono"}},
               "base":{"ref":"main","sha":"0000000000000000000000000000000000000000","repo":{"full_name":"acme/mono"}}}}
            """#.utf8)
    }

    /// A pull request in a monorepo previews the apps its changes touch, measured from where
    /// its branch left `main` (what reached `main` since is not the request's).
    @Test func pullRequestsPreviewOnlyTheAppsTheyTouch() async throws {
        let repository = try GitRepository.make(files: ["services/api/main.go": "1\n", "services/web/index.html": "1\n"])
        defer { repository.directory.remove() }
        try await withLiveServer(configure: { config in
            let secrets = [SecretValue(WebhookFixture.secret)]
            var api = AppConfig(name: "api", repoURL: repository.url, forge: .github, webhookSecrets: secrets)
            api.paths = PathFilter(["services/api/**"])
            api.target = DeployTarget(cluster: "none", namespace: "api")
            var web = AppConfig(name: "web", repoURL: repository.url, forge: .github, webhookSecrets: secrets)
            web.paths = PathFilter(["services/web/**"])
            web.target = DeployTarget(cluster: "none", namespace: "web")
            var docs = AppConfig(name: "docs", repoURL: repository.url, forge: .github, webhookSecrets: secrets)
            docs.target = DeployTarget(cluster: "none", namespace: "docs")
            docs.preview.enabled = false
            config.apps = [web, api, docs]
        }) { server in
            // The request changes api; main meanwhile changes web.
            _ = try repository.git("checkout", "-q", "-b", "feature")
            let head = try repository.commit(files: ["services/api/main.go": "2\n"], message: "api change")
            _ = try repository.git("update-ref", "refs/pull/9/head", head)
            _ = try repository.git("checkout", "-q", "main")
            try repository.commit(files: ["services/web/index.html": "2\n"], message: "web on main")
            let (status, answer) = try await Self.post(server, app: "web", Self.pullRequest(number: 9, head: head), event: "pull_request")
            #expect(status == 202, "\(answer)")
            #expect(Self.jobApps(answer) == ["api"], "\(answer)")
            #expect(Set(Self.skippedApps(answer)) == ["web", "docs"], "\(answer)")
            let jobs = try await server.store.jobs(JobQuery(app: "api"))
            #expect(jobs.map(\.trigger) == [.preview] && jobs.first?.pullRequest == 9)
        }
    }

    @Test func pushesReachOnlyTheAppsTheyTouch() async throws {
        let repository = try GitRepository.make(files: ["services/api/main.go": "1\n", "services/web/index.html": "1\n", "services/web/docs/readme.md": "1\n"])
        defer { repository.directory.remove() }
        try await withLiveServer(configure: { config in
            let secrets = [SecretValue(WebhookFixture.secret)]
            var api = AppConfig(name: "api", repoURL: repository.url, forge: .github, webhookSecrets: secrets)
            api.paths = PathFilter(["services/api/**", "deploy/api/**"])
            var web = AppConfig(name: "web", repoURL: repository.url, forge: .github, webhookSecrets: secrets)
            web.paths = PathFilter(["services/web/**", "!services/web/docs/**"])
            web.dependsOn = ["api"]
            config.apps = [web, api]
        }) { server in
            // The payload lists every file: only api is touched.
            let c0 = try repository.head()
            let c1 = try repository.commit(files: ["services/api/main.go": "2\n"], message: "api change")
            var (status, answer) = try await Self.post(server, app: "api", Self.payload(before: c0, after: c1, commits: [(c1, ["services/api/main.go"])]))
            #expect(status == 202, "\(answer)")
            #expect(Self.jobApps(answer) == ["api"])
            #expect(Self.skippedApps(answer) == ["web"])
            #expect(try await server.store.hasJob(app: "api", commit: c1))
            #expect(try await !server.store.hasJob(app: "web", commit: c1))

            // Only an excluded file of web: no job at all, 200 with the reasons.
            let c2 = try repository.commit(files: ["services/web/docs/readme.md": "2\n"], message: "docs")
            (status, answer) = try await Self.post(server, app: "web", Self.payload(before: c1, after: c2, commits: [(c2, ["services/web/docs/readme.md"])]))
            #expect(status == 200)
            #expect(answer["status"] as? String == "ignored")
            #expect((answer["reason"] as? String)?.contains("no changed file matches the paths of app 'web'") == true, "\(answer)")

            // 25 commits: the payload lists 20, which the forges cap at, so the mirror decides.
            // The one web change is among the five the payload leaves out.
            var commits: [String] = []
            for n in 1...25 {
                commits.append(try repository.commit(files: n == 3 ? ["services/web/index.html": "2\n"] : ["notes/\(n).txt": "\(n)\n"], message: "commit \(n)"))
            }
            let listed = commits.suffix(20).map { ($0, ["notes/x.txt"]) }
            (status, answer) = try await Self.post(server, app: "api", Self.payload(before: c2, after: commits.last!, commits: Array(listed)))
            #expect(status == 202, "\(answer)")
            #expect(Self.jobApps(answer) == ["web"], "\(answer)")
            #expect(Self.skippedApps(answer) == ["api"])

            // A force push back to c2 plus an api change: the diff against the old head
            // touches web's file too (reverted), so both apps deploy; api goes first.
            try repository.git("reset", "-q", "--hard", c2)
            let forced = try repository.commit(files: ["services/api/main.go": "3\n"], message: "rewrite")
            (status, answer) = try await Self.post(server, app: "web", Self.payload(before: commits.last!, after: forced, commits: [(forced, ["services/api/main.go"])], forced: true))
            #expect(status == 202, "\(answer)")
            #expect(Self.jobApps(answer) == ["api", "web"], "dependency order: \(answer)")
            let apiJob = try #require(try await server.store.jobs(JobQuery(app: "api")).first { $0.commit == forced })
            let webJob = try #require(try await server.store.jobs(JobQuery(app: "web")).first { $0.commit == forced })
            #expect(apiJob.id < webJob.id)

            // The same delivery to the other app's hook: the same jobs, nothing new.
            (status, answer) = try await Self.post(server, app: "api", Self.payload(before: commits.last!, after: forced, commits: [(forced, ["services/api/main.go"])], forced: true))
            #expect(Self.jobApps(answer) == ["api", "web"])
        }
    }

    @Test func thePollUsesTheSameDiff() async throws {
        let repository = try GitRepository.make(files: ["services/api/main.go": "1\n", "services/web/index.html": "1\n"])
        defer { repository.directory.remove() }
        let head = try repository.commit(files: ["services/api/main.go": "2\n"], message: "api only, no webhook")
        try await withLiveServer(reconciler: true, configure: { config in
            let secrets = [SecretValue(WebhookFixture.secret)]
            var api = AppConfig(name: "api", repoURL: repository.url, forge: .github, webhookSecrets: secrets)
            api.paths = PathFilter(["services/api/**"])
            api.reconcileInterval = .seconds(1)
            var web = AppConfig(name: "web", repoURL: repository.url, forge: .github, webhookSecrets: secrets)
            web.paths = PathFilter(["services/web/**"])
            web.reconcileInterval = .seconds(1)
            config.apps = [api, web]
        }) { server in
            // Neither app has a job: the diff runs from nothing, so both are concerned once.
            // (Generous waits: polls are every second, but a loaded CI machine runs this
            // beside 199 other tests.)
            try await waitFor(timeout: .seconds(60)) {
                let api = try await server.store.hasJob(app: "api", commit: head)
                let web = try await server.store.hasJob(app: "web", commit: head)
                return api && web
            }
            let next = try repository.commit(files: ["services/api/main.go": "3\n"], message: "api again")
            try await waitFor(timeout: .seconds(60)) { try await server.store.hasJob(app: "api", commit: next) }
            try await Task.sleep(for: .seconds(3))
            #expect(try await !server.store.hasJob(app: "web", commit: next), "web's files did not change")
        }
    }

    @Test func pathGlobs() {
        let filter = PathFilter(["services/api/**", "libs/*.go", "!services/api/docs/**", "config/?.yaml"])
        #expect(filter.matches(path: "services/api/main.go"))
        #expect(filter.matches(path: "services/api/internal/x/y.go"))
        #expect(!filter.matches(path: "services/api/docs/index.md"))
        #expect(filter.matches(path: "libs/util.go"))
        #expect(!filter.matches(path: "libs/sub/util.go"))
        #expect(filter.matches(path: "config/a.yaml"))
        #expect(!filter.matches(path: "config/ab.yaml"))
        #expect(!filter.matches(path: "services/apix/main.go"))
        #expect(PathFilter(["!docs/**"]).matches(path: "src/a.swift"))
        #expect(!PathFilter(["!docs/**"]).matches(path: "docs/a.md"))
        #expect(PathFilter(["**/Dockerfile"]).matches(path: "Dockerfile"))
        #expect(PathFilter(["**/Dockerfile"]).matches(path: "a/b/Dockerfile"))
        #expect(PathFilter([]).matchesAny([]))
        #expect(!filter.matchesAny(["README.md", "services/api/docs/a.md"]))
    }

    @Test func dependenciesAreCheckedWhenTheConfigLoads() throws {
        func load(_ apps: String) throws -> ServerConfig {
            try ServerConfig.parse("apps:\n" + apps, file: "slipway.yaml", environment: ["S": "secret"])
        }
        func app(_ name: String, _ dependsOn: String) -> String {
            "  - {name: \(name), repo: https://x/m.git, forge: github, webhook_secrets: [{env: S}], depends_on: [\(dependsOn)], paths: [\"\(name)/**\"]}\n"
        }
        let config = try load(app("db", "") + app("api", "db") + app("web", "api, db"))
        #expect(config.app(named: "web")?.dependsOn == ["api", "db"])
        #expect(config.app(named: "api")?.paths.patterns == ["api/**"])
        #expect(config.dependencyOrder(["web", "api", "db"]) == ["db", "api", "web"])
        do {
            _ = try load(app("a", "c") + app("b", "a") + app("c", "b"))
            Issue.record("a cycle was accepted")
        } catch {
            #expect("\(error)".contains("apps depend on each other in a cycle: a -> c -> b -> a"), "\(error)")
            #expect("\(error)".contains("slipway.yaml:2"), "\(error)")
        }
        #expect(throws: ConfigError.self) { try load(app("a", "nobody")) }
        #expect(throws: ConfigError.self) { try load(app("a", "a")) }
        #expect(throws: ConfigError.self) {
            try load("  - {name: a, repo: https://x/m.git, forge: github, webhook_secrets: [{env: S}], paths: [\"../x/**\"]}\n")
        }
    }
}

/// `depends_on` through the runner: an app's job starts only after the job of the app it
/// depends on for the same commit succeeded; it ends `blocked` when that one failed, and runs
/// again once that app next deploys successfully.
@Suite struct DependsOnTests {
    @Test func aDependentWaitsIsBlockedAndRetried() async throws {
        let repository = try GitRepository.make(files: [
            "db.slipway.yaml": "stages:\n  build:\n    - {name: migrate, run: 'sleep 1; test -f db/ok'}\n",
            "api.slipway.yaml": "stages:\n  build:\n    - {name: serve, run: echo api}\n",
            "db/ok": "yes\n", "api/main.go": "1\n",
        ])
        defer { repository.directory.remove() }
        try await withLiveServer(runner: true, configure: { config in
            let secrets = [SecretValue(WebhookFixture.secret)]
            var db = AppConfig(name: "db", repoURL: repository.url, forge: .github, webhookSecrets: secrets, pipelinePath: "db.slipway.yaml")
            db.paths = PathFilter(["db/**"])
            var api = AppConfig(name: "api", repoURL: repository.url, forge: .github, webhookSecrets: secrets, pipelinePath: "api.slipway.yaml")
            api.paths = PathFilter(["api/**"])
            api.dependsOn = ["db"]
            config.apps = [api, db]
            config.workers = 2
        }) { server in
            func jobs(_ commit: String) async throws -> (db: Job, api: Job) {
                let all = try await server.store.jobs(JobQuery(limit: 100)).filter { $0.commit == commit }
                return (try #require(all.first { $0.app == "db" }), try #require(all.first { $0.app == "api" }))
            }
            // Both concerned: db first, api only once db succeeded.
            let c0 = try repository.head()
            let c1 = try repository.commit(files: ["db/schema.sql": "1\n", "api/main.go": "2\n"], message: "both")
            var (status, answer) = try await MonorepoTests.post(server, app: "api", MonorepoTests.payload(before: c0, after: c1, commits: [(c1, ["db/schema.sql", "api/main.go"])]))
            #expect(status == 202, "\(answer)")
            var pair = try await jobs(c1)
            let db1 = try await server.waitForEnd(of: pair.db.id)
            let api1 = try await server.waitForEnd(of: pair.api.id)
            #expect(db1.status == .succeeded, "\(db1.reason ?? "")")
            #expect(api1.status == .succeeded, "\(api1.reason ?? "")")
            #expect((api1.startedAt ?? .distantPast) >= (db1.finishedAt ?? .distantFuture), "api started only after db had deployed")

            // db fails: api is blocked, never started, and says why.
            let c2 = try repository.commit(files: ["db/ok": nil, "api/main.go": "3\n"], message: "break db")
            (status, answer) = try await MonorepoTests.post(server, app: "db", MonorepoTests.payload(before: c1, after: c2, commits: [(c2, ["db/ok", "api/main.go"])]))
            #expect(status == 202, "\(answer)")
            pair = try await jobs(c2)
            #expect(try await server.waitForEnd(of: pair.db.id).status == .failed)
            let blocked = try await server.waitForEnd(of: pair.api.id)
            #expect(blocked.status == .blocked)
            #expect(blocked.startedAt == nil)
            #expect(blocked.reason?.contains("app 'db' did not deploy \(c2.prefix(12)): its job \(pair.db.id) failed") == true, "\(blocked.reason ?? "")")

            // db is fixed by a commit api is not concerned with: api's blocked job runs again.
            let c3 = try repository.commit(files: ["db/ok": "yes\n"], message: "fix db")
            (status, answer) = try await MonorepoTests.post(server, app: "db", MonorepoTests.payload(before: c2, after: c3, commits: [(c3, ["db/ok"])]))
            #expect(MonorepoTests.jobApps(answer) == ["db"], "\(answer)")
            let retry = try await waitForRetry(server, of: blocked)
            let ended = try await server.waitForEnd(of: retry.id)
            #expect(ended.status == .succeeded, "\(ended.reason ?? "")")
            #expect(ended.commit == c2)
            #expect(ended.message?.contains("retry of blocked job \(blocked.id)") == true)
        }
    }

    private func waitForRetry(_ server: LiveServer, of blocked: Job) async throws -> Job {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let retry = try await server.store.jobs(JobQuery(app: "api", limit: 10)).first(where: { $0.id > blocked.id && $0.commit == blocked.commit }) {
                return retry
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("no retry of job \(blocked.id) within 30 s")
        return blocked
    }
}
