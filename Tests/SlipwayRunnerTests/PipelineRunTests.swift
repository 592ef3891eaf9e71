import Foundation
import SlipwayConfig
import SlipwayCore
import SlipwayStore
import SlipwayTestSupport
import Testing

/// Real repositories, real child processes, the real server: a push runs the repository's pipeline.
@Suite struct PipelineRunTests {
    /// Runs `body` with a live server (runner on) whose `github` app builds `repository`.
    static func withRunner<T>(_ repository: GitRepository, configure: @escaping (inout ServerConfig) -> Void = { _ in },
                              _ body: (LiveServer) async throws -> T) async throws -> T {
        try await withLiveServer(runner: true, configure: { config in
            config.apps[0].repoURL = repository.url
            config.workers = 2
            configure(&config)
        }, body)
    }

    @Test func buildsAndTestsATinyProgram() async throws {
        let repository = try GitRepository.make(files: [
            "hello.c": "#include <stdio.h>\nint main(void) { printf(\"hello from slipway\\n\"); return 0; }\n",
            ".slipway.yaml": """
                stages:
                  build:
                    - name: compile
                      run: cc -o hello hello.c && echo built
                  test:
                    - name: run
                      run: ./hello | grep "hello from slipway"
                    - name: environment
                      run: |
                        echo "app=$SLIPWAY_APP job=$SLIPWAY_JOB_ID branch=$SLIPWAY_BRANCH short=$SLIPWAY_COMMIT_SHORT"
                        test "$SLIPWAY_COMMIT" = "$(cat .commit-check 2>/dev/null || echo $SLIPWAY_COMMIT)"
                        test "$SLIPWAY_WORKSPACE" = "$(pwd)"
                        test -z "${SLIPWAY_TEST_SERVER_ONLY:-}"
                """,
        ])
        defer { repository.directory.remove() }
        setenv("SLIPWAY_TEST_SERVER_ONLY", "must not reach steps", 1)
        try await Self.withRunner(repository) { server in
            let commit = try repository.head()
            let id = try await server.push(app: "github", commit: commit)
            let job = try await server.waitForEnd(of: id)
            let log = try await server.log(of: id)
            #expect(job.status == .succeeded, "\(job.reason ?? "")\n\(log)")
            #expect(log.contains("[build/compile] built"))
            #expect(log.contains("[test/run] hello from slipway"))
            #expect(log.contains("[test/environment] app=github job=\(id) branch=main short=\(commit.prefix(7))"))
            #expect(log.contains("cloned \(repository.url)"))
            let steps = try await server.store.steps(id)
            #expect(steps.map(\.name) == ["compile", "run", "environment"])
            #expect(steps.allSatisfy { $0.status == .succeeded && $0.exitCode == 0 && $0.startedAt != nil && $0.finishedAt != nil })

            // The second job of the same repository fetches only what is new.
            let next = try repository.commit(files: ["hello.c": "#include <stdio.h>\nint main(void) { printf(\"hello from slipway 2\\n\"); return 0; }\n"], message: "v2")
            let second = try await server.push(app: "github", commit: next)
            #expect(try await server.waitForEnd(of: second).status == .succeeded)
            let secondLog = try await server.log(of: second)
            #expect(secondLog.contains("fetched \(repository.url): 3 new objects"), "\(secondLog)")
            #expect(!secondLog.contains("cloned"))
        }
    }

    @Test func aFailingStepFailsTheJobSkipsTheRestAndRunsOnFailureHooks() async throws {
        let repository = try GitRepository.make(files: [".slipway.yaml": """
            stages:
              build:
                - name: ok
                  run: echo fine
              test:
                - name: broken
                  run: echo about to fail; exit 3
              deploy:
                - name: ship
                  run: echo must not run
            hooks:
              pre-deploy:
                - {name: check, run: echo must not run either}
              on-failure:
                - name: report
                  run: echo "failed at $SLIPWAY_FAILED_STEP with status $SLIPWAY_JOB_STATUS"
            """])
        defer { repository.directory.remove() }
        try await Self.withRunner(repository) { server in
            let id = try await server.push(app: "github", commit: try repository.head())
            let job = try await server.waitForEnd(of: id)
            let log = try await server.log(of: id)
            #expect(job.status == .failed)
            #expect(job.reason == "step test/broken failed with exit code 3")
            #expect(log.contains("[on-failure/report] failed at test/broken with status failed"), "\(log)")
            #expect(!log.contains("must not run"))
            let steps = try await server.store.steps(id)
            #expect(steps.map(\.status) == [.succeeded, .failed, .skipped, .skipped, .succeeded])
            #expect(steps[1].exitCode == 3)
        }
    }

    @Test func aTimeoutKillsTheWholeProcessGroup() async throws {
        let repository = try GitRepository.make(files: [".slipway.yaml": """
            stages:
              build:
                - name: hangs
                  timeout: 1s
                  run: |
                    sh -c 'while true; do echo tick >> ticks; sleep 0.1; done' &
                    echo started grandchild
                    wait
            """])
        defer { repository.directory.remove() }
        try await Self.withRunner(repository, configure: { $0.keepWorkspaces = 5 }) { server in
            let id = try await server.push(app: "github", commit: try repository.head())
            let job = try await server.waitForEnd(of: id)
            #expect(job.status == .failed)
            #expect(job.reason == "step build/hangs timed out and was killed with its process group")
            // The grandchild is gone too: its file stops growing. (Its pid is one of the step's
            // own PID namespace, so the host cannot look it up by number.)
            let ticks = server.config.workspacesDir + "/github-\(id)/ticks"
            func size() -> Int { ((try? FileManager.default.attributesOfItem(atPath: ticks))?[.size] as? Int) ?? 0 }
            try await Task.sleep(for: .milliseconds(300))
            let before = size()
            try await Task.sleep(for: .seconds(1))
            #expect(before > 0)
            #expect(size() == before, "the grandchild still writes")
            #expect(try await server.store.steps(id).first?.status == .timedOut)
        }
    }

