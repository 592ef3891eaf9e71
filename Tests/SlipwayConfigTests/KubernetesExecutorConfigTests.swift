import Foundation
import SlipwayConfig
import SlipwayCore
import Testing

/// `runner.executor`, `runner.kubernetes` and the pipeline's `image:` / `resources:`: read,
/// and every mistake refused with the file, the line and what is expected.
@Suite struct KubernetesExecutorConfigTests {
    static let base = """
        public_url: https://slipway.example.com
        clusters: [{name: prod, kubeconfig: /etc/kube}]

        """

    static func runner(_ kubernetes: String, executor: String = "kubernetes") -> String {
        base + "runner:\n  executor: \(executor)\n  kubernetes:\n" + kubernetes.split(separator: "\n").map { "    \($0)" }.joined(separator: "\n") + "\n"
    }

    static func error(_ text: String) -> ConfigError? {
        ServerConfigTests.error(text, env: ["S": "secret"])
    }

    @Test func theSettingsAreRead() throws {
        let config = try ServerConfigTests.parse(Self.runner("""
            cluster: prod
            namespace: slipway-builds
            service_account: builder
            default_image: debian:12
            image_pull_policy: Always
            max_pods: 5
            pod_template: {nodeSelector: {pool: builds}, tolerations: [{key: builds, effect: NoSchedule}], priorityClassName: low}
            server_url: https://slipway.internal:8443
            fetch_image: registry.example.com:5000/tools/curl:8.10.1@sha256:\(String(repeating: "ab", count: 32))
            """) + "apps:\n  - {name: api, repo: r, forge: github, webhook_secrets: [{env: S}], executor: local}\n", env: ["S": "secret"])
        let settings = try #require(config.kubernetes)
        #expect(config.executor == .kubernetes)
        #expect(settings.namespace == "slipway-builds" && settings.serviceAccount == "builder" && settings.maxPods == 5)
        #expect(settings.imagePullPolicy == "Always")
        #expect(settings.podTemplate["nodeSelector"] == ["pool": "builds"])
        #expect(settings.serverURL == "https://slipway.internal:8443")
        #expect(config.executor(of: config.apps[0]) == .local)
    }

