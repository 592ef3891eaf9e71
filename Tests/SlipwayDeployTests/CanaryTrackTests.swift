import AsyncHTTPClient
import Foundation
import SlipwayCore
import SlipwayDeploy
@testable import SlipwayRollout
import Testing

/// The canary's make-up and how a Prometheus answer is read, without a cluster.
@Suite struct CanaryTrackTests {
    static let target = Manifest(object: [
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": ["name": "web", "namespace": "shop", "labels": ["app": "web", "applyset.kubernetes.io/part-of": "applyset-x"]],
        "spec": ["replicas": 5, "selector": ["matchLabels": ["app": "web"]],
                 "template": ["metadata": ["labels": ["app": "web"]], "spec": ["containers": [["name": "web", "image": "shop:2.0"]]]]],
    ], source: "deploy/web.yaml", index: 0, line: 1)

    @Test func theCanaryIsASecondDeploymentOnItsOwnTrack() {
        let canary = CanaryTrack.canary(of: Self.target, replicas: 2)
        #expect(canary[path: ["metadata", "name"]] == "web-canary")
        #expect(canary[path: ["spec", "replicas"]] == 2)
        #expect(canary[path: ["spec", "selector", "matchLabels"]] == ["app": "web", "track": "canary"])
        #expect(canary[path: ["spec", "template", "metadata", "labels"]] == ["app": "web", "track": "canary"])
        #expect(canary[path: ["spec", "template", "spec"]] == Self.target.object[path: ["spec", "template", "spec"]])
        // Outside the app's set: prune and drift never see it; its health wait selects it by this.
        #expect(canary[path: ["metadata", "labels", "applyset.kubernetes.io/part-of"]] == nil)
        #expect(canary[path: ["metadata", "labels", "slipway.dev/canary-of"]] == "web")
        #expect(CanaryTrack.replicas(of: Self.target) == 5)
    }

    static func service(_ selector: JSONValue) -> Manifest {
        Manifest(object: ["apiVersion": "v1", "kind": "Service", "metadata": ["name": "web", "namespace": "shop"], "spec": ["selector": selector]],
                 source: "deploy/svc.yaml", index: 0, line: 1)
    }

    @Test func aServiceThatMissesTheCanaryIsWarnedAbout() {
        #expect(CanaryTrack.serviceWarning(target: Self.target, manifests: [Self.target, Self.service(["app": "web"])]) == nil)
        let none = CanaryTrack.serviceWarning(target: Self.target, manifests: [Self.target])
        #expect(none?.hasPrefix("no Service in the app's manifests selects Deployment shop/web's pods") == true, "\(none ?? "")")
        let stableOnly = CanaryTrack.serviceWarning(target: Self.target, manifests: [Self.target, Self.service(["app": "web", "track": "stable"])])
        #expect(stableOnly?.hasPrefix("no Service in the app's manifests selects") == true, "a selector on track: stable selects no pod of this template: \(stableOnly ?? "")")
        var labelled = Self.target
        labelled.object["spec"]?["template"]?["metadata"]?["labels"] = ["app": "web", "track": "stable"]
        let missing = CanaryTrack.serviceWarning(target: labelled, manifests: [labelled, Self.service(["app": "web", "track": "stable"])])
        #expect(missing?.hasPrefix("Service web selects Deployment shop/web's stable pods but not the canary's") == true, "\(missing ?? "")")
    }

    static func read(_ json: String, status: UInt = 200) -> Result<Double, AnalysisProblem> {
        PrometheusQuery.read(body: Data(json.utf8), status: status)
    }

    static func problem(_ result: Result<Double, AnalysisProblem>) -> String? {
        if case .failure(let problem) = result { return problem.description }
        return nil
    }

    /// Answers as Prometheus' `/api/v1/query` gives them.
    @Test func aQueryIsReadAsOneValue() throws {
        #expect(try Self.read(#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1796667192.870,"0.995"]}]}}"#).get() == 0.995)
        #expect(try Self.read(#"{"status":"success","data":{"resultType":"scalar","result":[1796667192.870,"1"]}}"#).get() == 1)
        #expect(Self.problem(Self.read(#"{"status":"success","data":{"resultType":"vector","result":[]}}"#)) == "the query returned no value")
        let two = #"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"1"},"value":[1,"1"]},{"metric":{"a":"2"},"value":[1,"0"]}]}}"#
        #expect(Self.problem(Self.read(two)) == "the query returned 2 values, not one")
        #expect(Self.problem(Self.read(#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]}]}}"#))?.hasPrefix("the query's value is NaN") == true)
        #expect(Self.problem(Self.read(#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#))?.contains("not a single value") == true)
        let refused = Self.problem(Self.read(#"{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected <EOF>"}"#, status: 400))
        #expect(refused == "Prometheus refused the query (400 bad_data): 1:5: parse error: unexpected <EOF>")
        #expect(Self.problem(Self.read("<html>", status: 502)) == "Prometheus answered 502 with something that is not JSON")
    }

    /// A Prometheus that takes the connection and never answers: the measurement fails when
    /// its interval is over, saying so.
    @Test func aPrometheusThatDoesNotAnswerInTimeIsAFailedMeasurement() async throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #expect(listener >= 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        #expect(bound == 0 && listen(listener, 8) == 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        let port = Int(UInt16(bigEndian: address.sin_port))
        // The kernel completes connections into the backlog; nobody accepts or answers.
        let query = PrometheusQuery(provider: MetricsProvider(name: "p", url: "http://127.0.0.1:\(port)"), client: HTTPClient.shared)
        let result = await query.value("up", timeout: .seconds(1))
        #expect(Self.problem(result) == "Prometheus at http://127.0.0.1:\(port) did not answer within 1s", "\(result)")
    }
}
