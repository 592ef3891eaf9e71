import Foundation
import SlipwayConfig
import SlipwayCore
import SlipwayRunner
import SlipwayTestSupport
import Testing

/// Code from an app's repository reaches only its job's workspace: every way out a step might
/// try fails with the step's own error in the log, and the server keeps serving.
@Suite struct SandboxTests {
    @Test func everyEscapeFailsAndTheServerKeepsServing() async throws {
        // Secrets the step must not reach: the server's data, a kubeconfig under /etc (a
        // mounted tree, so it has to be covered up), another job's workspace, the server's
        // own environment.
        let etc = "/etc/slipway-sandbox-test-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: etc, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: etc) }
        try "kube-secret-token".write(toFile: etc + "/kubeconfig", atomically: true, encoding: .utf8)
        setenv("SLIPWAY_TEST_SERVER_ONLY", "server-environment-secret", 1)
        let marker = "/tmp/slipway-sandbox-marker-\(UUID().uuidString.prefix(8))"
        FileManager.default.createFile(atPath: marker, contents: Data("host".utf8))
        defer { try? FileManager.default.removeItem(atPath: marker) }
        let serverPID = getpid()

        let steps = { (data: String, workspaces: String) -> String in
            """
            stages:
              build:
                - name: escapes
                  run: |
                    try() { if sh -c "$1"; then echo "ESCAPED: $2"; else echo "blocked: $2"; fi; }
                    try 'cat \(data)/secrets/admin-token' 'admin token'
                    try 'ls \(data)/slipway.sqlite' 'database'
                    try 'grep -q kube-secret \(etc)/kubeconfig' 'kubeconfig'
                    try 'cat \(workspaces)/other-app-1/secret.txt' 'other workspace'
                    try 'grep -q server-environment-secret /proc/1/environ' 'pid 1 environment'
                    try 'cat /proc/\(serverPID)/environ' 'server environment'
                    try 'kill -0 \(serverPID)' 'signal the server'
                    try 'touch /usr/escaped' 'write /usr'
                    try 'touch /etc/escaped' 'write /etc'
                    try 'echo x > \(data)/escaped && test -e \(data)/slipway.sqlite' 'write into the data dir'
                    try 'test -e \(marker)' 'the host /tmp'
                    try 'su root -c true < /dev/null' 'setuid su'
                    echo "uid=$(id -u) $(grep NoNewPrivs /proc/self/status | tr -s '\\t' ' ')"
              test:
                    - name: build
                      run: |
                        printf 'int main(void){return 0;}\\n' > t.c
                        printf 'all:\\n\\tcc -o t t.c\\n' > Makefile
                        make -s && ./t && echo build works
                        git init -q repo && git -C repo status --short && echo git works
                    - name: fork-bomb
                      run: |
                        for i in $(seq 2000); do sleep 3 & done
                        wait
            """
        }
        let repository = try GitRepository.make(files: [".slipway.yaml": "stages: {build: [{name: x, run: 'true'}]}\n"])
        defer { repository.directory.remove() }
        try await PipelineRunTests.withRunner(repository, configure: { config in
            // RLIMIT_NPROC counts every process of the sandbox user, other tests' steps included.
            config.stepLimits.processes = 300
            config.clusters = [ClusterConfig(name: "hidden", source: .kubeconfig(path: etc + "/kubeconfig", context: nil))]
        }) { server in
            let data = server.config.dataDir
            let workspaces = server.config.workspacesDir
            try FileManager.default.createDirectory(atPath: data + "/secrets", withIntermediateDirectories: true)
            try "admin-token-secret".write(toFile: data + "/secrets/admin-token", atomically: true, encoding: .utf8)
            try FileManager.default.createDirectory(atPath: workspaces + "/other-app-1", withIntermediateDirectories: true)
            try "other-workspace-secret".write(toFile: workspaces + "/other-app-1/secret.txt", atomically: true, encoding: .utf8)
            try repository.commit(files: [".slipway.yaml": steps(data, workspaces)], message: "escapes")

            let id = try await server.push(app: "github", commit: try repository.head())
            let job = try await server.waitForEnd(of: id)
            let log = try await server.log(of: id)
            for escape in ["admin token", "database", "kubeconfig", "other workspace", "pid 1 environment", "server environment",
                           "signal the server", "write /usr", "write /etc", "write into the data dir", "the host /tmp", "setuid su"] {
                #expect(log.contains("blocked: \(escape)"), "\(escape)\n\(log)")
            }
            #expect(!log.contains("ESCAPED"), "\(log)")
            for secret in ["admin-token-secret", "kube-secret-token", "other-workspace-secret", "server-environment-secret"] {
                #expect(!log.contains(secret), "\(secret) leaked")
            }
            // The step's own errors say why.
            #expect(log.contains("No such file or directory"))
            #expect(log.contains("Read-only file system"))
            #expect(log.contains("uid=65534 NoNewPrivs: 1"), "\(log)")
            #expect(!FileManager.default.fileExists(atPath: "/usr/escaped"))
            #expect(!FileManager.default.fileExists(atPath: data + "/escaped"))
            // A real build works; the fork bomb hits the process limit and says so.
            #expect(log.contains("build works"), "\(log)")
            #expect(log.contains("git works"), "\(log)")
            #expect(job.status == .failed)
            #expect(job.reason?.hasPrefix("step test/fork-bomb failed with exit code") == true, "\(job.reason ?? "")")
            #expect(job.reason?.hasSuffix("after reaching runner.limits.processes (300)") == true, "\(job.reason ?? "")")
            // The server is still there.
            let client = try server.client(token: nil)
            let (status, _) = try await client.send(.GET, "/healthz")
            try await client.shutdown()
            #expect(status == 200)
        }
    }

