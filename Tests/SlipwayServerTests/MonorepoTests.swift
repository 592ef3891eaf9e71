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

    static func post(_ server: LiveServer, app: String, _ body: Data) async throws -> (Int, [String: Any]) {
        let (status, answer) = try await server.withClient(token: nil) { api in
            try await api.send(.POST, "/hooks/\(app)", headers: GitHubSigning.headers(body: body, secret: WebhookFixture.secret), body: body, authorized: false)
        }
        return (status, (try JSONSerialization.jsonObject(with: answer) as? [String: Any]) ?? [:])
    }

    static func jobApps(_ answer: [String: Any]) -> [String] {
        ((answer["jobs"] as? [[String: Any]]) ?? []).compactMap { $0["app"] as? String }
    }

    static func skippedApps(_ answer: [String: Any]) -> [String] {
        ((answer["skipped"] as? [[String: Any]]) ?? []).compactMap { $0["app"] as? String }
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
