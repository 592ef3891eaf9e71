import AsyncHTTPClient
import Foundation
import KubeTestServer
import NIOSSL
import SlipwayCore
import SlipwayKube
import SlipwayTestSupport
import Testing

/// What Slipway sends must be readable by a real API server, which reads apply bodies as YAML
/// 1.1. Foundation's default JSON (`\/`, `\ud83d\ude80`) was refused by every real cluster;
/// these requests go to the strict test server, which refuses the same bodies.
@Suite struct WireFormatTests {
    /// Text with everything an encoder may escape wrongly.
    static let awkward = "https://example.com/a?b=<c>&d=\"e\" \\ f\ttab café 🚀 \u{2028}line \u{7f}del \u{85}nel /end"

    static func objects() -> [JSONValue] {
        let labels: JSONValue = ["applyset.kubernetes.io/part-of": "applyset-x-v1", "app.kubernetes.io/name": "web"]
        let annotations: JSONValue = ["example.com/url": .string(awkward), "example.com/html": "<b>&amp;</b>"]
        return [
            ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "wire", "labels": labels]],
            ["apiVersion": "v1", "kind": "ConfigMap",
             "metadata": ["name": "awkward", "namespace": "wire", "labels": labels, "annotations": annotations],
             "data": ["text": .string(awkward), "path/like": "a/b/c", "emoji": "🚀🛳️", "json": #"{"a":"b\/c"}"#]],
            ["apiVersion": "apps/v1", "kind": "Deployment",
             "metadata": ["name": "web", "namespace": "wire", "labels": labels, "annotations": annotations],
             "spec": ["replicas": .double(2.0), "selector": ["matchLabels": ["app": "web"]],
                      "template": ["metadata": ["labels": ["app": "web"]],
                                   "spec": ["containers": [["name": "web", "image": "registry.example.com/team/web:1.0",
                                                            "ports": [["containerPort": .double(8080)]],
                                                            "args": [.string("--greeting=\(awkward)")]]]]]]],
        ]
    }

    @Test func slipwaysRequestsWithAwkwardTextAreAcceptedAndStoredExactly() async throws {
        let server = try await KubeTestServer.start()
        let client = try server.client()
        for object in Self.objects() {
            _ = try await client.apply(object, fieldManager: "slipway", force: true, dryRun: true)
            _ = try await client.apply(object, fieldManager: "slipway", force: true)
        }
        let stored = try #require(try await client.get(apiVersion: "v1", kind: "ConfigMap", namespace: "wire", name: "awkward"))
        #expect(stored["data"] == Self.objects()[1]["data"])
        #expect(stored[path: ["metadata", "annotations"]] == Self.objects()[1][path: ["metadata", "annotations"]])
        let deployment = try #require(try await client.get(apiVersion: "apps/v1", kind: "Deployment", namespace: "wire", name: "web"))
        #expect(deployment[path: ["spec", "replicas"]] == .int(2))
        #expect(deployment[path: ["spec", "template", "spec", "containers"]]?.arrayValue?.first?["args"] == [.string("--greeting=\(Self.awkward)")])
        // Deletes carry their options in the same writing.
        #expect(try await client.delete(apiVersion: "apps/v1", kind: "Deployment", namespace: "wire", name: "web", dryRun: true))
        #expect(try await client.get(apiVersion: "apps/v1", kind: "Deployment", namespace: "wire", name: "web") != nil)
        await client.shutdown()
        await server.stop()
    }

    @Test func foundationsDefaultEncodingIsRefusedAsTheRealServerRefusesIt() async throws {
        let server = try await KubeTestServer.start()
        let client = try server.client()
        _ = try await client.apply(Self.objects()[0], fieldManager: "slipway", force: true)
        // What Slipway sent before: JSONEncoder's `\/` and `\uD83D\uDE80`-style escapes.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let old = try encoder.encode(Self.objects()[1])
        #expect(String(decoding: old, as: UTF8.self).contains(#"\/"#))
        let refused = try await rawApply(server, body: old, path: "/api/v1/namespaces/wire/configmaps/awkward")
        #expect(refused.status == 400)
        #expect(refused.message == "error decoding YAML: error converting YAML to JSON: yaml: found unknown escape character")
        let surrogate = try await rawApply(server, body: Data(#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"s","namespace":"wire"},"data":{"e":"\ud83d\ude80"}}"#.utf8),
                                           path: "/api/v1/namespaces/wire/configmaps/s")
        #expect(surrogate.message == "error decoding YAML: error converting YAML to JSON: yaml: found invalid Unicode character escape code")
        await client.shutdown()
        await server.stop()
    }

    @Test func theOneWritingEscapesOnlyWhatYAML11NeedsEscaped() throws {
        let text = try SlipwayJSON.string(["b": .string(Self.awkward), "a": .double(1.0), "c": .double(1.5), "d": [.int(3), .null, .bool(true)]])
        #expect(!text.contains(#"\/"#))
        #expect(!text.lowercased().contains(#"\ud8"#))
        #expect(text.hasPrefix(#"{"a":1,"b":"https://example.com/a?b=<c>&d=\"e\" \\ f\ttab café 🚀 \u2028line \u007fdel \u0085nel /end","c":1.5,"d":[3,null,true]}"#))
        #expect(throws: SlipwayJSON.EncodingError.self) { try SlipwayJSON.data(["x": .double(.infinity)]) }
        // It reads back as the same value.
        #expect(try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))["b"] == .string(Self.awkward))
    }

    private func rawApply(_ server: KubeTestServer, body: Data, path: String) async throws -> (status: Int, message: String?) {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(server.certificatePath)
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
        defer { http.shutdownEventually() }
        let answer = try await WireRecordingTests.Session(server: server, client: http)
            .send("PATCH", path + "?fieldManager=slipway&force=true", body: body, contentType: "application/apply-patch+yaml")
        try await http.shutdown()
        return (answer.status, try JSONDecoder().decode(JSONValue.self, from: answer.body)["message"]?.stringValue)
    }
}
