import Foundation
import SlipwayCore
import Subprocess
import SystemPackage

/// How a step ended.
public enum StepOutcome: Sendable, Equatable {
    case succeeded
    case failed(exitCode: Int32)
    case killedBySignal(Int32)
    case timedOut
    case cancelled
    /// The step could not be started at all (missing script, bad workdir...).
    case notStarted(String)
    /// It failed after running into one of `runner.limits` (named).
    case limitReached(String, exitCode: Int32)

    public var isSuccess: Bool { self == .succeeded }
}

/// Runs one step as a child process in its own process group, streams its output into the
/// job log, and kills the whole group (grandchildren too) on timeout or cancel.
struct StepExecutor: Sendable {
    /// The server's hooks folder, for `hook:` steps.
    let hooksDirectory: String
    /// How often the watchdog checks for cancel and timeout.
    let pollInterval: Duration
    /// Where every step runs.
    let sandbox: Sandbox
    /// Between SIGTERM and SIGKILL when a step times out or is cancelled.
    var killGrace: Duration = .seconds(10)

    /// - Parameters:
    ///   - label: how the step is named in log lines (`build/compile`).
    ///   - isCancelled: asked every `pollInterval` while the step runs.
    ///   - started: told the step's process group as soon as it exists (so a later start of
    ///     the server can kill what a crash left behind).
    func run(_ step: StepSpec, label: String, workspace: String, environment: [String: String], secrets: [String], network: Bool = true,
             log: LogSink, isCancelled: @escaping @Sendable () async -> Bool,
             started: @escaping @Sendable (Int32) async -> Void = { _ in }) async -> StepOutcome {
        guard let stepGuard = sandbox.stepGuard else { return .notStarted(sandbox.guardMissing ?? "no step guard") }
        let directory: String
        switch Self.workingDirectory(step.workdir, in: workspace) {
        case .success(let path): directory = path
        case .failure(let why): return .notStarted(why.description)
        }
        let executable: String
        var arguments: [String]
        switch step.command {
        case .shell(let script):
            executable = "/bin/sh"
            arguments = ["-e", "-c", script]
        case .repositoryScript(let path):
            let file = (workspace as NSString).appendingPathComponent(path)
            guard FileManager.default.fileExists(atPath: file) else { return .notStarted("script \(path) is not in the repository") }
            (executable, arguments) = FileManager.default.isExecutableFile(atPath: file) ? (file, []) : ("/bin/sh", [file])
        case .serverHook(let name):
            let file = (hooksDirectory as NSString).appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: file) else { return .notStarted("hook \(name) is not in the server's hooks folder \(hooksDirectory)") }
            (executable, arguments) = FileManager.default.isExecutableFile(atPath: file) ? (file, []) : ("/bin/sh", [file])
        }

