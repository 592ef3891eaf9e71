import Foundation
import Synchronization

/// A container's command run as a local process (the test server's kubelet in process
/// mode: the image is not run, its command is): in a process group of its own, so stopping
/// the container stops everything it started, with its output kept line by line with the time.
final class ContainerProcess: Sendable {
    private struct Output {
        var lines: [(time: Date, line: String)] = []
        var partial = Data()
        var exitCode: Int32?
        var exitedAt: Date?
        var endOfOutput = false
    }

    private final class Box: Sendable {
        let state = Mutex(Output())
    }

    private let output = Box()
    let pid: Int32

    /// Starts `command` (its first word an absolute path or a name on PATH) in `directory`.
    /// - Parameter ended: told when the process has ended and its output is read.
    init(command: [String], environment: [String: String], directory: String, ended: @escaping @Sendable () -> Void) throws {
        let process = Process()
        // Foundation starts the child as the leader of a process group of its own: a signal
        // to the group reaches everything the container started.
        var variables = environment
        variables["PATH"] = variables["PATH"] ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        guard let first = command.first else { throw CocoaError(.fileNoSuchFile) }
        let executable = first.contains("/") ? first : (variables["PATH"] ?? "").split(separator: ":").map { "\($0)/\(first)" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let executable else { throw CocoaError(.fileNoSuchFile) }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = Array(command.dropFirst())
        process.environment = variables
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        let output = self.output
        let reader = pipe.fileHandleForReading
        // A thread of its own reads the output to its end: Foundation's readabilityHandler on
        // Linux stops calling back after the first 16 KiB now and then, and lines were lost.
        Thread.detachNewThread {
            while true {
                let data = reader.availableData
                let finished = output.state.withLock { state -> Bool in
                    guard !data.isEmpty else {
                        state.endOfOutput = true
                        if !state.partial.isEmpty { state.lines.append((Date(), String(decoding: state.partial, as: UTF8.self))) }
                        state.partial = Data()
                        return state.exitCode != nil
                    }
                    state.partial.append(data)
                    while let newline = state.partial.firstIndex(of: UInt8(ascii: "\n")) {
                        state.lines.append((Date(), String(decoding: state.partial[state.partial.startIndex..<newline], as: UTF8.self)))
                        state.partial = Data(state.partial[(newline + 1)...])
                    }
                    return false
                }
                if data.isEmpty {
                    if finished { ended() }
                    return
                }
            }
        }
        process.terminationHandler = { exited in
            let code = exited.terminationReason == .uncaughtSignal ? 128 + exited.terminationStatus : exited.terminationStatus
            let finished = output.state.withLock { state -> Bool in
                state.exitCode = code
                state.exitedAt = Date()
                return state.endOfOutput
            }
            if finished { ended() }
        }
        try process.run()
        pid = process.processIdentifier
    }

    /// The lines written since the last call, and the exit code once the process has ended
    /// and its output is read (or half a second after it ended, when something it started
    /// still holds the output open).
    func collect() -> (lines: [(time: Date, line: String)], exitCode: Int32?) {
        output.state.withLock { state in
            let lines = state.lines
            state.lines = []
            guard let code = state.exitCode, let at = state.exitedAt else { return (lines, nil) }
            return (lines, state.endOfOutput || Date().timeIntervalSince(at) > 0.5 ? code : nil)
        }
    }

    /// A signal to every process of the container.
    func signal(_ signal: Int32) {
        kill(-pid, signal)
    }
}
