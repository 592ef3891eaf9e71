import Foundation
import SlipwayConfig
import SlipwayCore
import Testing

/// `deploy.rollout` in a pipeline and `metrics_providers` in the server configuration: read,
/// and every mistake refused with the file, the line and what is expected.
@Suite struct RolloutConfigTests {
    /// The issue's example, as a user writes it.
    static let example = """
        deploy:
          manifests: deploy/
          rollout:
            target: Deployment/web
            steps:
              - weight: 20
              - pause: 2m
              - analysis: success-rate
              - weight: 50
              - pause: {until: promoted}
              - weight: 100
            analyses:
              success-rate:
                query: sum(rate(http_requests_total{app="web",track="canary",code!~"5.."}[1m])) / sum(rate(http_requests_total{app="web",track="canary"}[1m]))
                success: ">= 0.99"
                interval: 30s
                count: 4
                failure_limit: 1
        """

    static func refusal(_ text: String) -> ConfigError? {
        do {
            _ = try PipelineSpec.parse(text, file: ".slipway.yaml")
            return nil
        } catch {
            return error
        }
    }

    /// The example with `old` replaced by `new`.
    static func changed(_ old: String, _ new: String) -> String {
        example.replacingOccurrences(of: old, with: new)
    }

    @Test func theExampleIsRead() throws {
        let rollout = try #require(try PipelineSpec.parse(Self.example, file: ".slipway.yaml").deploy?.rollout)
        #expect(rollout.target == "Deployment/web" && rollout.line == 4)
        #expect(rollout.steps == [.weight(20), .pause(.seconds(120)), .analysis("success-rate"), .weight(50), .pauseUntilPromoted, .weight(100)])
        #expect(rollout.steps.map(\.description) == ["weight 20%", "pause 2m", "analysis success-rate", "weight 50%", "pause until promoted", "weight 100%"])
        let analysis = try #require(rollout.analyses["success-rate"])
        #expect(analysis.query.hasPrefix("sum(rate(http_requests_total{app=\"web\",track=\"canary\",code!~\"5..\"}[1m]))"))
        #expect(analysis.success == SuccessCondition(.atLeast, 0.99))
        #expect(analysis.interval == .seconds(30) && analysis.count == 4 && analysis.failureLimit == 1)
    }

    @Test func canaryReplicasRoundUp() {
        #expect(RolloutSpec.canaryReplicas(of: 5, weight: 20) == 1)
        #expect(RolloutSpec.canaryReplicas(of: 5, weight: 50) == 3)
        #expect(RolloutSpec.canaryReplicas(of: 10, weight: 1) == 1)
        #expect(RolloutSpec.canaryReplicas(of: 3, weight: 100) == 3)
        #expect(RolloutSpec.canaryReplicas(of: 0, weight: 50) == 0)
    }