    @Test func aStepWithoutNetworkCannotReachTheServer() async throws {
        let repository = try GitRepository.make(files: [".slipway.yaml": "stages: {build: [{name: x, run: 'true'}]}\n"])
        defer { repository.directory.remove() }
        try await PipelineRunTests.withRunner(repository) { server in
            try repository.commit(files: [".slipway.yaml": """
                stages:
                  build:
                    - name: online
                      run: |
                        curl -sk -o /dev/null -w 'online %{http_code}\\n' https://localhost:\(server.port)/healthz
                    - name: offline
                      network: false
                      run: |
                        curl -sk -o /dev/null https://localhost:\(server.port)/healthz || echo "offline: no connection"
                """], message: "network")
            let id = try await server.push(app: "github", commit: try repository.head())
            let job = try await server.waitForEnd(of: id)
            let log = try await server.log(of: id)
            #expect(job.status == .succeeded, "\(log)")
            #expect(log.contains("online 200"), "\(log)")
            #expect(log.contains("offline: no connection"), "\(log)")
        }
    }

    /// The app's steps get its secrets; a server hook gets only those it names.
    @Test func hookStepsGetOnlyTheSecretsTheyName() async throws {
        let hooks = try TemporaryDirectory("slipway-hooks")
        defer { hooks.remove() }
        let script = try hooks.write("hooks/show.sh", "#!/bin/sh\necho \"hook sees A=${A:-unset} B=${B:-unset}\"\n")
        chmod(script, 0o755)
        let repository = try GitRepository.make(files: [".slipway.yaml": """
            stages:
              build:
                - name: own
                  run: |
                    echo "step sees A=${A:-unset} B=${B:-unset}"
            hooks:
              post-deploy:
                - {name: named, hook: show.sh, secrets: [A]}
            """])
        defer { repository.directory.remove() }
        try await PipelineRunTests.withRunner(repository, configure: { config in
            config.hooksDir = hooks.path + "/hooks"
            config.apps[0].secrets = ["A": SecretValue("alpha-value"), "B": SecretValue("beta-value")]
        }) { server in
            let id = try await server.push(app: "github", commit: try repository.head())
            let job = try await server.waitForEnd(of: id)
            let log = try await server.log(of: id)
            #expect(job.status == .succeeded, "\(log)")
            #expect(log.contains("step sees A=*** B=***"), "\(log)")
            #expect(log.contains("hook sees A=*** B=unset"), "\(log)")
        }
    }

