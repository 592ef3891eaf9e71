import AsyncHTTPClient
import Foundation
import KubeTestServer
import NIOCore
import NIOFoundationCompat
import NIOSSL
import SlipwayCore
import SlipwayTestSupport
import Testing

/// Replays the third recording (Fixtures/kube/workloads: deletes with a body, watches with
/// bookmarks, ReplicaSets and Pods, the rollback sequence, impersonation, Jobs, Pods through
/// their lives, init containers, logs, garbage collection, dry runs, YAML complex keys, the
/// node) against the test server, request by request. Answers are compared as the other
/// replays do (status codes, Status reasons, messages and details, object shapes); a
/// recorded sequence of states is compared as states a client polling the test server sees
/// in the same order (`series-*.tsv`, summarised the way the recording summarised them).
/// Times are not compared: the test server plays scripts at a tenth of their time. Watches
/// are read until what the recording shows has come, never cut by a timeout, and the
/// sections run one after another (each plays a cluster's controllers), so a loaded machine
/// slows them down without failing them.
///
/// Not replayed: the pod that runs out of memory (129–133; the test server runs no programs,
/// so nothing uses memory), and the counts the Deployment controller writes between the
/// passes that matter (only the states the recording names as what a client must learn are
/// compared: the stale condition of the rollback, and where each sequence ends).
@Suite(.serialized) struct WorkloadRecordingTests {
    static var directory: URL { KubeTestServer.fixtures.appendingPathComponent("workloads") }

    typealias Line = RecordedLine

    /// The recorded requests by their number (`"093"`).
    static let lines: [String: Line] = {
        let rows = (try? RecordedLine.index(directory)) ?? []
        return Dictionary(rows.map { (String($0.stem.prefix(3)), $0) }, uniquingKeysWith: { first, _ in first })
    }()

    static func recorded(_ number: String) -> JSONValue? {
        guard let line = lines[number],
              let data = try? Data(contentsOf: directory.appendingPathComponent("\(line.stem).json")) else { return nil }
        return try? JSONDecoder().decode(JSONValue.self, from: data)
    }

    static func recordedText(_ number: String, _ suffix: String) -> String? {
        guard let line = lines[number] else { return nil }
        return try? String(contentsOf: directory.appendingPathComponent("\(line.stem).\(suffix)"), encoding: .utf8)
    }