        var isHook = false
        if case .serverHook = step.command { isHook = true }
        let confined = sandbox.command(executable, arguments, workspace: workspace, directory: directory, network: network && step.network, hook: isHook)
        var options = PlatformOptions()
        // Its own process group, so a timeout or cancel can kill everything the step started.
        options.processGroupID = 0
        let deadline = ContinuousClock.now.advanced(by: step.timeout)
        let pollInterval = pollInterval
        let killGrace = killGrace
        do {
            let limits = LimitWatch(sandbox: sandbox)
            let result = try await Subprocess.run(
                .path(FilePath(confined.executable)), arguments: Arguments(confined.arguments),
                environment: Self.processEnvironment(environment),
                workingDirectory: FilePath(directory), platformOptions: options,
                input: stepGuard.input, output: .sequence, error: .sequence
            ) { execution -> StepOutcome? in
                await started(execution.processIdentifier.value)
                return try await withThrowingTaskGroup(of: StepOutcome?.self) { group in
                    group.addTask { try await Self.copyLines(execution.standardOutput, secrets: secrets, label: label, log: log, limits: limits); return nil }
                    group.addTask { try await Self.copyLines(execution.standardError, secrets: secrets, label: label, log: log, limits: limits); return nil }
                    // The watchdog: the only task that can decide the outcome early. It asks the
                    // group to stop (SIGTERM), and kills it if it is still there after the grace.
                    let watchdog = Task { () -> StepOutcome? in
                        var decided: StepOutcome?
                        while !Task.isCancelled && decided == nil {
                            try? await Task.sleep(for: pollInterval)
                            if Task.isCancelled { return nil }
                            if await isCancelled() {
                                decided = .cancelled
                            } else if ContinuousClock.now >= deadline {
                                decided = .timedOut
                            }
                        }
                        guard let decided else { return nil }
                        // To the guard, which passes it on inside the sandbox (see slipway-step-guard).
                        try? execution.send(signal: .terminate, toProcessGroup: false)
                        await log.line("slipway", "step \(label) \(decided == .cancelled ? "cancelled" : "timed out"): "
                                       + "SIGTERM sent to its processes; SIGKILL in \(killGrace) if they are still running")
                        do {
                            try await Task.sleep(for: killGrace)
                            try? execution.send(signal: .kill, toProcessGroup: true)
                            await log.line("slipway", "step \(label) still running \(killGrace) after SIGTERM: SIGKILL sent")
                        } catch {
                            // Output ended within the grace: the processes are gone.
                        }
                        return decided
                    }
                    // Output ends when every process holding the pipes is gone.
                    try await group.waitForAll()
                    watchdog.cancel()
                    return await watchdog.value
                }
            }
            if let early = result.closureResult { return early }
            switch result.terminationStatus {
            case .exited(0): return .succeeded
            case .exited(let code):
                if let limit = await limits.hit(signal: nil) { return .limitReached(limit, exitCode: code) }
                return .failed(exitCode: code)
            case .signaled(let signal):
                if let limit = await limits.hit(signal: signal) { return .limitReached(limit, exitCode: 128 + signal) }
                return .killedBySignal(signal)
            }
        } catch {
            return .notStarted("cannot start \(executable): \(error)")
        }
    }

    /// A child's environment: exactly these variables, nothing inherited.
    static func processEnvironment(_ variables: [String: String]) -> Subprocess.Environment {
        .custom(Dictionary(uniqueKeysWithValues: variables.map { (Subprocess.Environment.Key(stringLiteral: $0.key), $0.value) }))
    }

    /// Copies one output stream of a step into the log, line by line, masked.
    private static func copyLines(_ output: SubprocessOutputSequence, secrets: [String], label: String, log: LogSink, limits: LimitWatch) async throws {
        var lines = LineAssembler(secrets: secrets)
        for try await buffer in output {
            for line in buffer.withUnsafeBytes({ lines.feed($0) }) {
                await limits.saw(line)
                await log.line(label, line)
            }
        }
        for line in lines.finish() {
            await limits.saw(line)
            await log.line(label, line)
        }
    }

    /// The step's directory, which must exist and stay inside the workspace after
    /// following symbolic links.
    static func workingDirectory(_ workdir: String?, in workspace: String) -> Result<String, StepSetupError> {
        guard let workdir else { return .success(workspace) }
        guard let candidate = WorkspaceFile.path(workdir, in: workspace) else {
            return .failure(StepSetupError("workdir \(workdir) leads outside the workspace"))
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory), isDirectory.boolValue else {
            return .failure(StepSetupError("workdir \(workdir) is not a directory in the repository"))
        }
        return .success(candidate)
    }
}

/// Notices, in a step's output, the first sign of a limit it ran into.
actor LimitWatch {
    let sandbox: Sandbox
    private var found: String?

    init(sandbox: Sandbox) {
        self.sandbox = sandbox
    }

    func saw(_ line: String) {
        if found == nil { found = sandbox.limitHit(in: line, signal: nil) }
    }

    func hit(signal: Int32?) -> String? {
        if let signal, let limit = sandbox.limitHit(in: "", signal: signal) { return limit }
        return found
    }
}

struct StepSetupError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