    /// A data directory inside a private folder (as `mktemp -d`, a home directory or a
    /// service's state directory make them): the sandbox user cannot pass through it, yet
    /// steps, hook steps and render commands run, reach their workspace by its absolute path,
    /// and see nothing else of the folder.
    @Test func stepsRunWhenTheDataDirectoryIsInsideAPrivateFolder() async throws {
        let hooks = try TemporaryDirectory("slipway-hooks")
        defer { hooks.remove() }
        // Checked out or installed there, the hooks folder itself is 0755; its parent is private.
        let script = try hooks.write("hooks/hook.sh", "#!/bin/sh\necho \"hook ran as $(id -u) in $(pwd)\"\n")
        chmod(script, 0o755)
        let repository = try GitRepository.make(files: ["input.txt": "from the checkout\n", ".slipway.yaml": """
            stages:
              build:
                - name: private
                  run: |
                    cat "$SLIPWAY_WORKSPACE/input.txt"
                    mkdir out && echo built > "$SLIPWAY_WORKSPACE/out/result" && cat out/result
                    touch /tmp/scratch /dev/shm/scratch && echo "tmp and shm writable"
                    echo "beside the workspace: $(ls "$(dirname "$SLIPWAY_WORKSPACE")" | tr '\\n' ' ')"
                    echo "uid=$(id -u)"
            hooks:
              post-deploy:
                - {name: hook, hook: hook.sh}
            """])
        defer { repository.directory.remove() }
        try await PipelineRunTests.withRunner(repository, configure: { config in
            config.hooksDir = hooks.path + "/hooks"
        }) { server in
            // The precondition this test is about: the folders above the workspaces are private.
            let mode = try FileManager.default.attributesOfItem(atPath: server.config.dataDir)[.posixPermissions] as? Int
            #expect(mode == 0o700)
            #expect((try FileManager.default.attributesOfItem(atPath: hooks.path)[.posixPermissions] as? Int) == 0o700)
            try FileManager.default.createDirectory(atPath: server.config.workspacesDir + "/other-app-1", withIntermediateDirectories: true)
            let id = try await server.push(app: "github", commit: try repository.head())
            let job = try await server.waitForEnd(of: id)
            let log = try await server.log(of: id)
            #expect(job.status == .succeeded, "\(job.reason ?? "")\n\(log)")
            #expect(log.contains("[build/private] from the checkout"), "\(log)")
            #expect(log.contains("[build/private] built"), "\(log)")
            #expect(log.contains("[build/private] tmp and shm writable"), "\(log)")
            // Only its own workspace, not the other job's beside it.
            #expect(log.contains("[build/private] beside the workspace: github-\(id) \n") || log.contains("[build/private] beside the workspace: github-\(id)\n"), "\(log)")
            #expect(log.contains("[build/private] uid=65534"), "\(log)")
            #expect(log.contains("[post-deploy/hook] hook ran as 65534 in \(server.config.workspacesDir)/github-\(id)"), "\(log)")
        }
    }