    @Test func mistakesAreRefusedWithTheirLine() throws {
        #expect(Self.error(Self.runner("cluster: staging\nnamespace: b"))?.description.contains("cluster 'staging' is not in clusters (prod)") == true)
        let namespace = Self.error(Self.runner("cluster: prod\nnamespace: Builds_1"))
        #expect(namespace?.line == 7)
        #expect(namespace?.message.contains("'Builds_1' is not a namespace name") == true)
        #expect(Self.error(Self.runner("cluster: prod\nnamespace: b\ndefault_image: Golang:1.22"))?.message.contains("'Golang:1.22' is not an image reference") == true)
        #expect(Self.error(Self.runner("cluster: prod\nnamespace: b\nimage_pull_policy: Sometimes"))?.message.contains("expected one of Always, IfNotPresent, Never") == true)
        let unknown = Self.error(Self.runner("cluster: prod\nnamespace: b\npod_template: {nodeSelectr: {a: b}}"))
        #expect(unknown?.line == 8)
        #expect(unknown?.message.contains("unknown key 'nodeSelectr'") == true, "\(String(describing: unknown))")
        #expect(Self.error(Self.runner("cluster: prod\nnamespace: b\npod_template: {containers: []}"))?.message
                .contains("containers is set by Slipway (the pipeline's steps), not by pod_template") == true)
        #expect(Self.error(Self.runner("cluster: prod\nnamespace: b\nmax_pods: 0")) != nil)
        #expect(Self.error(Self.runner("cluster: prod\nnamespace: b\nserver_url: slipway")) != nil)
        #expect(Self.error(Self.runner("cluster: prod\nnamespace: b\nimage: x")) != nil, "unknown keys are refused")
        // No address for pods to reach the server.
        let noURL = Self.error(Self.runner("cluster: prod\nnamespace: b").replacingOccurrences(of: "public_url: https://slipway.example.com\n", with: ""))
        #expect(noURL?.message.contains("set server_url (or public_url)") == true, "\(String(describing: noURL))")
        // An app on the kubernetes executor with nothing to run it.
        let missing = Self.error(Self.base + "apps:\n  - {name: api, repo: r, forge: github, webhook_secrets: [{env: S}], executor: kubernetes}\n")
        #expect(missing?.message.contains("app 'api' has executor: kubernetes, which needs runner.kubernetes") == true, "\(String(describing: missing))")
        #expect(Self.error(Self.base + "runner: {executor: pods}\n")?.message.contains("local, kubernetes") == true)
        // A template below the baseline never reaches an app with tenancy rules.
        let tenant = Self.error(Self.runner("cluster: prod\nnamespace: b\npod_template: {hostNetwork: true}")
                                + "apps:\n  - {name: api, repo: r, forge: github, webhook_secrets: [{env: S}], cluster: prod, namespace: api, service_account: api/deployer}\n")
        #expect(tenant?.message.contains("app 'api' has tenancy rules, and pod_template sets hostNetwork") == true, "\(String(describing: tenant))")
    }

    @Test func thePipelineNamesImagesAndResourcesForBuildAndTestStepsOnly() throws {
        let pipeline = try PipelineSpec.parse("""
            image: golang:1.22
            stages:
              build:
                - {name: compile, run: go build ./..., resources: {cpu: 500m, memory: 1Gi}}
              test:
                - {name: lint, image: golangci/golangci-lint:v1.59, run: golangci-lint run}
            """, file: ".slipway.yaml")
        #expect(pipeline.image == "golang:1.22")
        #expect(pipeline.stages[0].steps[0].resources == StepResources(cpu: "500m", memory: "1Gi"))
        #expect(pipeline.stages[1].steps[0].image == "golangci/golangci-lint:v1.59")
        #expect(pipeline.problem(on: .kubernetes, appNetwork: true, file: ".slipway.yaml") == nil)
        let local = try #require(pipeline.problem(on: .local, appNetwork: true, file: ".slipway.yaml"))
        #expect(local.description == ".slipway.yaml:1: image: 'golang:1.22' needs the kubernetes executor; this app's steps run on the local executor (runner.executor / apps[].executor)")

        func refusal(_ text: String) -> String? {
            do {
                _ = try PipelineSpec.parse(text, file: ".slipway.yaml")
                return nil
            } catch {
                return error.description
            }
        }
        #expect(refusal("stages:\n  build:\n    - {name: a, run: x, resources: {cpu: lots}}\n")?
            .contains(".slipway.yaml:3:") == true)
        #expect(refusal("stages:\n  build:\n    - {name: a, run: x, resources: {cpu: lots}}\n")?.contains("'lots' is not a Kubernetes quantity") == true)
        #expect(refusal("stages:\n  build:\n    - {name: a, run: x, resources: {gpu: 1}}\n")?.contains("unknown key 'gpu'") == true)
        #expect(refusal("stages:\n  build:\n    - {name: a, run: x, image: 'UPPER:1'}\n")?.contains("is not an image reference") == true)
        #expect(refusal("hooks:\n  pre-deploy:\n    - {name: a, run: x, image: alpine:3}\n")?.contains("image: applies to build and test steps only") == true)
        #expect(refusal("stages:\n  deploy:\n    - {name: a, run: x, image: alpine:3}\n")?.contains("image: applies to build and test steps only") == true)
        for quantity in ["500m", "2", "1Gi", "1.5", "0.5Gi", "1e3", "100M"] { #expect(StepResources.isQuantity(quantity), "\(quantity)") }
        for quantity in ["", "lots", "1 Gi", "1GB", "-1", "Gi"] { #expect(!StepResources.isQuantity(quantity), "\(quantity)") }
    }
}
