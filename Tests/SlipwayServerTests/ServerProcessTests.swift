import Foundation
import SlipwayClient
import SlipwayCore
import SlipwayTestSupport
import Testing

/// `slipway serve` and the CLI as separate processes, the way they are deployed.
@Suite(.serialized) struct ServerProcessTests {
    static func writeConfig(in dir: TemporaryDirectory, repo: String = "https://github.com/acme/storefront.git") throws -> String {
        try dir.write("slipway.yaml", """
            listen: {host: 127.0.0.1, port: 0}
            data_dir: \(dir.path)/data
            api_tokens:
              - {name: admin, role: admin, token: {file: \(dir.path)/data/secrets/admin-token, generate: true}}
            apps:
              - name: storefront
                repo: \(repo)
                forge: github
                webhook_secrets: [{env: STOREFRONT_SECRET}]
            """)
    }

    static let environment = ["STOREFRONT_SECRET": WebhookFixture.secret]

    @Test func acknowledgedJobSurvivesKill9() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let config = try Self.writeConfig(in: dir)
        let first = try await ServerProcess.start(configPath: config, environment: Self.environment)
        let (headers, body) = try WebhookFixture.load("github-push")
        let caFile = dir.path + "/data/tls/server.crt"
        let hooks = try APIClient(baseURL: "https://localhost:\(first.port)", token: nil, caFile: caFile)
        let (status, answer) = try await hooks.send(.POST, "/hooks/storefront", headers: headers.map { ($0.name, $0.value) }, body: body)
        // Killed the moment the 202 is in: nothing gets a chance to flush.
        await first.kill()
        try await hooks.shutdown()
        #expect(status == 202, "\(String(decoding: answer, as: UTF8.self))")

        let second = try await ServerProcess.start(configPath: config, environment: Self.environment)
        defer { second.stop() }
        let token = try String(contentsOfFile: dir.path + "/data/secrets/admin-token", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let api = try APIClient(baseURL: "https://localhost:\(second.port)", token: token, caFile: caFile)
        let jobs = try await api.jobs()
        try await api.shutdown()
        // The acknowledged job is there. (If it had started before the kill, the restart
        // marked it interrupted and queued a second attempt: that is crash recovery.)
        let job = try #require(jobs.first { $0.deliveryID == "6f1d3c40-c6a1-11f0-8a5e-2b1f0c9d7e11" })
        #expect(job.id == 1)
        #expect(job.commit == "5f2e8a7d0c1b3e4f6a9d8c7b2e1f0a3d4c5b6e7f")
        #expect(jobs.count == (job.status == .interrupted ? 2 : 1))
    }

    @Test func cliSendsATestHookFollowsAndCancelsTheJob() async throws {
        let repository = try GitRepository.make(files: [".slipway.yaml": """
            stages:
              build:
                - name: wait
                  run: echo waiting for cancel; sleep 60
            """])
        defer { repository.directory.remove() }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let config = try Self.writeConfig(in: dir, repo: repository.url)
        let server = try await ServerProcess.start(configPath: config, environment: Self.environment)
        defer { server.stop() }
        let url = "https://localhost:\(server.port)"
        let commit = try repository.head()

        // Without --commit: the branch head, read from the remote.
        let sent = try await runSlipway(["send-test-hook", "storefront", "--config", config, "--server", url],
                                        environment: Self.environment)
        #expect(sent.status == 0, "\(sent.output)")
        #expect(sent.output.contains("POST /hooks/storefront -> 202"), "\(sent.output)")

        let listed = try await runSlipway(["jobs", "--config", config, "--server", url], environment: Self.environment)
        #expect(listed.status == 0, "\(listed.output)")
        #expect(listed.output.contains("storefront"), "\(listed.output)")
        #expect(listed.output.contains(String(commit.prefix(8))), "\(listed.output)")

        // Follow the log in the background; cancel; the follow ends with the job.
        let follower = Task { try await runSlipway(["logs", "1", "--follow", "--config", config, "--server", url], environment: Self.environment) }
        try await waitFor {
            try await runSlipway(["logs", "1", "--config", config, "--server", url], environment: Self.environment).output.contains("waiting for cancel")
        }
        let cancelled = try await runSlipway(["cancel", "1", "--config", config, "--server", url], environment: Self.environment)
        #expect(cancelled.output.hasPrefix("job 1: "), "\(cancelled.output)")
        let followed = try await follower.value
        #expect(followed.status == 0)
        #expect(followed.output.contains("[build/wait] waiting for cancel"), "\(followed.output)")
        #expect(followed.output.contains("job cancelled"), "\(followed.output)")

        // A wrong token is refused with the server's reason.
        let refused = try await runSlipway(["jobs", "--config", config, "--server", url, "--token", "nope"], environment: Self.environment)
        #expect(refused.status != 0)
        #expect(refused.output.contains("401"), "\(refused.output)")
    }

