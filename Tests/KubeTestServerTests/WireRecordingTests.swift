import AsyncHTTPClient
import Foundation
import KubeTestServer
import NIOCore
import NIOFoundationCompat
import NIOSSL
import SlipwayCore
import SlipwayTestSupport
import Testing

/// Replays the second recording (Fixtures/kube/wire: escapes, numbers, impersonation and RBAC,
/// paging, watch, deletes, terminating namespaces) against the test server, request by request:
/// the same status codes, Status reasons, messages and details, and the same object shapes.
@Suite struct WireRecordingTests {
    static var directory: URL { KubeTestServer.fixtures.appendingPathComponent("wire") }

    static func index() throws -> [RecordedLine] {
        try RecordedLine.index(directory)
    }

    static func recorded(_ stem: String) -> JSONValue? {
        guard let data = try? Data(contentsOf: directory.appendingPathComponent("\(stem).json")) else { return nil }
        return try? JSONDecoder().decode(JSONValue.self, from: data)
    }

    static func managed(_ object: JSONValue?) -> [String: JSONValue] {
        RecordedAnswersTests.managed(object)
    }

    struct Session {
        let server: KubeTestServer
        let client: HTTPClient

        func send(_ method: String, _ path: String, body: Data? = nil, contentType: String? = nil, token: String = "test-token",
                  impersonate: String? = nil) async throws -> (status: Int, body: Data) {
            var request = HTTPClientRequest(url: server.url + path)
            request.method = .init(rawValue: method)
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
            if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
            if let impersonate { request.headers.add(name: "Impersonate-User", value: impersonate) }
            if let body { request.body = .bytes(ByteBuffer(data: body)) }
            let response = try await client.execute(request, timeout: .seconds(10))
            return (Int(response.status.code), Data(buffer: try await response.body.collect(upTo: 8 << 20)))
        }

        /// The first line of a watch, read as it arrives.
        func firstEvent(_ path: String, whileWatching change: @escaping @Sendable () async throws -> Void) async throws -> JSONValue? {
            var request = HTTPClientRequest(url: server.url + path)
            request.headers.add(name: "Authorization", value: "Bearer test-token")
            // The change comes once the watch is open (headers may wait for the first event).
            let changing = Task {
                try await Task.sleep(for: .milliseconds(300))
                try await change()
            }
            let response = try await client.execute(request, timeout: .seconds(10))
            #expect(response.status.code == 200)
            try await changing.value
            var pending = Data()
            for try await chunk in response.body {
                pending.append(contentsOf: chunk.readableBytesView)
                if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    return try JSONDecoder().decode(JSONValue.self, from: pending[..<newline])
                }
            }
            return nil
        }