    @Test func cancelStopsTheRunningStep() async throws {
        let repository = try GitRepository.make(files: [".slipway.yaml": """
            stages:
              build:
                - {name: long, run: echo working; sleep 120}
              test:
                - {name: never, run: echo never}
            """])
        defer { repository.directory.remove() }
        try await Self.withRunner(repository) { server in
            let id = try await server.push(app: "github", commit: try repository.head())
            try await waitFor { try await server.log(of: id).contains("[build/long] working") }
            let (status, _) = try await server.withClient { client in try await client.send(.POST, "/api/v1/jobs/\(id)/cancel") }
            #expect(status == 202)
            let job = try await server.waitForEnd(of: id)
            #expect(job.status == .cancelled)
            #expect(!(try await server.log(of: id).contains("step build/long succeeded")))
            #expect(try await server.store.steps(id).map(\.status) == [.cancelled, .skipped])
        }
    }

    @Test func secretsAreMaskedEvenWhenSplitAcrossReads() async throws {
        let repository = try GitRepository.make(files: [".slipway.yaml": """
            stages:
              build:
                - name: leaky
                  run: |
                    echo "token is $DEPLOY_TOKEN"
                    printf 'split: s3cr3t-'; sleep 0.5; printf 'value-123 done\\n'
                    echo "$DEPLOY_TOKEN" >&2
            """])
        defer { repository.directory.remove() }
        try await Self.withRunner(repository, configure: { config in
            config.apps[0].secrets = ["DEPLOY_TOKEN": SecretValue("s3cr3t-value-123")]
        }) { server in
            let id = try await server.push(app: "github", commit: try repository.head())
            let job = try await server.waitForEnd(of: id)
            let log = try await server.log(of: id)
            #expect(job.status == .succeeded, "\(log)")
            #expect(!log.contains("s3cr3t"), "\(log)")
            #expect(log.contains("[build/leaky] token is ***"))
            #expect(log.contains("[build/leaky] split: *** done"))
            // Streamed logs are the stored logs: the follow endpoint shows the same masked text.
            let followed = try await server.withClient { client in try await client.send(.GET, "/api/v1/jobs/\(id)/log?follow=1") }
            #expect(!String(decoding: followed.body, as: UTF8.self).contains("s3cr3t"))
        }
    }

    @Test func aNewerPushSupersedesQueuedJobs() async throws {
        let repository = try GitRepository.make(files: [".slipway.yaml": """
            stages:
              build:
                - {name: slow, run: sleep 3; echo done $SLIPWAY_COMMIT_SHORT}
            """])
        defer { repository.directory.remove() }
        try await Self.withRunner(repository) { server in
            let first = try await server.push(app: "github", commit: try repository.head())
            try await waitFor { try await server.store.job(id: first)?.status == .running }
            let second = try await server.push(app: "github", commit: try repository.commit(files: ["b": "b"], message: "b"))
            let third = try await server.push(app: "github", commit: try repository.commit(files: ["c": "c"], message: "c"))
            #expect(try await server.waitForEnd(of: first).status == .succeeded)
            let superseded = try await server.waitForEnd(of: second)
            #expect(superseded.status == .superseded)
            #expect(superseded.reason == "superseded by job \(third)")
            #expect(superseded.startedAt == nil)
            #expect(try await server.waitForEnd(of: third).status == .succeeded)
        }
    }

    @Test func aBadPipelineFileFailsWithFileAndLine() async throws {
        let repository = try GitRepository.make(files: [".slipway.yaml": """
            stages:
              build:
                - name: compile
                  run: make
                  timout: 5m
            """])
        defer { repository.directory.remove() }
        try await Self.withRunner(repository) { server in
            let id = try await server.push(app: "github", commit: try repository.head())
            let job = try await server.waitForEnd(of: id)
            #expect(job.status == .failed)
            #expect(job.reason?.hasPrefix(".slipway.yaml:5:") == true, "\(job.reason ?? "")")
            #expect(job.reason?.contains("unknown key 'timout'") == true)
            #expect(try await server.log(of: id).contains("unknown key 'timout'"))
        }
    }

    @Test func aCommitThatIsNotThereFailsClearly() async throws {
        let repository = try GitRepository.make()
        defer { repository.directory.remove() }
        try await Self.withRunner(repository) { server in
            let missing = String(repeating: "ab", count: 20)
            let id = try await server.push(app: "github", commit: missing)
            let job = try await server.waitForEnd(of: id)
            #expect(job.status == .failed)
            #expect(job.reason == "git: commit \(missing) is not in \(repository.url) after fetching it")
        }
    }

    @Test func retriesRunAFlakyStepAgain() async throws {
        let repository = try GitRepository.make(files: [".slipway.yaml": """
            stages:
              test:
                - name: flaky
                  retries: 2
                  run: |
                    count=$(cat "$HOME/.tries" 2>/dev/null || echo 0)
                    echo $((count + 1)) > "$HOME/.tries"
                    echo "try $((count + 1))"
                    test "$count" -ge 1
            """])
        defer { repository.directory.remove() }
        try await Self.withRunner(repository) { server in
            let id = try await server.push(app: "github", commit: try repository.head())
            let job = try await server.waitForEnd(of: id)
            let log = try await server.log(of: id)
            #expect(job.status == .succeeded, "\(log)")
            #expect(log.contains("[test/flaky] try 2"))
            #expect(log.contains("step test/flaky: attempt 2 of 3"))
        }
    }
}