    @Test func aBrokenConfigStopsTheStartWithItsLine() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let config = try dir.write("slipway.yaml", "listen:\n  port: 8443\n  hots: x\n")
        let result = try await runSlipway(["serve", "--config", config])
        #expect(result.status != 0)
        #expect(result.output.contains("slipway.yaml:3:"), "\(result.output)")
        #expect(result.output.contains("unknown key 'hots'"), "\(result.output)")
        #expect(result.status == 1 && !result.output.contains("Usage"), "a broken configuration is not a usage mistake: \(result.output)")
    }

    /// As a new user starts it: `slipway serve` in a clone inside a private (0700) folder,
    /// with the shipped relative `data_dir: data`; a push to an app whose pipeline has a step
    /// runs the step, which finds its workspace by `$SLIPWAY_WORKSPACE` (absolute).
    @Test func aStepRunsForAServerStartedInsideAPrivateFolder() async throws {
        let repository = try GitRepository.make(files: ["README.txt": "from the checkout\n", ".slipway.yaml": """
            stages:
              build:
                - name: probe
                  run: |
                    echo "step ran as $(id -u)"
                    test "$SLIPWAY_WORKSPACE" = "$(pwd)"
                    cat "$SLIPWAY_WORKSPACE/README.txt"
            """])
        defer { repository.directory.remove() }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        #expect((try FileManager.default.attributesOfItem(atPath: dir.path)[.posixPermissions] as? Int) == 0o700)
        let config = try dir.write("config/slipway.yaml", """
            listen: {host: 127.0.0.1, port: 0}
            data_dir: data
            api_tokens:
              - {name: admin, role: admin, token: {env: ADMIN_TOKEN}}
            apps:
              - {name: app, repo: \(repository.url), forge: github, webhook_secrets: [{env: HOOK_SECRET}]}
            """)
        let environment = ["ADMIN_TOKEN": "admin-token-value", "HOOK_SECRET": "webhook-secret-value"]
        let server = try await ServerProcess.start(configPath: "config/slipway.yaml", environment: environment, directory: dir.path)
        defer { server.stop() }
        let url = "https://localhost:\(server.port)"
        let caFile = dir.path + "/data/tls/server.crt"
        let sent = try await runSlipway(["send-test-hook", "app", "--commit", try repository.head(), "--config", config, "--server", url, "--ca-file", caFile],
                                        environment: environment)
        #expect(sent.status == 0, "\(sent.output)")
        let api = try APIClient(baseURL: url, token: "admin-token-value", caFile: caFile)
        try await waitFor { try await api.jobs().first?.status.isFinal == true }
        let job = try #require(try await api.jobs().first)
        let log = String(decoding: try await api.send(.GET, "/api/v1/jobs/\(job.id)/log").body, as: UTF8.self)
        try await api.shutdown()
        #expect(job.status == .succeeded, "\(job.reason ?? "")\n\(log)")
        #expect(log.contains("[build/probe] step ran as 65534"), "\(log)")
        #expect(log.contains("[build/probe] from the checkout"), "\(log)")
    }

    @Test func sigtermStopsTheServerCleanly() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let server = try await ServerProcess.start(configPath: try Self.writeConfig(in: dir), environment: Self.environment)
        #expect(await server.terminate() == 0)
    }
}

