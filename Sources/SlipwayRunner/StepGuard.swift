import Foundation
import Subprocess
public import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// The server's side of `slipway-step-guard`, the parent of every step and render command: the
/// guard's path, and the pipe whose hang-up tells every guard that the server is gone.
///
/// Each guard gets the pipe's read end as standard input; only this process holds the write
/// end (close-on-exec, so no child inherits it). When the server dies, however it dies, the
/// kernel closes the write end and every guard kills its process group.
public struct StepGuard: Sendable {
    /// The guard binary.
    public let executable: String
    private let lifeline: Lifeline

    /// Finds the guard: `configured` (runner.step_guard), else next to the running binary
    /// (where `swift build` puts both). Nil when it is not there.
    public init?(configured: String?) {
        let path = configured ?? Self.besideExecutable()
        guard let path, FileManager.default.isExecutableFile(atPath: path), let lifeline = Lifeline() else { return nil }
        executable = path
        self.lifeline = lifeline
    }

    /// What a guard reads: the pipe that hangs up when this process ends.
    var input: FileDescriptorInput {
        .fileDescriptor(lifeline.readEnd, closeAfterSpawningProcess: false)
    }

    /// Why steps cannot start, for the error a user reads.
    public static func missing(configured: String?) -> String {
        let place = configured ?? besideExecutable() ?? "next to the slipway binary"
        return "the step guard \(place) is missing or not executable: build it with `swift build --product slipway-step-guard` "
            + "(it parents every step so that no step outlives the server), or point runner.step_guard at it"
    }

    private static func besideExecutable() -> String? {
        guard let binary = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
        return ((binary as NSString).deletingLastPathComponent as NSString).appendingPathComponent("slipway-step-guard")
    }
}

/// A pipe nobody writes to, held open for as long as the server's steps may run.
private final class Lifeline: Sendable {
    let readEnd: FileDescriptor
    let writeEnd: FileDescriptor

    init?() {
        guard let (read, write) = try? FileDescriptor.pipe() else { return nil }
        // Children get the read end only as their standard input (dup2 clears the flag there).
        _ = fcntl(read.rawValue, F_SETFD, FD_CLOEXEC)
        _ = fcntl(write.rawValue, F_SETFD, FD_CLOEXEC)
        readEnd = read
        writeEnd = write
    }

    deinit {
        try? writeEnd.close()
        try? readEnd.close()
    }
}