    /// The states of a `series-NAME.tsv`, in order.
    static func series(_ name: String) -> [String] {
        let text = (try? String(contentsOf: directory.appendingPathComponent("series-\(name).tsv"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").dropFirst().compactMap { row in
            let fields = row.split(separator: "\t", omittingEmptySubsequences: false)
            return fields.count >= 4 ? String(fields[3]) : nil
        }
    }

    // MARK: Talking to the server

    struct Session {
        let server: KubeTestServer
        let client: HTTPClient

        func send(_ method: String, _ path: String, body: Data? = nil, contentType: String? = nil, impersonate: String? = nil,
                  accept: String? = nil) async throws -> (status: Int, body: Data) {
            let response = try await client.execute(request(method, path, body: body, contentType: contentType, impersonate: impersonate, accept: accept),
                                                    timeout: .seconds(20))
            return (Int(response.status.code), Data(buffer: try await response.body.collect(upTo: 8 << 20)))
        }

        func request(_ method: String, _ path: String, body: Data? = nil, contentType: String? = nil, impersonate: String? = nil,
                     accept: String? = nil) -> HTTPClientRequest {
            var request = HTTPClientRequest(url: server.url + path)
            request.method = .init(rawValue: method)
            request.headers.add(name: "Authorization", value: "Bearer test-token")
            if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
            if let impersonate { request.headers.add(name: "Impersonate-User", value: impersonate) }
            if let accept { request.headers.add(name: "Accept", value: accept) }
            if let body { request.body = .bytes(ByteBuffer(data: body)) }
            return request
        }

        /// Sends the recorded request `number` (its body, content type and impersonation) to
        /// `path` (default: the recorded one) and checks the status; the answer as JSON.
        @discardableResult
        func replay(_ number: String, path: String? = nil, body: Data? = nil, sourceLocation: SourceLocation = #_sourceLocation) async throws -> JSONValue? {
            let line = try #require(WorkloadRecordingTests.lines[number], sourceLocation: sourceLocation)
            let recordedBody = try? Data(contentsOf: WorkloadRecordingTests.directory.appendingPathComponent("\(line.stem).request"))
            let (status, data) = try await send(line.method, path ?? line.path, body: body ?? recordedBody, contentType: line.contentType,
                                                impersonate: line.impersonate)
            #expect(status == line.status, "\(line.stem): \(String(decoding: data, as: UTF8.self))", sourceLocation: sourceLocation)
            return try? JSONDecoder().decode(JSONValue.self, from: data)
        }

        func get(_ path: String) async throws -> JSONValue? {
            let (status, data) = try await send("GET", path)
            return status == 200 ? try JSONDecoder().decode(JSONValue.self, from: data) : nil
        }

        /// Polls `path` for states that last (where a watch would see more than a client polls).
        func states(_ path: String, summary: (JSONValue?) -> String, until done: (String) -> Bool) async throws -> [String] {
            var seen: [String] = []
            let deadline = ContinuousClock.now.advanced(by: .seconds(20))
            while ContinuousClock.now < deadline {
                let (status, data) = try await send("GET", path)
                let state = summary(status == 200 ? try? JSONDecoder().decode(JSONValue.self, from: data) : nil)
                if seen.last != state { seen.append(state) }
                if done(state) { return seen }
                try await Task.sleep(for: .milliseconds(10))
            }
            return seen
        }

        /// The states of object `name` in `collection` as a watch delivers them (every write,
        /// none missed however loaded the machine), from before `during` runs until `done`.
        func watchStates(_ collection: String, name: String, summary: @escaping @Sendable (JSONValue?) -> String,
                         until done: @escaping @Sendable (String) -> Bool, during: @escaping @Sendable () async throws -> Void) async throws -> [String] {
            let version = try await get(collection)?[path: ["metadata", "resourceVersion"]]?.stringValue ?? "0"
            let path = collection + "?fieldSelector=metadata.name%3D\(name)&watch=1&resourceVersion=\(version)&timeoutSeconds=30"
            let response = try await client.execute(request("GET", path), timeout: .seconds(40))
            #expect(response.status.code == 200)
            // Where it stands when the watch starts, then every change.
            var seen: [String] = []
            if let current = try await get(collection + "/" + name) { seen.append(summary(current)) }
            let change = Task { try await during() }
            var pending = Data()
            reading: for try await chunk in response.body {
                pending.append(contentsOf: chunk.readableBytesView)
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = pending[pending.startIndex..<newline]
                    pending = Data(pending[pending.index(after: newline)...])
                    guard let event = try? JSONDecoder().decode(JSONValue.self, from: line), event["type"] != "BOOKMARK" else { continue }
                    let state = summary(event["type"] == "DELETED" ? nil : event["object"])
                    if seen.last != state { seen.append(state) }
                    if done(state) { break reading }
                }
            }
            try await change.value
            return seen
        }

        /// The events of a watch from before `during` runs until `enough` holds of them (or the
        /// server ends the stream): however slow the machine, nothing is cut off by a timeout.
        func events(_ path: String, impersonate: String? = nil, until enough: @escaping @Sendable ([JSONValue]) -> Bool,
                    during: @escaping @Sendable () async throws -> Void) async throws -> [JSONValue] {
            let response = try await client.execute(request("GET", path, impersonate: impersonate), timeout: .seconds(120))
            #expect(response.status.code == 200)
            let change = Task { try await during() }
            var events: [JSONValue] = []
            var pending = Data()
            reading: for try await chunk in response.body {
                pending.append(contentsOf: chunk.readableBytesView)
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    if let event = try? JSONDecoder().decode(JSONValue.self, from: pending[pending.startIndex..<newline]) { events.append(event) }
                    pending = Data(pending[pending.index(after: newline)...])
                    if enough(events) { break reading }
                }
            }
            try await change.value
            return events
        }

        /// Every line of a stream until it ends (a watch, a followed log), read while `during` runs.
        func stream(_ path: String, impersonate: String? = nil, during: @escaping @Sendable () async throws -> Void) async throws -> String {
            let response = try await client.execute(request("GET", path, impersonate: impersonate), timeout: .seconds(30))
            #expect(response.status.code == 200)
            let change = Task { try await during() }
            var text = Data()
            for try await chunk in response.body { text.append(contentsOf: chunk.readableBytesView) }
            try await change.value
            return String(decoding: text, as: UTF8.self)
        }

        func namespace(_ name: String) async throws {
            let (status, _) = try await send("PATCH", "/api/v1/namespaces/\(name)?fieldManager=slipway&force=true",
                                             body: Data(#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"\#(name)"}}"#.utf8),
                                             contentType: "application/apply-patch+yaml")
            #expect(status == 201)
        }
    }

    /// Whether `expected` appears in `seen` in order (each state of the recording was seen,
    /// others may come between).
    static func inOrder(_ expected: [String], in seen: [String]) -> Bool {
        var index = seen.startIndex
        for state in expected {
            guard let found = seen[index...].firstIndex(of: state) else { return false }
            index = found
        }
        return true
    }

    static func events(_ text: String) -> [JSONValue] {
        text.split(separator: "\n").compactMap { try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) }
    }

    // MARK: Summaries, as the recording wrote them

    static func text(_ value: JSONValue?) -> String {
        switch value {
        case .int(let number)?: String(number)
        case .string(let text)?: text
        default: "None"
        }
    }

    static func conditions(_ object: JSONValue, sorted: Bool = false) -> String {
        var list = (object[path: ["status", "conditions"]]?.arrayValue ?? []).map { condition in
            let reason = condition["reason"]?.stringValue.map { "/\($0)" } ?? ""
            return "\(text(condition["type"]))=\(text(condition["status"]))\(reason)"
        }
        if sorted { list.sort() }
        return list.joined(separator: ",")
    }

