import Foundation
import SlipwayConfig
import SlipwayCore
import Testing

@Suite struct ServerConfigTests {
    static func parse(_ text: String, env: [String: String] = [:]) throws(ConfigError) -> ServerConfig {
        try ServerConfig.parse(text, file: "slipway.yaml", environment: env)
    }

    static func error(_ text: String, env: [String: String] = [:]) -> ConfigError? {
        do {
            _ = try parse(text, env: env)
            return nil
        } catch {
            return error
        }
    }

    @Test func theShippedExampleLoads() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../config/slipway.yaml").standardized
        // Point the generated secrets into the temp dir so the test leaves nothing behind.
        let text = try String(contentsOf: example, encoding: .utf8).replacingOccurrences(of: "data/", with: dir.path + "/")
        let config = try Self.parse(text)
        #expect(config.port == 8443)
        #expect(config.tls == .selfSigned)
        #expect(config.maxBodyBytes == 25 * 1024 * 1024)
        #expect(config.idleTimeout == .seconds(30))
        #expect(config.apiTokens.map(\.role) == [.admin])
        #expect(config.apps.first?.forge == .github)
        #expect(config.apps.first?.branch == "main")
        // Generated secrets are random, private and stable across loads.
        let secretFile = dir.appendingPathComponent("secrets/admin-token").path
        let attributes = try FileManager.default.attributesOfItem(atPath: secretFile)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let again = try Self.parse(text)
        #expect(again.apiTokens.first?.secret == config.apiTokens.first?.secret)
        #expect(config.apiTokens.first?.secret.value.count == 64)
    }

    @Test func secretsComeFromEnvironmentAndFiles() throws {
        let config = try Self.parse("""
            apps:
              - name: shop
                repo: https://git.example.com/a/shop.git
                forge: gitlab
                webhook_secrets:
                  - {env: NEW_SECRET}
                  - {env: OLD_SECRET}
            """, env: ["NEW_SECRET": "n", "OLD_SECRET": "o"])
        #expect(config.apps.first?.webhookSecrets.map(\.value) == ["n", "o"])
    }

    @Test func previewsAreOnByDefaultTurnedOffOrGivenStages() throws {
        func app(_ preview: String) -> String {
            """
            apps:
              - name: shop
                repo: https://git.example.com/a/shop.git
                forge: github
                webhook_secrets: [{env: S}]
            \(preview)
            """
        }
        func parse(_ text: String) throws(ConfigError) -> ServerConfig { try Self.parse(text, env: ["S": "secret"]) }
        #expect(try parse(app("")).apps[0].preview == PreviewSettings(enabled: true, stages: []))
        #expect(try parse(app("    preview: false")).apps[0].preview.enabled == false)
        #expect(try parse(app("    preview: {stages: [build, test]}")).apps[0].preview.stages == [.build, .test])
        let deploy = Self.error(app("    preview: {stages: [test, deploy]}"), env: ["S": "secret"])
        #expect(deploy?.description.contains("a preview never deploys") == true, "\(String(describing: deploy))")
        #expect(deploy?.description.contains("slipway.yaml:6") == true, "\(String(describing: deploy))")
        #expect(Self.error(app("    preview: {stage: [test]}"), env: ["S": "secret"]) != nil, "unknown keys are refused")
    }

    @Test func theReconcilerSettingsAreReadAndChecked() throws {
        #expect(try Self.parse("workers: 1\n").reconciler == ReconcilerSettings())
        let settings = try Self.parse("reconciler: {concurrency: 32, git_timeout: 10s, cluster_timeout: 2m, watch: false}\n").reconciler
        #expect(settings.concurrency == 32)
        #expect(settings.gitTimeout == .seconds(10))
        #expect(settings.clusterTimeout == .seconds(120))
        #expect(settings.watch == false)
        #expect(Self.error("reconciler: {concurrency: 0}\n")?.message.contains("must be at least 1") == true)
        #expect(Self.error("reconciler:\n  git_timeout: 0s\n")?.line == 2)
        #expect(Self.error("reconciler: {threads: 4}\n")?.message.contains("unknown key 'threads'") == true)
    }

    @Test func errorsNameFileLineAndWhatWasExpected() {
        let unknown = Self.error("""
            listen:
              port: 8443
              hots: 0.0.0.0
            """)
        #expect(unknown?.line == 3)
        #expect(unknown?.message.contains("unknown key 'hots'") == true)
        #expect(unknown?.description.hasPrefix("slipway.yaml:3:") == true)

        let badPort = Self.error("listen:\n  port: eighty\n")
        #expect(badPort?.line == 2)
        #expect(badPort?.message == "listen.port: expected a whole number, found 'eighty'")

        let forge = Self.error("""
            apps:
              - name: a
                repo: r
                forge: sourcehut
                webhook_secrets: [{env: X}]
            """, env: ["X": "x"])
        #expect(forge?.line == 4)
        #expect(forge?.message.contains("'sourcehut' is not one of: github, gitlab") == true)

        let missingEnv = Self.error("""
            apps:
              - {name: a, repo: r, forge: github, webhook_secrets: [{env: HOOK_SECRET}]}
            """)
        #expect(missingEnv?.message.contains("environment variable HOOK_SECRET is not set") == true)

        let inline = Self.error("""
            api_tokens:
              - {name: a, role: admin, token: hunter2}
            """)
        #expect(inline?.message.contains("expected a mapping") == true)

        let noSecret = Self.error("apps:\n  - {name: a, repo: r, forge: github, webhook_secrets: []}\n")
        #expect(noSecret?.message.contains("needs at least one webhook secret") == true)

        let badName = Self.error("apps:\n  - {name: ../x, repo: r, forge: github, webhook_secrets: [{env: X}]}\n", env: ["X": "x"])
        #expect(badName?.message.contains("app names use") == true)

        let duplicate = Self.error("""
            apps:
              - {name: a, repo: r, forge: github, webhook_secrets: [{env: X}]}
              - {name: a, repo: r, forge: github, webhook_secrets: [{env: X}]}
            """, env: ["X": "x"])
        #expect(duplicate?.line == 3)

        let broken = Self.error("listen: [\n")
        #expect(broken?.message.hasPrefix("invalid YAML") == true)
        #expect(broken?.line != nil)
    }

    /// Commit statuses go to the forge's name of the repository: read from a forge URL, or
    /// given; where the URL cannot say it (a file path, an ssh alias), the start is refused.
    @Test func theForgesRepositoryNameIsReadOrAskedFor() throws {
        func app(_ repo: String, forge: String = "github", repository: String? = nil) -> String {
            """
            apps:
              - name: a
                repo: "\(repo)"
                forge: \(forge)
                webhook_secrets: [{env: X}]
                forge_api: {url: https://forge.example.com/api, token: {env: X}\(repository.map { ", repository: \($0)" } ?? "")}
            """
        }
        func repository(_ repo: String, forge: String = "github") throws -> String? {
            try Self.parse(app(repo, forge: forge), env: ["X": "x"]).apps[0].forgeAPI?.repository
        }
        #expect(try repository("https://github.com/acme/app.git") == "acme/app")
        #expect(try repository("git@github.com:acme/app.git") == "acme/app")
        #expect(try repository("ssh://git@forge.example.com:2222/acme/app.git", forge: "gitea") == "acme/app")
        #expect(try repository("https://gitlab.example.com/group/sub/app.git", forge: "gitlab") == "group/sub/app")
        #expect(try repository("https://bitbucket.example.com/scm/PROJ/app.git", forge: "bitbucket-server") == "PROJ/app")
        #expect(try Self.parse(app("file:///srv/git/acme/app", repository: "acme/app"), env: ["X": "x"]).apps[0].forgeAPI?.repository == "acme/app")
        for repo in ["file:///srv/git/acme/app", "/srv/git/acme/app.git", "git@deploy:app.git", "https://git.example.com/gitea/acme/app.git"] {
            let refused = Self.error(app(repo), env: ["X": "x"])
            #expect(refused?.line == 6, "\(repo)")
            #expect(refused?.message.hasPrefix("apps[0].forge_api: the github name of the repository cannot be read from repo '\(repo)'") == true,
                    "\(repo): \(String(describing: refused))")
        }
        #expect(Self.error(app("file:///srv/app", repository: "app"), env: ["X": "x"])?.message.hasPrefix("apps[0].forge_api.repository: expected the forge's name of the repository, OWNER/NAME") == true)
    }

    @Test func durationsAndLimits() throws {
        let config = try Self.parse("""
            limits: {max_body_bytes: 1024, idle_timeout: 250ms, store_busy_timeout: 2m}
            tls: {mode: disabled}
            public_url: https://ci.example.com/
            """)
        #expect(config.maxBodyBytes == 1024)
        #expect(config.idleTimeout == .milliseconds(250))
        #expect(config.storeBusyTimeout == .seconds(120))
        #expect(config.tls == .disabled)
        #expect(config.baseURL == "https://ci.example.com")
        #expect(Self.error("limits: {idle_timeout: soon}")?.message.contains("expected a duration") == true)
    }

    @Test func clustersBoundTheirRequestsInFlight() throws {
        let config = try Self.parse("""
            clusters:
              - {name: a, kubeconfig: /k, max_in_flight: 4}
              - {name: b, in_cluster: true}
            """)
        #expect(config.clusters.map(\.maxInFlight) == [4, ClusterConfig.defaultMaxInFlight])
        #expect(Self.error("clusters: [{name: a, kubeconfig: /k, max_in_flight: 0}]")?.description.contains("max_in_flight must be at least 1") == true)
    }
}