/// Crash recovery and graceful shutdown of `slipway serve` with a job running.
@Suite(.serialized) struct RecoveryTests {
    @Test func aJobRunningAtKill9IsInterruptedAndRunsAgainThenShutdownInterruptsIt() async throws {
        // A number no other test's process carries, to find this step's processes by.
        let marker = "1200.\(Int.random(in: 100_000...999_999))"
        let repository = try GitRepository.make(files: [".slipway.yaml": """
            stages:
              build:
                - {name: long, run: echo "attempt running"; sleep \(marker) & sleep \(marker); wait}
            """])
        defer { repository.directory.remove() }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let config = try dir.write("slipway.yaml", """
            listen: {host: 127.0.0.1, port: 0}
            data_dir: \(dir.path)/data
            runner: {shutdown_grace: 1s, max_attempts: 2}
            api_tokens:
              - {name: admin, role: admin, token: {env: ADMIN_TOKEN}}
            apps:
              - {name: app, repo: \(repository.url), forge: github, webhook_secrets: [{env: HOOK_SECRET}]}
            """)
        let environment = ["ADMIN_TOKEN": "admin", "HOOK_SECRET": "s"]
        let caFile = dir.path + "/data/tls/server.crt"

        let first = try await ServerProcess.start(configPath: config, environment: environment)
        let sent = try await runSlipway(["send-test-hook", "app", "--commit", try repository.head(), "--config", config,
                                   "--server", "https://localhost:\(first.port)"], environment: environment)
        #expect(sent.status == 0, "\(sent.output)")
        var api = try APIClient(baseURL: "https://localhost:\(first.port)", token: "admin", caFile: caFile)
        try await waitFor { try await api.job(1).status == .running }
        try await waitFor { stepProcesses(marker).count >= 2 }
        await first.kill()
        try await api.shutdown()
        // The step dies with the server (its guard sees the server's pipe hang up), background
        // processes included, before anything could start it again.
        try await waitFor(timeout: .seconds(5)) { stepProcesses(marker).isEmpty }

        let second = try await ServerProcess.start(configPath: config, environment: environment)
        api = try APIClient(baseURL: "https://localhost:\(second.port)", token: "admin", caFile: caFile)
        let interrupted = try await api.job(1)
        #expect(interrupted.status == .interrupted)
        #expect(interrupted.reason == "the server stopped while the job ran; queued again as attempt 2")
        try await waitFor { try await api.job(2).status == .running }
        #expect(try await api.job(2).commit == interrupted.commit)
        #expect(interrupted.attempt == 1 && interrupted.retriedAs == 2)
        let retried = try await api.job(2)
        #expect(retried.attempt == 2 && retried.retryOf == 1 && retried.retriedAs == nil)
        // The interrupted job's log ends saying what happened and which job continues it.
        let log = String(decoding: try await api.send(.GET, "/api/v1/jobs/1/log").body, as: UTF8.self)
        let lastLine = log.split(separator: "\n").last.map(String.init) ?? ""
        #expect(lastLine.hasSuffix("[slipway] job interrupted (the server stopped while the job ran); continued by job 2 as attempt 2"), "\(lastLine)")

        // SIGTERM: no new jobs, a grace second for the running step, then it is interrupted.
        #expect(await second.terminate() == 0)
        try await api.shutdown()
        let third = try await ServerProcess.start(configPath: config, environment: environment)
        defer { third.stop() }
        api = try APIClient(baseURL: "https://localhost:\(third.port)", token: "admin", caFile: caFile)
        let retry = try await api.job(2)
        #expect(retry.status == .interrupted)
        #expect(retry.reason == "the server shut down while the job ran; no attempts left (2 of 2)")
        #expect(try await api.jobs().count == 2)
        try await api.shutdown()
    }
}

