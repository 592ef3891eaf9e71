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

    public let port: Int
    private let log: Log
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    public var url: String { "http://127.0.0.1:\(port)" }

    public static func start(status: Int = 200) async throws -> RecordingHTTPServer {
        let log = Log(status: status)
        let router = Router()
        router.on("**", method: .get) { request, _ in try await Self.answer(request, log) }
        router.on("**", method: .post) { request, _ in try await Self.answer(request, log) }
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        var logger = Logger(label: "recording-http")
        logger.logLevel = .error
        let application = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                                      onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [application], logger: logger))
        let task = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        let port = await iterator.next() ?? 0
        return RecordingHTTPServer(port: port, log: log, group: group, task: task)
    }

    private static func answer(_ request: Request, _ log: Log) async throws -> Response {
        let body = try await request.body.collect(upTo: 1 << 20)
        let status = await log.add(Recorded(method: request.method.rawValue, path: request.uri.path, body: String(buffer: body)))
        return Response(status: .init(code: status))
    }

    private init(port: Int, log: Log, group: ServiceGroup, task: Task<Void, any Error>) {
        self.port = port
        self.log = log
        self.group = group
        self.task = task
    }

    public func requests() async -> [Recorded] { await log.requests }
    public func answer(with status: Int) async { await log.set(status) }

    public func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }
}