@Suite struct PipelineSpecTests {
    @Test func readsStagesStepsAndHooks() throws {
        let spec = try PipelineSpec.parse("""
            stages:
              test:
                - name: unit
                  run: make test
                  env: {GOFLAGS: "-count=1"}
                  timeout: 90s
                  workdir: src
                  retries: 2
              build:
                - {name: compile, run: make}
            hooks:
              on-failure:
                - {name: page, hook: on-failure-notify.sh}
              pre-deploy:
                - {name: check, script: ci/check.sh}
            """, file: ".slipway.yaml")
        #expect(spec.stages.map(\.name) == [.build, .test])
        let unit = spec.stages[1].steps[0]
        #expect(unit.command == .shell("make test"))
        #expect(unit.env == ["GOFLAGS": "-count=1"])
        #expect(unit.timeout == .seconds(90))
        #expect(unit.workdir == "src")
        #expect(unit.retries == 2)
        #expect(unit.line == 3)
        #expect(spec.hooks[.onFailure]?.first?.command == .serverHook("on-failure-notify.sh"))
        #expect(spec.hooks[.preDeploy]?.first?.command == .repositoryScript("ci/check.sh"))
        #expect(spec.stages[0].steps[0].timeout == StepSpec.defaultTimeout)
    }

    @Test func errorsAreExact() {
        func error(_ text: String) -> ConfigError? {
            do { _ = try PipelineSpec.parse(text, file: ".slipway.yaml"); return nil } catch { return error }
        }
        let cases: [(String, Int?, String)] = [
            ("stages:\n  biuld:\n    - {name: a, run: b}\n", 2, "unknown key 'biuld'"),
            ("stages:\n  build:\n    - {name: a}\n", 3, "step 'a' needs one of 'run' or 'script'"),
            ("stages:\n  build:\n    - {name: a, run: b, script: c}\n", 3, "has both run and script"),
            ("stages:\n  build:\n    - {name: a, hook: x.sh}\n", 3, "unknown key 'hook'"),
            ("stages:\n  build:\n    - {name: a, run: b, timeout: soon}\n", 3, "expected a duration"),
            ("stages:\n  build:\n    - {name: a, run: b, retries: 99}\n", 3, "retries must be between 0 and 10"),
            ("stages:\n  build:\n    - {name: a, run: b}\n    - {name: a, run: c}\n", 4, "already named 'a'"),
            ("stages:\n  build:\n    - {name: a, run: b, env: {1X: y}}\n", 3, "'1X' is not a valid environment variable name"),
            ("stages:\n  build:\n    - {name: a, script: /etc/passwd}\n", 3, "must be a relative path inside the workspace"),
            ("hooks:\n  post-deploy:\n    - {name: a, hook: ../x}\n", 3, "without a path"),
            ("stages: {}\n", 1, "the pipeline has no stages"),
            ("stages:\n  build: [\n", nil, "invalid YAML"),
        ]
        for (text, line, message) in cases {
            let found = error(text)
            #expect(found?.message.contains(message) == true, "\(text): \(String(describing: found))")
            if let line { #expect(found?.line == line, "\(text): \(String(describing: found))") }
            #expect(found?.file == ".slipway.yaml")
        }
    }

}
