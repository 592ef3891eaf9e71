import Foundation
import SlipwayClient
import SlipwayCore
import SlipwayStore
import SlipwayTestSupport
import Testing

@Suite struct JobAPITests {
    static func push(_ n: Int, app: String = "github") -> PushEvent {
        PushEvent(forge: .github, deliveryID: "d\(n)", repository: "acme/shop", ref: "refs/heads/main",
                  before: String(repeating: "0", count: 40), after: String(format: "%040d", n))
    }

    @Test func tokensAndRolesAreEnforced() async throws {
        try await withLiveServer { server in
            let job = try await server.store.enqueue(push: Self.push(1), app: "github").job
            for (token, path, method, expected) in [
                (nil as String?, "/api/v1/jobs", "GET", 401),
                ("wrong", "/api/v1/jobs", "GET", 401),
                (LiveServer.readToken, "/api/v1/jobs", "GET", 200),
                (LiveServer.readToken, "/api/v1/jobs/\(job.id)", "GET", 200),
                (LiveServer.readToken, "/api/v1/jobs/\(job.id)/cancel", "POST", 403),
                (LiveServer.adminToken, "/api/v1/jobs/999", "GET", 404),
                (LiveServer.adminToken, "/api/v1/jobs/abc", "GET", 400),
                (LiveServer.adminToken, "/api/v1/jobs?status=bogus", "GET", 400),
                (LiveServer.adminToken, "/api/v1/jobs?limit=0", "GET", 400),
                (nil, "/healthz", "GET", 200),
                (nil, "/readyz", "GET", 200),
            ] {
                let status = try await server.withClient(token: token) { client in
                    try await client.send(method == "GET" ? .GET : .POST, path).status
                }
                #expect(status == expected, "\(method) \(path) with \(token ?? "no token")")
            }
        }
    }

    @Test func listFiltersAndPages() async throws {
        try await withLiveServer { server in
            for n in 1...7 { _ = try await server.store.enqueue(push: Self.push(n), app: n % 2 == 0 ? "gitlab" : "github") }
            try await server.withClient(token: LiveServer.readToken) { client in
                let all = try await client.jobs(limit: 50)
                #expect(all.map(\.id) == [7, 6, 5, 4, 3, 2, 1])
                #expect(try await client.jobs(app: "gitlab").map(\.id) == [6, 4, 2])
                // Each push superseded the queued one of its app: the newest of each is queued.
                #expect(try await client.jobs(status: .queued, limit: 3).map(\.id) == [7, 6])
                #expect(try await client.jobs(status: .superseded, limit: 3).map(\.id) == [5, 4, 3])
                let (status, body) = try await client.send(.GET, "/api/v1/jobs?limit=3&before=5")
                #expect(status == 200)
                let text = String(decoding: body, as: UTF8.self)
                #expect(text.contains("\"next_before\":2"), "\(text)")
                let job = try await client.job(3)
                #expect(job.app == "github")
                #expect(job.deliveryID == "d3")
                #expect(job.trigger == .push)
                #expect(job.ref == "refs/heads/main")
            }
        }
    }

    @Test func cancelEndsAQueuedJobAndRefusesAFinishedOne() async throws {
        try await withLiveServer { server in
            let job = try await server.store.enqueue(push: Self.push(1), app: "github").job
            try await server.withClient { client in
                let cancelled = try await client.cancel(job.id)
                #expect(cancelled.status == .cancelled)
                #expect(cancelled.reason == "cancelled by test-admin before it started")
                await #expect(throws: ClientError.self) { try await client.cancel(job.id) }
                let (status, _) = try await client.send(.POST, "/api/v1/jobs/\(job.id)/cancel")
                #expect(status == 409)
            }
        }
    }

    @Test func logIsServedAndFollowedUntilTheJobEnds() async throws {
        try await withLiveServer { server in
            let job = try await server.store.enqueue(push: Self.push(1), app: "github").job
            #expect(try await server.store.start(job.id))
            try await server.store.appendLog(jobID: job.id, text: "first line\n")
            try await server.withClient(token: LiveServer.readToken) { client in
                let (status, body) = try await client.send(.GET, "/api/v1/jobs/\(job.id)/log")
                #expect(status == 200)
                #expect(String(decoding: body, as: UTF8.self) == "first line\n")

                // Follow: lines written later arrive on the open response; cancelling the job ends it.
                let (lines, continuation) = AsyncStream.makeStream(of: String.self)
                let follower = Task {
                    var text = ""
                    try await client.stream("/api/v1/jobs/\(job.id)/log?follow=1") { data in
                        text += String(decoding: data, as: UTF8.self)
                        continuation.yield(text)
                    }
                    continuation.finish()
                    return text
                }
                var seen = lines.makeAsyncIterator()
                #expect(await seen.next() == "first line\n")
                try await server.store.appendLog(jobID: job.id, text: "second line\n")
                #expect(await seen.next() == "first line\nsecond line\n")
                // Lines written just before the job ends still reach the follower.
                try await server.store.appendLog(jobID: job.id, text: "last words\n")
                try await server.store.finish(job.id, status: .cancelled, reason: "cancelled by test")
                let text = try await follower.value
                #expect(text == "first line\nsecond line\nlast words\n")
            }
        }
    }

    @Test func stalledClientsAreCutOff() async throws {
        try await withLiveServer(configure: { $0.idleTimeout = .seconds(1) }) { server in
            // Headers sent, body promised, then nothing.
            let partial = Data("POST /hooks/github HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"ref\":".utf8)
            let stalled = try await RawHTTP.exchange(port: server.port, certificatePath: server.certificatePath, parts: [partial], wait: .seconds(10))
            #expect(stalled.closedByServer)
            // Half a request line, then nothing.
            let half = try await RawHTTP.exchange(port: server.port, certificatePath: server.certificatePath,
                                                  parts: [Data("POST /hooks/gi".utf8)], wait: .seconds(10))
            #expect(half.closedByServer)
            #expect(try await server.store.jobs(JobQuery()).isEmpty)
        }
    }
}

@Suite struct ListenerTests {
    @Test func tlsBelow12IsRefused() async throws {
        try await withLiveServer { server in
            #expect(await RawHTTP.handshakeSucceeds(port: server.port, certificatePath: server.certificatePath, maximumVersion: .tlsv12))
            #expect(await RawHTTP.handshakeSucceeds(port: server.port, certificatePath: server.certificatePath, maximumVersion: .tlsv13))
            #expect(!(await RawHTTP.handshakeSucceeds(port: server.port, certificatePath: server.certificatePath, maximumVersion: .tlsv11)))
        }
    }

    @Test func plainHTTPOnlyWhenTheConfigAsksForIt() async throws {
        try await withLiveServer(configure: { $0.tls = .disabled }) { server in
            let client = try APIClient(baseURL: "http://127.0.0.1:\(server.port)", token: LiveServer.readToken, caFile: nil)
            let (status, _) = try await client.send(.GET, "/api/v1/jobs")
            try await client.shutdown()
            #expect(status == 200)
            #expect(!FileManager.default.fileExists(atPath: server.certificatePath))
        }
    }
}
