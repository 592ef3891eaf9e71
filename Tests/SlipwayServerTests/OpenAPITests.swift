import Foundation
import Logging
import SlipwayMetrics
import SlipwayServer
import SlipwayTestSupport
import Testing
import Yams

/// The OpenAPI document in the repository is the one served, and it describes exactly the
/// routes the server registers (no route missing, none described that is not there). That
/// the answers match its schemas is checked by schemathesis against a live server (script/test).
@Suite struct OpenAPITests {
    static let documentPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Sources/SlipwayServer/openapi.yaml").standardized.path

    static func document() throws -> [String: Any] {
        let text = try String(contentsOfFile: documentPath, encoding: .utf8)
        return try #require(try Yams.load(yaml: text) as? [String: Any])
    }

    @Test func everyRegisteredRouteIsDescribedAndNothingElse() async throws {
        let document = try Self.document()
        #expect(document["openapi"] as? String == "3.1.0")
        let paths = try #require(document["paths"] as? [String: Any])
        var described = Set<String>()
        for (path, item) in paths {
            for method in ["get", "put", "post", "delete", "patch", "head"] where (item as? [String: Any])?[method] != nil {
                described.insert("\(method.uppercased()) \(path)")
            }
        }

        try await withLiveServer { live in
            var server = SlipwayServer(config: live.config, store: live.store, dispatcher: nil, logger: Logger(label: "openapi-test"))
            server.metrics = SlipwayMetrics()
            let registered = Set(server.makeRouter().routes.map { route in
                let path = route.path.description.split(separator: "/", omittingEmptySubsequences: false).map { part in
                    part.hasPrefix(":") ? "{\(part.dropFirst())}" : String(part)
                }.joined(separator: "/")
                return "\(route.method.rawValue) \(path.isEmpty ? "/" : path)"
            })
            #expect(registered.count > 20)
            #expect(registered.subtracting(described).isEmpty, "routes not in openapi.yaml: \(registered.subtracting(described).sorted())")
            #expect(described.subtracting(registered).isEmpty, "described but not served: \(described.subtracting(registered).sorted())")

            // What the server hands out is the file in the repository.
            let (status, body) = try await live.withClient(token: nil) { api in try await api.send(.GET, "/api/v1/openapi.yaml") }
            #expect(status == 200)
            #expect(String(decoding: body, as: UTF8.self) == (try String(contentsOfFile: Self.documentPath, encoding: .utf8)))
        }
    }

    @Test func aServedPathWithAnotherMethodIs405WithAllow() async throws {
        try await withLiveServer { server in
            let browser = try FormBrowser(baseURL: server.baseURL, certificatePath: server.certificatePath)
            for (method, path, allow) in [("PUT", "/api/v1/apps", "GET, HEAD"), ("GET", "/hooks/github", "POST"), ("TRACE", "/healthz", "GET, HEAD"),
                                          ("DELETE", "/api/v1/jobs/12", "GET, HEAD"), ("GET", "/api/v1/jobs/12/cancel", "POST")] {
                let answer = try await browser.send(.init(rawValue: method), path, headers: [], body: nil)
                #expect(answer.status == 405, "\(method) \(path)")
                #expect(answer.header("Allow") == allow, "\(method) \(path)")
                #expect(answer.body.contains("answers \(allow), not \(method)"), "\(answer.body)")
            }
            #expect(try await browser.send(.GET, "/nowhere", headers: [], body: nil).status == 404)
            #expect(try await browser.send(.HEAD, "/healthz", headers: [], body: nil).status == 200)
            try await browser.shutdown()
        }
    }

    @Test func everyOperationSaysWhatItAnswersAndEveryReferenceResolves() throws {
        let document = try Self.document()
        let paths = try #require(document["paths"] as? [String: Any])
        var operationIDs = Set<String>()
        for (path, item) in paths {
            for (method, value) in (item as? [String: Any]) ?? [:] where method != "parameters" {
                let operation = try #require(value as? [String: Any], "\(method) \(path)")
                #expect((operation["responses"] as? [String: Any])?.isEmpty == false, "\(method) \(path) has no responses")
                if let id = operation["operationId"] as? String {
                    #expect(!operationIDs.contains(id) || ["get", "put", "patch", "delete", "head"].contains(method), "operationId \(id) twice")
                    operationIDs.insert(id)
                }
            }
        }
        // Every $ref points at something in the document.
        func references(_ node: Any) -> [String] {
            if let map = node as? [String: Any] {
                return (map["$ref"] as? String).map { [$0] } ?? [] + map.values.flatMap(references)
            }
            if let list = node as? [Any] { return list.flatMap(references) }
            return []
        }
        for reference in Set(references(document)) {
            #expect(reference.hasPrefix("#/"), "\(reference)")
            var node: Any? = document
            for part in reference.dropFirst(2).split(separator: "/") { node = (node as? [String: Any])?[String(part)] }
            #expect(node != nil, "\(reference) does not resolve")
        }
    }
}