        func apply(_ yaml: String, path: String) async throws {
            let (status, body) = try await send("PATCH", path + "?fieldManager=slipway&force=true", body: Data(yaml.utf8), contentType: "application/apply-patch+yaml")
            #expect((200..<300).contains(status), "setup \(path): \(String(decoding: body, as: UTF8.self))")
        }
    }

    @Test func theTestServerAnswersLikeTheRealOneOnTheWire() async throws {
        let server = try await KubeTestServer.start()
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(server.certificatePath)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
        defer { client.shutdownEventually() }
        let session = Session(server: server, client: client)
        let serviceAccountToken = await server.cluster.serviceAccountToken(namespace: "wire", name: "deployer")
        var continueToken = ""
        var listVersion = ""

        for line in try Self.index() {
            var path = line.path
            var token = "test-token"
            // Steps the recording made without recording them.
            switch line.stem {
            case "23-impersonate-by-non-admin-403", "24-get-configmaps-with-sa-token-200":
                token = serviceAccountToken
            case "25-list-page-1":
                for index in 1...7 {
                    try await session.apply("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"page-\(index)\",\"namespace\":\"wire\",\"labels\":{\"paging\":\"yes\"}},\"data\":{\"i\":\"\(index)\"}}",
                                            path: "/api/v1/namespaces/wire/configmaps/page-\(index)")
                }
            case "26-list-page-2":
                path = path.replacingOccurrences(of: #"continue=[A-Za-z0-9_-]+"#, with: "continue=\(continueToken)", options: .regularExpression)
            case "31-delete-deployment-foreground-dryrun-200":
                try await session.apply(try String(contentsOf: Self.directory.appendingPathComponent("07-ssa-json-float-integers-dryrun-201.request"), encoding: .utf8),
                                        path: "/apis/apps/v1/namespaces/wire/deployments/floaty")
            default:
                break
            }

            if line.stem == "27-watch-configmaps-from-list" {
                let list = try await session.send("GET", "/api/v1/namespaces/wire/configmaps?labelSelector=paging%3Dyes")
                listVersion = try JSONDecoder().decode(JSONValue.self, from: list.body)[path: ["metadata", "resourceVersion"]]?.stringValue ?? ""
                let event = try await session.firstEvent(path.replacingOccurrences(of: "resourceVersion=RV", with: "resourceVersion=\(listVersion)")) {
                    try await session.apply(#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"page-1","namespace":"wire","labels":{"paging":"yes"}},"data":{"i":"changed"}}"#,
                                            path: "/api/v1/namespaces/wire/configmaps/page-1")
                }
                let text = try String(contentsOf: Self.directory.appendingPathComponent("27-watch-configmaps-from-list.jsonl"), encoding: .utf8)
                let expected = try JSONDecoder().decode(JSONValue.self, from: Data(text.split(separator: "\n")[0].utf8))
                #expect(event?["type"] == expected["type"], "\(line.stem)")
                for key in ["kind", "apiVersion", "data"] { #expect(event?["object"]?[key] == expected["object"]?[key], "\(line.stem): \(key)") }
                #expect(event?[path: ["object", "metadata", "name"]] == expected[path: ["object", "metadata", "name"]])
                #expect(Self.managed(event?["object"]) == Self.managed(expected["object"]), "\(line.stem)")
                let newer = Int(event?[path: ["object", "metadata", "resourceVersion"]]?.stringValue ?? "") ?? 0
                #expect(newer > Int(listVersion) ?? .max, "\(line.stem): the event is newer than the list")
                continue
            }

            let requestFile = Self.directory.appendingPathComponent("\(line.stem).request")
            let body = try? Data(contentsOf: requestFile)
            let (status, data) = try await session.send(line.method, path, body: body, contentType: line.contentType, token: token, impersonate: line.impersonate)
            #expect(status == line.status, "\(line.stem): \(String(decoding: data, as: UTF8.self))")

            let expected = try #require(Self.recorded(line.stem), "\(line.stem)")
            if line.stem.hasPrefix("28-") {
                // A watch too far in the past: one ERROR event carrying 410 Expired.
                let event = try JSONDecoder().decode(JSONValue.self, from: data.prefix { $0 != UInt8(ascii: "\n") })
                #expect(event["type"] == expected["type"])
                for key in ["kind", "code", "reason", "status"] { #expect(event["object"]?[key] == expected["object"]?[key], "\(line.stem): \(key)") }
                #expect(event[path: ["object", "message"]]?.stringValue?.hasPrefix("too old resource version: 1 (") == true, "\(line.stem)")
                continue
            }
            let actual = try JSONDecoder().decode(JSONValue.self, from: data)
            if expected["kind"] == "Status" {
                var expectedDetails = expected["details"]
                var actualDetails = actual["details"]
                // A deleted object's uid is this cluster's own.
                #expect((actualDetails?["uid"] != nil) == (expectedDetails?["uid"] != nil), "\(line.stem): details.uid")
                expectedDetails?["uid"] = nil
                actualDetails?["uid"] = nil
                #expect(actualDetails == expectedDetails, "\(line.stem): details: \(String(describing: actualDetails)) vs \(String(describing: expectedDetails))")
                for key in ["kind", "apiVersion", "status", "reason", "code", "message"] {
                    #expect(actual[key] == expected[key], "\(line.stem): \(key): \(String(describing: actual[key])) vs \(String(describing: expected[key]))")
                }
            } else if let items = expected["items"]?.arrayValue {
                #expect(actual["kind"] == expected["kind"], "\(line.stem)")
                #expect(actual["items"]?.arrayValue?.map { $0[path: ["metadata", "name"]] } == items.map { $0[path: ["metadata", "name"]] }, "\(line.stem)")
                #expect((actual[path: ["metadata", "continue"]] != nil) == (expected[path: ["metadata", "continue"]] != nil), "\(line.stem): continue")
                if line.stem == "25-list-page-1" {
                    continueToken = actual[path: ["metadata", "continue"]]?.stringValue ?? ""
                    listVersion = actual[path: ["metadata", "resourceVersion"]]?.stringValue ?? ""
                }
                if line.stem == "26-list-page-2" {
                    // Later pages carry the first page's version, and the key to go on after.
                    #expect(actual[path: ["metadata", "resourceVersion"]]?.stringValue == listVersion)
                    let token = actual[path: ["metadata", "continue"]]?.stringValue ?? ""
                    let padded = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/") + String(repeating: "=", count: (4 - token.count % 4) % 4)
                    let decoded = try JSONDecoder().decode(JSONValue.self, from: try #require(Data(base64Encoded: padded)))
                    #expect(decoded["start"] == "page-6\u{0}" && decoded["v"] == "meta.k8s.io/v1", "\(decoded)")
                }
            } else {
                for key in ["apiVersion", "kind"] { #expect(actual[key] == expected[key], "\(line.stem): \(key)") }
                for key in ["name", "namespace", "labels", "generation", "finalizers"] {
                    #expect(actual[path: ["metadata", key]] == expected[path: ["metadata", key]], "\(line.stem): metadata.\(key)")
                }
                #expect((actual[path: ["metadata", "deletionTimestamp"]] != nil) == (expected[path: ["metadata", "deletionTimestamp"]] != nil), "\(line.stem)")
                if expected[path: ["metadata", "managedFields"]] != nil {
                    #expect(Self.managed(actual) == Self.managed(expected), "\(line.stem): managed fields\n\(Self.managed(actual))\nvs\n\(Self.managed(expected))")
                }
                for key in ["data", "rules", "roleRef", "subjects"] where expected[key] != nil {
                    #expect(actual[key] == expected[key], "\(line.stem): \(key): \(String(describing: actual[key]))")
                }
                if expected["kind"] == "Namespace" { #expect(actual[path: ["status", "phase"]] == expected[path: ["status", "phase"]], "\(line.stem)") }
                if expected["kind"] == "Deployment" {
                    #expect(actual[path: ["spec", "replicas"]] == expected[path: ["spec", "replicas"]], "\(line.stem): replicas")
                    #expect(actual[path: ["spec", "template", "spec", "containers"]]?.arrayValue?.first?["ports"]?.arrayValue?.first?["containerPort"]
                            == expected[path: ["spec", "template", "spec", "containers"]]?.arrayValue?.first?["ports"]?.arrayValue?.first?["containerPort"], "\(line.stem): containerPort")
                }
            }
        }
        try await client.shutdown()
        await server.stop()
    }
}
