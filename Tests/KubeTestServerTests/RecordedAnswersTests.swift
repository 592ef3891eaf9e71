import AsyncHTTPClient
import Foundation
import KubeTestServer
import NIOCore
import NIOFoundationCompat
import NIOSSL
import SlipwayCore
import SlipwayTestSupport
import Testing

/// Replays the requests recorded against a real kube-apiserver (Fixtures/kube/INDEX.tsv) and
/// checks that the test server answers with the same codes and the same shapes: Status
/// reasons, messages and causes, managed fields per manager, list contents, discovery.
@Suite struct RecordedAnswersTests {
    static func index() throws -> [RecordedLine] {
        try RecordedLine.index(KubeTestServer.fixtures)
    }

    static func recorded(_ stem: String) -> JSONValue? {
        guard let data = try? Data(contentsOf: KubeTestServer.fixtures.appendingPathComponent("\(stem).json")) else { return nil }
        return try? JSONDecoder().decode(JSONValue.self, from: data)
    }

    /// Managed fields by manager, without times.
    static func managed(_ object: JSONValue?) -> [String: JSONValue] {
        var result: [String: JSONValue] = [:]
        for entry in object?[path: ["metadata", "managedFields"]]?.arrayValue ?? [] {
            // The Deployment controller's own entry is not played by the test server.
            guard let manager = entry["manager"]?.stringValue, manager != "kube-controller-manager" else { continue }
            result[manager] = ["operation": entry["operation"] ?? nil, "fieldsV1": entry["fieldsV1"] ?? nil, "apiVersion": entry["apiVersion"] ?? nil]
        }
        return result
    }

    @Test func theTestServerAnswersLikeTheRealOne() async throws {
        let server = try await KubeTestServer.start()
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(server.certificatePath)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
        defer { client.shutdownEventually() }
        var lastResourceVersion: [String: String] = [:]
        for line in try Self.index() {
            var path = line.path
            var authorization: String? = "Bearer test-token"
            if path.hasSuffix(" (no Authorization header)") {
                path = String(path.dropLast(" (no Authorization header)".count))
                authorization = nil
            } else if path.hasSuffix(" (Authorization: Bearer wrong)") {
                path = String(path.dropLast(" (Authorization: Bearer wrong)".count))
                authorization = "Bearer wrong"
            }
            if line.stem == "27-get-deployment-with-status", let status = Self.recorded(line.stem)?["status"] {
                // No controller runs here: the test plays the Deployment controller.
                _ = await server.cluster.setStatus(apiVersion: "apps/v1", kind: "Deployment", namespace: "shop", name: "cart", status: status)
            }
            var request = HTTPClientRequest(url: server.url + path)
            request.method = .init(rawValue: line.method)
            if let authorization { request.headers.add(name: "Authorization", value: authorization) }
            if let type = line.contentType { request.headers.add(name: "Content-Type", value: type) }
            let requestFile = KubeTestServer.fixtures.appendingPathComponent("\(line.stem).request")
            if let body = try? Data(contentsOf: requestFile) { request.body = .bytes(ByteBuffer(data: body)) }
            let response = try await client.execute(request, timeout: .seconds(10))
            let data = Data(buffer: try await response.body.collect(upTo: 8 << 20))
            #expect(Int(response.status.code) == line.status, "\(line.stem): \(String(decoding: data, as: UTF8.self))")

            guard let expected = Self.recorded(line.stem) else {
                #expect(String(decoding: data, as: UTF8.self).hasPrefix("404 page not found"), "\(line.stem)")
                continue
            }
            let actual = try JSONDecoder().decode(JSONValue.self, from: data)
            if expected["kind"] == "Status" {
                for key in ["kind", "status", "reason", "code", "message", "details"] {
                    #expect(actual[key] == expected[key], "\(line.stem): \(key): \(String(describing: actual[key])) vs \(String(describing: expected[key]))")
                }
            } else if expected["kind"]?.stringValue?.hasSuffix("List") == true && expected["items"] != nil {
                #expect(actual["kind"] == expected["kind"], "\(line.stem)")
                #expect(actual["items"]?.arrayValue?.map { $0[path: ["metadata", "name"]] } == expected["items"]?.arrayValue?.map { $0[path: ["metadata", "name"]] }, "\(line.stem)")
                #expect(actual["items"]?.arrayValue?.first?["apiVersion"] == nil)
            } else if expected["metadata"]?["managedFields"] != nil {
                for key in ["apiVersion", "kind"] { #expect(actual[key] == expected[key], "\(line.stem): \(key)") }
                for key in ["name", "namespace", "labels", "generation"] {
                    #expect(actual[path: ["metadata", key]] == expected[path: ["metadata", key]], "\(line.stem): metadata.\(key)")
                }
                #expect(Self.managed(actual) == Self.managed(expected), "\(line.stem): managed fields\n\(Self.managed(actual))\nvs\n\(Self.managed(expected))")
                if expected["kind"] == "ConfigMap" { #expect(actual["data"] == expected["data"], "\(line.stem)") }
                if expected["kind"] == "Namespace" || expected["kind"] == "CustomResourceDefinition" {
                    #expect(actual["status"]?["phase"] == expected["status"]?["phase"], "\(line.stem)")
                    #expect(actual[path: ["status", "conditions"]]?.arrayValue?.map { $0["type"] } == expected[path: ["status", "conditions"]]?.arrayValue?.map { $0["type"] }, "\(line.stem)")
                }
                // An unchanged re-apply keeps the resourceVersion, as the real server does.
                let key = "\(expected["kind"]?.stringValue ?? "")/\(expected[path: ["metadata", "name"]]?.stringValue ?? "")"
                if line.stem == "11-ssa-deployment-same-again" {
                    #expect(actual[path: ["metadata", "resourceVersion"]]?.stringValue == lastResourceVersion[key], "\(line.stem)")
                }
                if !line.path.contains("dryRun") { lastResourceVersion[key] = actual[path: ["metadata", "resourceVersion"]]?.stringValue }
            } else {
                // Discovery documents.
                if line.stem.contains("discovery-example") {
                    #expect(actual["resources"]?.arrayValue?.map { $0["name"] } == expected["resources"]?.arrayValue?.map { $0["name"] }, "\(line.stem)")
                } else {
                    #expect(actual == expected, "\(line.stem)")
                }
            }
        }
        try await client.shutdown()
        await server.stop()
    }
}
