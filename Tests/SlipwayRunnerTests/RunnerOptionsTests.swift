import Foundation
import SlipwayConfig
import SlipwayCore
import SlipwayStore
import SlipwayTestSupport
import Testing

/// Per-app and per-server options of the runner.
@Suite struct RunnerOptionsTests {
    @Test func repositoryScriptsPassEnvAndTheStepsInTheAPI() async throws {
        let repository = try GitRepository.make(files: [
            "ci/check.sh": "#!/bin/sh\necho \"check sees REGION=$REGION and ${NOT_PASSED:-nothing else}\"\n",
            ".slipway.yaml": """
                stages:
                  test:
                    - {name: check, script: ci/check.sh}
                """,
        ])
        defer { repository.directory.remove() }
        setenv("SLIPWAY_TEST_REGION", "eu-west", 1)
        setenv("SLIPWAY_TEST_NOT_PASSED", "leak", 1)
        try await withLiveServer(runner: true, configure: { config in
            config.apps[0].repoURL = repository.url
            config.apps[0].passEnvironment = ["SLIPWAY_TEST_REGION"]
            config.apps[0].secrets = ["REGION": SecretValue("eu-west")]
        }) { server in
            let id = try await server.push(app: "github", commit: try repository.head())
            let job = try await server.waitForEnd(of: id)
            let log = try await server.log(of: id)
            #expect(job.status == .succeeded, "\(log)")
            // REGION is a secret here, so even its value is masked.
            #expect(log.contains("[test/check] check sees REGION=*** and nothing else"), "\(log)")
            let (status, body) = try await server.withClient { client in try await client.send(.GET, "/api/v1/jobs/\(id)") }
            #expect(status == 200)
            let detail = try JSONSerialization.jsonObject(with: body) as? [String: Any]
            let steps = detail?["steps"] as? [[String: Any]]
            #expect(steps?.first?["name"] as? String == "check")
            #expect(steps?.first?["stage"] as? String == "test")
            #expect(steps?.first?["status"] as? String == "succeeded")
            #expect(steps?.first?["exit_code"] as? Int == 0)
        }
    }

    @Test func cancelRunningOnPushStopsTheOlderRun() async throws {
        let repository = try GitRepository.make(files: [".slipway.yaml": """
            stages:
              build:
                - {name: slow, run: echo started $SLIPWAY_COMMIT_SHORT; sleep 60}
            """])
        defer { repository.directory.remove() }
        try await withLiveServer(runner: true, configure: { config in
            config.apps[0].repoURL = repository.url
            config.apps[0].cancelRunningOnPush = true
        }) { server in
            let first = try await server.push(app: "github", commit: try repository.head())
            try await waitFor { try await server.log(of: first).contains("[build/slow] started") }
            let second = try await server.push(app: "github", commit: try repository.commit(files: ["b": "b"], message: "b"))
            let stopped = try await server.waitForEnd(of: first)
            #expect(stopped.status == .cancelled)
            try await waitFor { try await server.store.job(id: second)?.status == .running }
            _ = try await server.withClient { client in try await client.cancel(second) }
            #expect(try await server.waitForEnd(of: second).status == .cancelled)
        }
    }

    @Test func onlyTheNewestWorkspacesAreKept() async throws {
        let repository = try GitRepository.make(files: [".slipway.yaml": "stages:\n  build:\n    - {name: a, run: 'true'}\n"])
        defer { repository.directory.remove() }
        try await withLiveServer(runner: true, configure: { config in
            config.apps[0].repoURL = repository.url
            config.keepWorkspaces = 1
        }) { server in
            var last: JobID = 0
            for n in 0..<3 {
                let commit = n == 0 ? try repository.head() : try repository.commit(files: ["n": "\(n)"], message: "\(n)")
                last = try await server.push(app: "github", commit: commit)
                #expect(try await server.waitForEnd(of: last).status == .succeeded)
            }
            try await waitFor {
                (try? FileManager.default.contentsOfDirectory(atPath: server.config.workspacesDir)) == ["github-\(last)"]
            }
        }
    }
}

@Suite struct WorkspaceRetentionTests {
    @Test func aFinishedJobNeverRemovesARunningJobsWorkspace() async throws {
        let slow = try GitRepository.make(files: [".slipway.yaml": "stages:\n  build:\n    - {name: wait, run: 'echo started; sleep 60'}\n"])
        let quick = try GitRepository.make(files: [".slipway.yaml": "stages:\n  build:\n    - {name: a, run: 'true'}\n"])
        defer { slow.directory.remove(); quick.directory.remove() }
        try await withLiveServer(runner: true, configure: { config in
            config.apps[0].repoURL = slow.url
            config.apps[1].repoURL = quick.url
            config.apps[1].forge = .github
            config.workers = 2
            config.keepWorkspaces = 0
        }) { server in
            let long = try await server.push(app: "github", commit: try slow.head())
            try await waitFor { try await server.log(of: long).contains("[build/wait] started") }
            let short = try await server.push(app: server.config.apps[1].name, commit: try quick.head())
            #expect(try await server.waitForEnd(of: short).status == .succeeded)
            // The finished one goes (keep 0; cleaned right after the job is recorded); the running one stays.
            try await waitFor(timeout: .seconds(10)) {
                (try? FileManager.default.contentsOfDirectory(atPath: server.config.workspacesDir)) == ["github-\(long)"]
            }
            _ = try await server.withClient { client in try await client.cancel(long) }
            _ = try await server.waitForEnd(of: long)
        }
    }
}
