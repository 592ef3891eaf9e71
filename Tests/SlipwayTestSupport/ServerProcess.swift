public import Foundation

/// The built `slipway` executable run as its own process, as an operator would run it.
public final class ServerProcess: @unchecked Sendable {
    // @unchecked: `process` is only touched from the test that owns this value.
    public let process: Process
    public let port: Int
    public let configPath: String
    private let exit: ProcessExit

    /// The `slipway` binary next to the test bundle (same build directory).
    public static var binary: URL {
        Bundle.module.bundleURL.deletingLastPathComponent().appendingPathComponent("slipway")
    }

    /// Starts `slipway serve --config configPath` (in `directory`, where relative paths of
    /// the configuration start) and waits until it reports its port.
    public static func start(configPath: String, environment: [String: String] = [:], directory: String? = nil,
                             binary: URL = ServerProcess.binary) async throws -> ServerProcess {
        let process = Process()
        process.executableURL = binary
        process.arguments = ["serve", "--config", configPath]
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        let (lines, continuation) = AsyncStream.makeStream(of: String.self)
        output.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty {
                continuation.finish()
                handle.readabilityHandler = nil
            } else {
                continuation.yield(String(decoding: data, as: UTF8.self))
            }
        }
        // The exit is awaited, not waited for: a test blocking one of Swift's few cooperative
        // threads until a server shuts down can starve everything else the test process runs.
        let exit = ProcessExit()
        process.terminationHandler = { ended in
            let status = ended.terminationStatus
            Task { await exit.ended(status) }
        }
        try process.run()
        var seen = ""
        for await text in lines {
            seen += text
            if let range = seen.range(of: #"port=(\d+)"#, options: .regularExpression), seen.contains("slipway listening") {
                let port = Int(seen[range].dropFirst(5))!
                // Keep draining so the child never blocks on a full pipe.
                Task { for await _ in lines {} }
                return ServerProcess(process: process, port: port, configPath: configPath, exit: exit)
            }
        }
        throw ServerProcessError.exited(output: seen)
    }

    private init(process: Process, port: Int, configPath: String, exit: ProcessExit) {
        self.process = process
        self.port = port
        self.configPath = configPath
        self.exit = exit
    }

    /// SIGKILL: no chance to flush or clean up. Returns once the process is gone.
    public func kill() async {
        if await exit.status == nil { Foundation.kill(process.processIdentifier, SIGKILL) }
        _ = await exit.wait()
    }

    /// SIGTERM, then the exit status.
    public func terminate() async -> Int32 {
        if await exit.status == nil { Foundation.kill(process.processIdentifier, SIGTERM) }
        return await exit.wait()
    }

    /// SIGTERM without waiting, for a `defer` when a test ends early (the process exits on its
    /// own; its exit is still reaped). Does nothing once the process has exited.
    public func stop() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGTERM) }
    }
}

/// A child process's exit status, once it has exited, for any number of waiters.
private actor ProcessExit {
    private(set) var status: Int32?
    private var waiters: [CheckedContinuation<Int32, Never>] = []

    func ended(_ status: Int32) {
        self.status = status
        for waiter in waiters { waiter.resume(returning: status) }
        waiters = []
    }

    func wait() async -> Int32 {
        if let status { return status }
        return await withCheckedContinuation { waiters.append($0) }
    }
}

public enum ServerProcessError: Error, CustomStringConvertible {
    case exited(output: String)

    public var description: String {
        switch self {
        case .exited(let output): "slipway serve exited before listening:\n\(output)"
        }
    }
}

/// Runs the `slipway` CLI and returns its exit status and output. The waiting happens on a
/// thread of its own: the CLI may talk to servers in this very process.
public func runSlipway(_ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, output: String) {
    try await onOwnThread { try runChildProcess(ServerProcess.binary, arguments, environment: environment) }
}
