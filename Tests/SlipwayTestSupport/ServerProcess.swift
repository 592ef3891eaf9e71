public import Foundation

/// The built `slipway` executable run as its own process, as an operator would run it.
public final class ServerProcess: @unchecked Sendable {
    // @unchecked: `process` is only touched from the test that owns this value.
    public let process: Process
    public let port: Int
    public let configPath: String

    /// The `slipway` binary next to the test bundle (same build directory).
    public static var binary: URL {
        Bundle.module.bundleURL.deletingLastPathComponent().appendingPathComponent("slipway")
    }

    /// Starts `slipway serve --config configPath` and waits until it reports its port.
    public static func start(configPath: String, environment: [String: String] = [:]) async throws -> ServerProcess {
        let process = Process()
        process.executableURL = binary
        process.arguments = ["serve", "--config", configPath]
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
        try process.run()
        var seen = ""
        for await text in lines {
            seen += text
            if let range = seen.range(of: #"port=(\d+)"#, options: .regularExpression), seen.contains("slipway listening") {
                let port = Int(seen[range].dropFirst(5))!
                // Keep draining so the child never blocks on a full pipe.
                Task { for await _ in lines {} }
                return ServerProcess(process: process, port: port, configPath: configPath)
            }
        }
        throw ServerProcessError.exited(output: seen)
    }

    private init(process: Process, port: Int, configPath: String) {
        self.process = process
        self.port = port
        self.configPath = configPath
    }

    /// SIGKILL: no chance to flush or clean up.
    public func kill() {
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGTERM, then wait for the exit status.
    public func terminate() -> Int32 {
        process.terminate()
        process.waitUntilExit()
        return process.terminationStatus
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
/// thread of its own: the CLI may talk to servers in this very process, which need Swift's
/// few cooperative threads free.
public func runSlipway(_ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, output: String) {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            continuation.resume(with: Result { try runSlipwayBlocking(arguments, environment: environment) })
        }
    }
}

private func runSlipwayBlocking(_ arguments: [String], environment: [String: String]) throws -> (status: Int32, output: String) {
    try runChildProcess(ServerProcess.binary, arguments, environment: environment)
}