    /// The start-up probe runs a real step in a workspace under the configured data
    /// directory: a data directory where that cannot work stops the start, saying which
    /// directory and what to change, before anything is queued.
    @Test func theProbeRefusesADataDirectoryWhereStepsCannotRun() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var config = LiveServer.testConfig(dataDir: dir.path + "/data")
        // The probe passes on a data directory inside the private folder...
        #expect(await Sandbox(config: config).probe(workspaces: config.workspacesDir) == nil)
        #expect((try? FileManager.default.contentsOfDirectory(atPath: config.workspacesDir)) == [], "the probe's workspace is removed")
        // A hooks folder the step user cannot enter would fail every hook step: refused.
        config.hooksDir = dir.path + "/private-hooks"
        try FileManager.default.createDirectory(atPath: config.hooksDir, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        let hooksRefusal = try #require(await Sandbox(config: config).probe(workspaces: config.workspacesDir))
        #expect(hooksRefusal.hasPrefix("hook steps cannot read runner.hooks_dir \(config.hooksDir) ("), "\(hooksRefusal)")
        chmod(config.hooksDir, 0o755)
        #expect(await Sandbox(config: config).probe(workspaces: config.workspacesDir) == nil)
        // ...and refuses one whose workspaces folder cannot be made.
        try FileManager.default.removeItem(atPath: config.workspacesDir)
        _ = FileManager.default.createFile(atPath: config.workspacesDir, contents: Data("not a folder".utf8))
        let refusal = try #require(await Sandbox(config: config).probe(workspaces: config.workspacesDir))
        #expect(refusal.hasPrefix("cannot create a workspace in \(config.workspacesDir):"), "\(refusal)")
        #expect(refusal.contains("data_dir must be a directory the server's user can write"), "\(refusal)")
        // A step that cannot work in its workspace: here the sandbox user is one whose
        // workspace is handed over, but whose process limit leaves it no room to run.
        try FileManager.default.removeItem(atPath: config.workspacesDir)
        config.stepLimits.processes = 0
        let stepRefusal = try #require(await Sandbox(config: config).probe(workspaces: config.workspacesDir))
        #expect(stepRefusal.hasPrefix("a step cannot run in its workspace under \(config.workspacesDir) ("), "\(stepRefusal)")
    }

    /// The server reads the pipeline file itself: a link to its own secrets is not followed.
    @Test func aPipelineFileLinkedOutOfTheWorkspaceIsNotRead() async throws {
        let repository = try GitRepository.make(files: ["README.md": "x\n"])
        defer { repository.directory.remove() }
        try await PipelineRunTests.withRunner(repository) { server in
            let token = server.config.dataDir + "/secrets/admin-token"
            try FileManager.default.createDirectory(atPath: server.config.dataDir + "/secrets", withIntermediateDirectories: true)
            try "stages: {build: [{name: leak, run: 'echo the-admin-token-value'}]}\n".write(toFile: token, atomically: true, encoding: .utf8)
            try FileManager.default.createSymbolicLink(atPath: repository.directory.path + "/.slipway.yaml", withDestinationPath: token)
            _ = try repository.git("add", ".slipway.yaml")
            _ = try repository.git("commit", "-q", "-m", "link")
            let id = try await server.push(app: "github", commit: try repository.head())
            let job = try await server.waitForEnd(of: id)
            #expect(job.status == .failed)
            #expect(job.reason == "the pipeline file .slipway.yaml leads outside the workspace (a symbolic link): it is not read")
            #expect(!(try await server.log(of: id)).contains("the-admin-token-value"))
        }
    }

    @Test func theSandboxCanBeTurnedOffOnlyByName() throws {
        let config = try ServerConfig.parse("runner: {sandbox: none, limits: {memory: 2GiB, processes: 100, open_files: 512, file_size: 100MiB}}\n",
                                            file: "slipway.yaml", environment: [:])
        #expect(config.sandbox.mode == .none)
        #expect(config.stepLimits == StepLimits(memory: 2 << 30, processes: 100, openFiles: 512, fileSize: 100 << 20))
        let detailed = try ServerConfig.parse("runner: {sandbox: {mode: bubblewrap, user: 1234, read_only_paths: [/opt]}}\n", file: "slipway.yaml", environment: [:])
        #expect(detailed.sandbox == SandboxSettings(mode: .bubblewrap, user: 1234, group: 1234, readOnlyPaths: ["/opt"]))
        #expect(ServerConfig().sandbox.mode == .bubblewrap)
        #expect(throws: ConfigError.self) { try ServerConfig.parse("runner: {sandbox: docker}\n", file: "slipway.yaml", environment: [:]) }
    }
}