    static func podSummary(_ pod: JSONValue?) -> String {
        guard let pod else { return "gone" }
        let status = pod["status"] ?? [:]
        func container(_ entry: JSONValue) -> String {
            var flags: [String] = []
            var state = "?"
            if let waiting = entry[path: ["state", "waiting"]] {
                state = "waiting:\(text(waiting["reason"]))"
            } else if entry[path: ["state", "running"]] != nil {
                state = "running"
            } else if let terminated = entry[path: ["state", "terminated"]] {
                state = "terminated:\(text(terminated["reason"]))/exit=\(text(terminated["exitCode"]))"
            }
            if entry["ready"]?.boolValue == true { flags.append("ready") }
            if entry["started"]?.boolValue == true { flags.append("started") }
            return "\(text(entry["name"]))=" + ([state] + flags).joined(separator: ",")
        }
        var parts = ["phase=\(text(status["phase"]))"]
        if let reason = status["reason"] { parts.append("reason=\(text(reason))") }
        parts.append("node=\(text(pod[path: ["spec", "nodeName"]]))")
        parts.append("conds=" + conditions(pod))
        parts += (status["initContainerStatuses"]?.arrayValue ?? []).map { "init:" + container($0) }
        parts += (status["containerStatuses"]?.arrayValue ?? []).map { "ctr:" + container($0) }
        parts.append("podIP=\(text(status["podIP"]))")
        parts.append("hostIP=\(text(status["hostIP"]))")
        if pod[path: ["metadata", "deletionTimestamp"]] != nil { parts.append("deleting") }
        return parts.joined(separator: " ")
    }

    static func jobSummary(_ job: JSONValue?) -> String {
        guard let job else { return "gone" }
        let status = job["status"] ?? [:]
        let uncounted = status["uncountedTerminatedPods"] ?? [:]
        let counts = "succeeded:\(uncounted["succeeded"]?.arrayValue?.count ?? 0),failed:\(uncounted["failed"]?.arrayValue?.count ?? 0)"
        let finished = (status["conditions"]?.arrayValue ?? []).map { condition in
            "\(text(condition["type"]))=\(text(condition["status"]))" + (condition["reason"]?.stringValue.map { "/\($0)" } ?? "")
        }.joined(separator: ",")
        return "active=\(text(status["active"])) ready=\(text(status["ready"])) succeeded=\(text(status["succeeded"])) failed=\(text(status["failed"])) "
            + "uncounted=\(counts) startTime=\(status["startTime"] == nil ? "-" : "set") completionTime=\(status["completionTime"] == nil ? "-" : "set") \(finished)"
    }

    /// A Deployment's state; the conditions sorted (their order in the list is not kept alike).
    static func deploymentSummary(_ deployment: JSONValue?) -> String {
        guard let deployment else { return "gone" }
        let status = deployment["status"] ?? [:]
        return "gen=\(text(deployment[path: ["metadata", "generation"]])) observedGen=\(text(status["observedGeneration"])) "
            + "replicas=\(text(status["replicas"])) updated=\(text(status["updatedReplicas"])) ready=\(text(status["readyReplicas"])) "
            + "available=\(text(status["availableReplicas"])) unavailable=\(text(status["unavailableReplicas"])) "
            + "rev=\(text(deployment[path: ["metadata", "annotations", "deployment.kubernetes.io/revision"]])) " + conditions(deployment, sorted: true)
    }

    static func names(_ list: JSONValue?) -> [String] {
        (list?["items"]?.arrayValue ?? []).compactMap { $0[path: ["metadata", "name"]]?.stringValue }
    }

    static func expectStatus(_ actual: JSONValue?, like number: String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard let expected = recorded(number) else { Issue.record("no recording \(number)", sourceLocation: sourceLocation); return }
        for key in ["kind", "status", "reason", "code", "message"] {
            #expect(actual?[key] == expected[key], "\(number): \(key): \(String(describing: actual?[key])) vs \(String(describing: expected[key]))",
                    sourceLocation: sourceLocation)
        }
        var actualDetails = actual?["details"], expectedDetails = expected["details"]
        #expect((actualDetails?["uid"] != nil) == (expectedDetails?["uid"] != nil), "\(number): details.uid", sourceLocation: sourceLocation)
        actualDetails?["uid"] = nil
        expectedDetails?["uid"] = nil
        #expect(actualDetails == expectedDetails, "\(number): details", sourceLocation: sourceLocation)
    }

    static func withSession(_ body: (Session) async throws -> Void) async throws {
        let server = try await KubeTestServer.start(controllers: true)
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(server.certificatePath)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
        defer { client.shutdownEventually() }
        do {
            try await body(Session(server: server, client: client))
        } catch {
            try? await client.shutdown()
            await server.stop()
            throw error
        }
        try await client.shutdown()
        await server.stop()
    }
}