/// Live processes whose command line mentions `marker`.
func stepProcesses(_ marker: String) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { entry in
        guard let pid = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")"), !stat[stat.index(after: close)...].hasPrefix(" Z"),
              let command = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return nil }
        return String(decoding: command, as: UTF8.self).contains(marker) ? pid : nil
    }
}

/// Every CLI failure is one line saying what failed and what to do, exit status 1; usage
/// mistakes exit 64 and only they print the usage text. Run with the built binary.
@Suite struct CLIErrorTests {
    static func expectOneLine(_ result: (status: Int32, output: String), status: Int32 = 1, _ prefix: String,
                              sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.status == status, "\(result.output)", sourceLocation: sourceLocation)
        let lines = result.output.split(separator: "\n")
        #expect(lines.count == 1, "\(result.output)", sourceLocation: sourceLocation)
        #expect(result.output.hasPrefix("Error: " + prefix), "\(result.output)", sourceLocation: sourceLocation)
        #expect(!result.output.contains("Usage"), "\(result.output)", sourceLocation: sourceLocation)
    }

    @Test func aServerThatIsNotThereIsNamedWithWhatToDo() async throws {
        let unreachable = "cannot reach the Slipway server at https://127.0.0.1:1 (connection refused): is `slipway serve` running there? Give its address with --server URL"
        Self.expectOneLine(try await runSlipway(["jobs", "--server", "https://127.0.0.1:1", "--token", "x"]), unreachable)
        Self.expectOneLine(try await runSlipway(["logs", "99999", "--server", "https://127.0.0.1:1", "--token", "x"]), unreachable)
        Self.expectOneLine(try await runSlipway(["logs", "99999", "--follow", "--server", "https://localhost:1", "--token", "x"]),
                           "cannot reach the Slipway server at https://localhost:1 (connection refused)")
        Self.expectOneLine(try await runSlipway(["jobs", "--config", "/nonexistent.yaml"]), "no server to talk to: /nonexistent.yaml")
        Self.expectOneLine(try await runSlipway(["jobs", "--server", "https://127.0.0.1:1", "--token", "x", "--ca-file", "/etc/hostname"]),
                           "cannot read the CA file /etc/hostname")
        // A usage mistake: 64, and the command's usage after the one line that says what is wrong.
        let usage = try await runSlipway(["jobs", "--status", "bogus", "--server", "https://127.0.0.1:1"])
        #expect(usage.status == 64, "\(usage.output)")
        #expect(usage.output.hasPrefix("Error: --status must be one of: queued, "), "\(usage.output)")
        #expect(usage.output.contains("Usage: slipway jobs"), "\(usage.output)")
    }

    @Test func anUntrustedCertificateAndARefusedTokenSayWhatToGive() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let config = try ServerProcessTests.writeConfig(in: dir)
        let server = try await ServerProcess.start(configPath: config, environment: ServerProcessTests.environment)
        defer { server.stop() }
        let url = "https://localhost:\(server.port)"
        // No --config to fall back on: the generated certificate is not known.
        Self.expectOneLine(try await runSlipway(["jobs", "--server", url, "--token", "x", "--config", dir.path + "/none.yaml"]),
                           "the certificate of \(url) is not trusted (certificate verify failed): give the server's certificate with --ca-file PEM")
        Self.expectOneLine(try await runSlipway(["jobs", "--server", url, "--token", "wrong", "--ca-file", dir.path + "/data/tls/server.crt"]),
                           "the server refused the token (401): give a valid API token with --token or SLIPWAY_TOKEN")
        let missing = try await runSlipway(["logs", "99999", "--config", config, "--server", url], environment: ServerProcessTests.environment)
        Self.expectOneLine(missing, "the server answered 404: ")
        let listed = try await runSlipway(["jobs", "--config", config, "--server", url], environment: ServerProcessTests.environment)
        #expect(listed.status == 0, "\(listed.output)")
    }
}
