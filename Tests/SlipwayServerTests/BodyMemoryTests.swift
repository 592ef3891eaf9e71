import Foundation
import SlipwayConfig
import SlipwayTestSupport
import Testing

/// `limits.body_memory`: large webhook bodies being read together are bounded; one that
/// would exceed the budget waits and, after `store_busy_timeout`, gets 503 with Retry-After;
/// small bodies are never held up; the budget comes back when a body is done with.
@Suite struct BodyMemoryTests {
    static func post(_ server: LiveServer, bodySize: Int) async throws -> String {
        let head = "POST /hooks/github HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nX-GitHub-Event: push\r\n"
            + "X-GitHub-Delivery: \(UUID().uuidString)\r\nContent-Length: \(bodySize)\r\nConnection: close\r\n\r\n"
        var request = Data(head.utf8)
        request.append(Data(repeating: UInt8(ascii: " "), count: bodySize))
        return try await RawHTTP.exchange(port: server.port, certificatePath: server.certificatePath, parts: [request],
                                          wait: .seconds(20), stopReading: { $0.contains("\r\n\r\n") }).response
    }

    @Test func largeBodiesShareABudgetAndSmallOnesPassFreely() async throws {
        try await withLiveServer(configure: {
            $0.maxBodyBytes = 1 << 20
            $0.bodyMemory = 1 << 20
            $0.storeBusyTimeout = .seconds(1)
            // The slow sender is idle while the test asks; a loaded machine may take a while.
            $0.idleTimeout = .seconds(120)
        }) { server in
            // A slow sender announces the largest body, so it holds the whole budget until the
            // test lets its last bytes go.
            let size = 1 << 20
            let head = "POST /hooks/github HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nX-GitHub-Event: push\r\n"
                + "X-GitHub-Delivery: slow\r\nContent-Length: \(size)\r\nConnection: close\r\n\r\n"
            var first = Data(head.utf8)
            first.append(Data(repeating: UInt8(ascii: " "), count: 1000))
            let rest = Data(repeating: UInt8(ascii: " "), count: size - 1000)
            let (release, releaser) = AsyncStream<Void>.makeStream()
            let slow = Task {
                try await RawHTTP.exchange(port: server.port, certificatePath: server.certificatePath, parts: [first, rest],
                                           between: { for await _ in release { break } },
                                           wait: .seconds(60), stopReading: { $0.contains("\r\n\r\n") }).response
            }
            // On a loaded machine the slow sender's handshake can take a while: a large body sent
            // before the budget is held is simply answered (401), so ask until one has to wait.
            var waiting = ""
            let deadline = ContinuousClock.now + .seconds(20)
            repeat {
                try await Task.sleep(for: .milliseconds(200))
                waiting = try await Self.post(server, bodySize: 200_000)
            } while waiting.hasPrefix("HTTP/1.1 401") && ContinuousClock.now < deadline
            #expect(waiting.hasPrefix("HTTP/1.1 503"), "\(waiting.prefix(300))")
            #expect(waiting.lowercased().contains("retry-after: 5"))

            let small = try await Self.post(server, bodySize: 10_000)
            #expect(small.hasPrefix("HTTP/1.1 401"), "a small body is not held up: \(small.prefix(300))")

            releaser.yield()
            releaser.finish()
            let slowAnswer = try await slow.value
            #expect(slowAnswer.hasPrefix("HTTP/1.1 401"), "\(slowAnswer.prefix(300))")

            let after = try await Self.post(server, bodySize: 200_000)
            #expect(after.hasPrefix("HTTP/1.1 401"), "the budget came back: \(after.prefix(300))")
        }
    }

    @Test func theBudgetIsConfiguredAndNeverBelowTheBodyLimit() throws {
        let config = try ServerConfig.parse("limits: {max_body_bytes: 1MiB, body_memory: 8MiB}\n", file: "slipway.yaml", environment: [:])
        #expect(config.bodyMemory == 8 << 20)
        let raised = try ServerConfig.parse("limits: {max_body_bytes: 64MiB}\n", file: "slipway.yaml", environment: [:])
        #expect(raised.bodyMemory == 64 << 20)
        #expect(throws: ConfigError.self) {
            try ServerConfig.parse("limits: {max_body_bytes: 8MiB, body_memory: 4MiB}\n", file: "slipway.yaml", environment: [:])
        }
    }
}
