import Foundation
import SlipwayConfig
import SlipwayTestSupport
import Testing

/// A request head is bounded over TLS: too many or too large header lines get 431, a too long
/// target 414, and the connection is closed; an ordinary request still gets its answer.
@Suite struct RequestHeadLimitTests {
    static func send(_ server: LiveServer, head: String) async throws -> String {
        try await RawHTTP.exchange(port: server.port, certificatePath: server.certificatePath, parts: [Data(head.utf8)],
                                   wait: .seconds(10)).response
    }

    @Test func oversizedHeadsAreRefusedWithTheirOwnStatus() async throws {
        try await withLiveServer { server in
            let manyHeaders = (0..<3_000).map { "X-Header-\($0): v\r\n" }.joined()
            let many = try await Self.send(server, head: "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\(manyHeaders)\r\n")
            #expect(many.hasPrefix("HTTP/1.1 431"), "\(many.prefix(200))")

            let slightlyMany = (0..<150).map { "X-Header-\($0): v\r\n" }.joined()
            let over = try await Self.send(server, head: "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\(slightlyMany)\r\n")
            #expect(over.hasPrefix("HTTP/1.1 431"), "\(over.prefix(200))")
            #expect(over.contains("more than 100 header lines"))

            let huge = try await Self.send(server, head: "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: \(String(repeating: "a", count: 200_000))\r\n\r\n")
            #expect(huge.hasPrefix("HTTP/1.1 431"), "\(huge.prefix(200))")

            let large = try await Self.send(server, head: "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: \(String(repeating: "a", count: 40_000))\r\n\r\n")
            #expect(large.hasPrefix("HTTP/1.1 431"), "\(large.prefix(200))")

            let long = try await Self.send(server, head: "GET /healthz?\(String(repeating: "q", count: 20_000)) HTTP/1.1\r\nHost: localhost\r\n\r\n")
            #expect(long.hasPrefix("HTTP/1.1 414"), "\(long.prefix(200))")

            let fine = try await Self.send(server, head: "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            #expect(fine.hasPrefix("HTTP/1.1 200"), "\(fine.prefix(200))")
        }
    }

    @Test func theLimitsAreConfigured() throws {
        let config = try ServerConfig.parse("limits: {max_header_bytes: 16KiB, max_header_count: 50, max_request_target: 4096}\n",
                                            file: "slipway.yaml", environment: [:])
        #expect(config.maxHeaderBytes == 16 * 1024)
        #expect(config.maxHeaderCount == 50)
        #expect(config.maxRequestTarget == 4096)
    }
}
