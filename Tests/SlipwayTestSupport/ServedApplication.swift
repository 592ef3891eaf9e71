public import Hummingbird
public import Logging
import ServiceLifecycle

/// A Hummingbird application run for a test in its own service group, on a port the OS
/// picked: the shared start and stop of every test server.
public struct ServedApplication: Sendable {
    public let port: Int
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    /// Starts the application `make` builds (it must report its port through the closure it
    /// is given, from `onServerRunning`) and waits until it listens.
    public static func start<App: ApplicationProtocol>(
        logger: Logger, _ make: (@escaping @Sendable (Int) -> Void) throws -> App
    ) async throws -> ServedApplication {
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let application = try make { continuation.yield($0) }
        let group = ServiceGroup(configuration: .init(services: [application], logger: logger))
        let task = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw LiveServerError.didNotStart }
        return ServedApplication(port: port, group: group, task: task)
    }

    /// Graceful shutdown, waited for.
    public func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }
}