    @Test func successConditionsParseAndJudge() throws {
        let atLeast = try #require(SuccessCondition(parsing: ">= 0.99"))
        #expect(atLeast.holds(for: 0.99) && !atLeast.holds(for: 0.98) && !atLeast.holds(for: .nan))
        #expect(SuccessCondition(parsing: "<500")?.holds(for: 499) == true)
        #expect(SuccessCondition(parsing: "> 1")?.comparison == .greater)
        #expect(SuccessCondition(parsing: "== 1")?.holds(for: 1) == true)
        #expect(SuccessCondition(parsing: "!= 0")?.holds(for: 0) == false)
        for bad in ["0.99", "=> 1", ">= abc", ">=", ">= inf", "about 1"] { #expect(SuccessCondition(parsing: bad) == nil, "\(bad)") }
    }

    @Test func mistakesAreRefusedAtTheirLine() {
        let cases: [(String, Int, String)] = [
            (Self.changed("target: Deployment/web", "target: StatefulSet/web"), 4, "rollout.target is Deployment/NAME"),
            (Self.changed("target: Deployment/web", "target: web"), 4, "rollout.target is Deployment/NAME"),
            (Self.changed("- weight: 20", "- weight: 0"), 6, "a weight is a percentage from 1 to 100, found 0"),
            (Self.changed("- weight: 100", "- weight: 101"), 11, "a weight is a percentage from 1 to 100, found 101"),
            (Self.changed("- weight: 50", "- weight: 10"), 9, "weights must rise from step to step: 10 follows 20"),
            (Self.changed("- analysis: success-rate", "- analysis: latency"), 8, "analysis 'latency' is not defined under rollout.analyses (success-rate)"),
            (Self.changed("success: \">= 0.99\"", "success: \"at least 0.99\""), 15, "success is a comparison with a number"),
            (Self.changed("count: 4", "count: 0"), 17, "count is the number of measurements"),
            (Self.changed("failure_limit: 1", "failure_limit: 4"), 18, "failure_limit (failed measurements tolerated) must be from 0 to count - 1 (3)"),
            (Self.changed("interval: 30s", "interval: soon"), 16, "expected a duration"),
            (Self.changed("- pause: {until: promoted}", "- pause: {until: tomorrow}"), 10, "a pause waits a duration"),
            (Self.changed("- pause: 2m", "- pause: 0s"), 7, "a pause must be longer than zero"),
            (Self.changed("- weight: 20", "- {weight: 20, pause: 1m}"), 6, "a rollout step is one of"),
            (Self.changed("      - weight: 20\n", ""), 7, "comes before any weight: step"),
        ]
        for (text, line, message) in cases {
            let error = Self.refusal(text)
            #expect(error?.line == line && error?.message.contains(message) == true, "\(message): \(error.map(String.init(describing:)) ?? "accepted")")
        }
        let noQuery = Self.refusal(Self.example.replacingOccurrences(of: #"\n *query: [^\n]*"#, with: "", options: .regularExpression))
        #expect(noQuery?.message.hasSuffix("analysis 'success-rate' names no query: add query: PROMQL") == true, "\(String(describing: noQuery))")
        #expect(noQuery?.line == 14)
    }

    @Test func analysesNeedTheAppsMetricsProvider() throws {
        let pipeline = try PipelineSpec.parse(Self.example, file: ".slipway.yaml")
        let problem = try #require(pipeline.rolloutProblem(metricsProvider: nil, app: "web", file: ".slipway.yaml"))
        #expect(problem.line == 14)
        #expect(problem.message.contains("analysis 'success-rate' needs a metrics provider: app 'web' has none"))
        #expect(pipeline.rolloutProblem(metricsProvider: MetricsProvider(name: "p", url: "http://p:9090"), app: "web", file: ".slipway.yaml") == nil)
        let withoutAnalysis = try PipelineSpec.parse(Self.changed("      - analysis: success-rate\n", ""), file: ".slipway.yaml")
        #expect(withoutAnalysis.rolloutProblem(metricsProvider: nil, app: "web", file: ".slipway.yaml") == nil)
    }

    static let server = """
        clusters: [{name: prod, kubeconfig: /etc/kube}]
        metrics_providers:
          - {name: prometheus, prometheus: {url: "http://prometheus.monitoring:9090/", token: {env: PROM_TOKEN}}}

        """

    static func app(_ extra: String = "") -> String {
        "apps:\n  - {name: web, repo: r, forge: github, webhook_secrets: [{env: S}], cluster: prod\(extra)}\n"
    }

    @Test func metricsProvidersAreReadAndChosen() throws {
        let config = try ServerConfigTests.parse(Self.server + Self.app(), env: ["S": "s", "PROM_TOKEN": "tok"])
        let provider = try #require(config.apps[0].metricsProvider)
        #expect(provider.name == "prometheus" && provider.url == "http://prometheus.monitoring:9090" && provider.token?.value == "tok")
        let named = try ServerConfigTests.parse(Self.server + Self.app(", metrics_provider: prometheus"), env: ["S": "s", "PROM_TOKEN": "tok"])
        #expect(named.apps[0].metricsProvider == provider)
        let none = try ServerConfigTests.parse("clusters: [{name: prod, kubeconfig: /etc/kube}]\n" + Self.app(), env: ["S": "s"])
        #expect(none.apps[0].metricsProvider == nil)
    }

    @Test func metricsProviderMistakesAreRefused() {
        let env = ["S": "s", "PROM_TOKEN": "tok"]
        let unknown = ServerConfigTests.error(Self.server + Self.app(", metrics_provider: thanos"), env: env)
        #expect(unknown?.message.hasSuffix("app 'web' names metrics provider 'thanos', which is not in metrics_providers (prometheus)") == true, "\(String(describing: unknown))")
        #expect(unknown?.line == 5)
        let badURL = ServerConfigTests.error(Self.server.replacingOccurrences(of: "http://prometheus.monitoring:9090/", with: "prometheus:9090") + Self.app(), env: env)
        #expect(badURL?.message.contains("prometheus.url is the Prometheus server's base URL") == true, "\(String(describing: badURL))")
        let noToken = ServerConfigTests.error(Self.server + Self.app(), env: ["S": "s"])
        #expect(noToken?.message.hasSuffix("environment variable PROM_TOKEN is not set or empty") == true)
        let twice = ServerConfigTests.error(Self.server + "  - {name: prometheus, prometheus: {url: \"http://other:9090\"}}\n" + Self.app(), env: env)
        #expect(twice?.message.hasSuffix("a metrics provider named 'prometheus' is already defined") == true)
    }
}
