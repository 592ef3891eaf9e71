public import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// A plain-HTTP server on loopback that records every request and answers with a chosen
/// status: the far end of a notifier hook, or the URL a smoke test checks.
public final class RecordingHTTPServer: Sendable {
    public struct Recorded: Sendable {
        public var method: String
        public var path: String
        public var body: String
    }

    private actor Log {
        var requests: [Recorded] = []
        var status: Int
        init(status: Int) { self.status = status }
        func add(_ request: Recorded) -> Int {
            requests.append(request)
            return status
        }
        func set(_ status: Int) { self.status = status }
    }

    private let served: ServedApplication
    private let log: Log

    public var port: Int { served.port }

    public var url: String { "http://127.0.0.1:\(port)" }

    public static func start(status: Int = 200) async throws -> RecordingHTTPServer {
        let log = Log(status: status)
        let router = Router()
        router.on("**", method: .get) { request, _ in try await Self.answer(request, log) }
        router.on("**", method: .post) { request, _ in try await Self.answer(request, log) }
        var logger = Logger(label: "recording-http")
        logger.logLevel = .error
        let served = try await ServedApplication.start(logger: logger) { listening in
            Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                        onServerRunning: { listening($0.localAddress?.port ?? 0) }, logger: logger)
        }
        return RecordingHTTPServer(served: served, log: log)
    }

    private static func answer(_ request: Request, _ log: Log) async throws -> Response {
        let body = try await request.body.collect(upTo: 1 << 20)
        let status = await log.add(Recorded(method: request.method.rawValue, path: request.uri.path, body: String(buffer: body)))
        return Response(status: .init(code: status))
    }

    private init(served: ServedApplication, log: Log) {
        self.served = served
        self.log = log
    }

    public func requests() async -> [Recorded] { await log.requests }
    public func answer(with status: Int) async { await log.set(status) }

    public func stop() async {
        await served.stop()
    }
}
