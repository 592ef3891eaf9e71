import Foundation
import SlipwayConfig
import SlipwayCore
import SlipwayStore
import SlipwayTestSupport
import Testing

/// The example scripts in hooks/, run for real by the runner (and by git, for post-receive).
@Suite struct HookScriptTests {
    static let hooksDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../hooks").standardized.path

    static func withRunner<T>(_ repository: GitRepository, _ body: (LiveServer) async throws -> T) async throws -> T {
        try await withLiveServer(runner: true, configure: { config in
            config.apps[0].repoURL = repository.url
            config.hooksDir = hooksDir
        }, body)
    }

    @Test func postReceiveSignsPushesLikeGitHubAndTheJobRuns() async throws {
        let bare = try TemporaryDirectory("slipway-bare")
        defer { bare.remove() }
        try GitRepository.run(["init", "-q", "--bare", "-b", "main", bare.path], in: "/")
        let hook = bare.path + "/hooks/post-receive"
        try FileManager.default.copyItem(atPath: Self.hooksDir + "/post-receive", toPath: hook)
        let secretFile = try bare.write("hook-secret", WebhookFixture.secret + "\n")

        try await withLiveServer(runner: true, configure: { config in
            config.apps[0].repoURL = "file://" + bare.path
        }) { server in
            for (key, value) in ["slipway.url": server.baseURL, "slipway.app": "github", "slipway.secretFile": secretFile,
                                 "slipway.caFile": server.certificatePath] {
                try GitRepository.run(["config", key, value], in: bare.path)
            }
            let work = try GitRepository.make(files: [".slipway.yaml": """
                stages:
                  build:
                    - {name: hello, run: echo "pushed without a forge"}
                """])
            defer { work.directory.remove() }
            try work.git("remote", "add", "origin", bare.path)
            let pushed = try await work.gitAsync("push", "-q", "origin", "main")
            let head = try work.head()
            try await waitFor { try await server.store.jobs(JobQuery()).count == 1 }
            let job = try #require(try await server.store.jobs(JobQuery()).first)
            #expect(job.commit == head, "\(pushed)")
            #expect(job.forge == .github)
            let ended = try await server.waitForEnd(of: job.id)
            #expect(ended.status == .succeeded)
            #expect(try await server.log(of: job.id).contains("[build/hello] pushed without a forge"))

            // Another branch: the hook stays quiet and no job appears.
            try work.git("checkout", "-q", "-b", "feature")
            try work.commit(files: ["f": "f"], message: "feature")
            try await work.gitAsync("push", "-q", "origin", "feature")
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await server.store.jobs(JobQuery()).count == 1)
        }
    }

    @Test func preDeployCheckHoldsADeploy() async throws {
        let pipeline = """
            stages:
              deploy:
                - {name: ship, run: echo shipped}
            hooks:
              pre-deploy:
                - name: check
                  hook: pre-deploy-check.sh
                  env: {REQUIRED_FILES: "manifests/app.yaml"}
            """
        let repository = try GitRepository.make(files: [".slipway.yaml": pipeline, "manifests/app.yaml": "kind: ConfigMap\n"])
        defer { repository.directory.remove() }
        try await Self.withRunner(repository) { server in
            let ok = try await server.push(app: "github", commit: try repository.head())
            #expect(try await server.waitForEnd(of: ok).status == .succeeded)
            #expect(try await server.log(of: ok).contains("[deploy/ship] shipped"))

            let held = try await server.push(app: "github", commit: try repository.commit(files: [".slipway-hold": "freeze"], message: "hold"))
            let job = try await server.waitForEnd(of: held)
            #expect(job.status == .failed)
            #expect(job.reason == "step pre-deploy/check failed with exit code 1")
            #expect(try await server.log(of: held).contains("deploys of github are on hold"))
            #expect(!(try await server.log(of: held).contains("shipped")))

            let missing = try await server.push(app: "github", commit: try repository.commit(files: [".slipway-hold": nil, "manifests/app.yaml": nil], message: "rm"))
            #expect(try await server.waitForEnd(of: missing).status == .failed)
            #expect(try await server.log(of: missing).contains("required file manifests/app.yaml is missing"))
        }
    }

    @Test func smokeTestRetriesUntilTheURLAnswers() async throws {
        let recorder = try await RecordingHTTPServer.start(status: 503)
        defer { Task { await recorder.stop() } }
        let repository = try GitRepository.make(files: [".slipway.yaml": """
            stages:
              deploy:
                - {name: ship, run: echo shipped}
            hooks:
              post-deploy:
                - name: smoke
                  hook: post-deploy-smoke-test.sh
                  env: {SMOKE_URL: "\(recorder.url)/healthz", SMOKE_TRIES: "2", SMOKE_DELAY: "0"}
            """])
        defer { repository.directory.remove() }
        try await Self.withRunner(repository) { server in
            let failing = try await server.push(app: "github", commit: try repository.head())
            let job = try await server.waitForEnd(of: failing)
            #expect(job.status == .failed)
            #expect(job.reason == "step post-deploy/smoke failed with exit code 1")
            #expect(await recorder.requests().count == 2)
            #expect(try await server.log(of: failing).contains("answered 503 (attempt 2 of 2)"))

            await recorder.answer(with: 200)
            let passing = try await server.push(app: "github", commit: try repository.commit(files: ["x": "x"], message: "x"))
            #expect(try await server.waitForEnd(of: passing).status == .succeeded)
            #expect(try await server.log(of: passing).contains("[post-deploy/smoke] smoke test: \(recorder.url)/healthz answered 200"))
        }
        await recorder.stop()
    }

    @Test func onFailureNotifierPostsTheFailure() async throws {
        let recorder = try await RecordingHTTPServer.start()
        let repository = try GitRepository.make(files: [".slipway.yaml": """
            stages:
              test:
                - {name: unit, run: exit 7}
            hooks:
              on-failure:
                - name: notify
                  hook: on-failure-notify.sh
                  env: {NOTIFY_URL: "\(recorder.url)/deploys"}
            """])
        defer { repository.directory.remove() }
        try await Self.withRunner(repository) { server in
            let commit = try repository.head()
            let id = try await server.push(app: "github", commit: commit)
            #expect(try await server.waitForEnd(of: id).status == .failed)
            let requests = await recorder.requests()
            #expect(requests.count == 1)
            let notice = try JSONSerialization.jsonObject(with: Data(requests[0].body.utf8)) as? [String: Any]
            #expect(requests[0].method == "POST")
            #expect(requests[0].path == "/deploys")
            #expect(notice?["failed_step"] as? String == "test/unit")
            #expect(notice?["commit"] as? String == commit)
            #expect(notice?["job"] as? Int == Int(id))
            #expect(try await server.log(of: id).contains("[on-failure/notify] notify: \(recorder.url)/deploys answered 200"))
        }
        await recorder.stop()
    }

    @Test func workdirCannotLeaveTheWorkspace() async throws {
        let repository = try GitRepository.make(files: [".slipway.yaml": """
            stages:
              build:
                - {name: escape, run: pwd, workdir: link}
            """])
        defer { repository.directory.remove() }
        try FileManager.default.createSymbolicLink(atPath: repository.path + "/link", withDestinationPath: "/etc")
        try repository.git("add", "link")
        try repository.git("commit", "-q", "-m", "link")
        try await Self.withRunner(repository) { server in
            let id = try await server.push(app: "github", commit: try repository.head())
            let job = try await server.waitForEnd(of: id)
            #expect(job.status == .failed)
            #expect(job.reason == "step build/escape could not start: workdir link leads outside the workspace")
        }
        #expect(throws: ConfigError.self) {
            try PipelineSpec.parse("stages:\n  build:\n    - {name: up, run: ls, workdir: ../..}\n", file: ".slipway.yaml")
        }
    }
}
