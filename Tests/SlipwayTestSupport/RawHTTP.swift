public import Foundation
public import NIOSSL
import NIOCore
import NIOPosix


/// Byte-level HTTPS for the cases a polite client cannot produce: bodies streamed without a
/// declared length, and clients that stop half-way through a request.
public enum RawHTTP {
    public struct Outcome: Sendable {
        /// Everything the server sent.
        public var response: String
        /// Whether the server closed the connection before `wait` ran out.
        public var closedByServer: Bool
        public var elapsed: Duration
    }

    /// Opens a TLS connection to the server, sends `parts` one after another (pausing
    /// `pause` and awaiting `between` after each), then reads until the server closes or `wait`
    /// passes.
    public static func exchange(port: Int, certificatePath: String, parts: [Data], pause: Duration = .zero,
                                between: @escaping @Sendable () async -> Void = {}, wait: Duration,
                                stopReading: @escaping @Sendable (String) -> Bool = { _ in false }) async throws -> Outcome {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(certificatePath)
        let context = try NIOSSLContext(configuration: tls)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: "localhost"))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let start = ContinuousClock.now
        return try await channel.executeThenClose { inbound, outbound in
            try await withThrowingTaskGroup(of: Outcome?.self) { group in
                group.addTask {
                    for part in parts {
                        // The server may answer and close before everything is sent.
                        do { try await outbound.write(ByteBuffer(bytes: part)) } catch { return nil }
                        if pause > .zero { try await Task.sleep(for: pause) }
                        await between()
                    }
                    return nil
                }
                group.addTask {
                    var text = ""
                    do {
                        for try await buffer in inbound {
                            text += String(buffer: buffer)
                            if stopReading(text) { break }
                        }
                    } catch {
                        // A TLS close without close_notify still means the server hung up.
                    }
                    return Outcome(response: text, closedByServer: !stopReading(text), elapsed: ContinuousClock.now - start)
                }
                group.addTask {
                    try await Task.sleep(for: wait)
                    return Outcome(response: "", closedByServer: false, elapsed: ContinuousClock.now - start)
                }
                var result: Outcome?
                while let next = try await group.next() {
                    if let next {
                        result = next
                        break
                    }
                }
                group.cancelAll()
                return result!
            }
        }
    }
}

extension RawHTTP {
    /// POSTs `count` chunks of `chunk` with chunked transfer encoding (no Content-Length)
    /// and returns what the server answered.
    public static func postChunked(_ port: Int, certificatePath: String, path: String, chunk: Data, count: Int) async throws -> String {
        var parts = [Data("POST \(path) HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)]
        for _ in 0..<count {
            var part = Data((String(chunk.count, radix: 16) + "\r\n").utf8)
            part.append(chunk)
            part.append(contentsOf: "\r\n".utf8)
            parts.append(part)
        }
        parts.append(Data("0\r\n\r\n".utf8))
        return try await exchange(port: port, certificatePath: certificatePath, parts: parts, wait: .seconds(10),
                                  stopReading: { $0.contains("\r\n\r\n") }).response
    }
}

extension RawHTTP {
    /// Whether a TLS handshake with at most `maximumVersion` succeeds against the server.
    public static func handshakeSucceeds(port: Int, certificatePath: String, maximumVersion: TLSVersion) async -> Bool {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(certificatePath)
        tls.minimumTLSVersion = .tlsv1
        tls.maximumTLSVersion = maximumVersion
        do {
            let context = try NIOSSLContext(configuration: tls)
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let handler = try NIOSSLClientHandler(context: context, serverHostname: "localhost")
                        try channel.pipeline.syncOperations.addHandler(handler)
                        return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
            return try await channel.executeThenClose { inbound, outbound in
                try await outbound.write(ByteBuffer(string: "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"))
                var text = ""
                for try await buffer in inbound { text += String(buffer: buffer) }
                return text.hasPrefix("HTTP/1.1 200")
            }
        } catch {
            return false
        }
    }
}
