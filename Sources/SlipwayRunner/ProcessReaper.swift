import Foundation
public import SlipwayStore
#if canImport(Glibc)
import Glibc
#endif

/// This machine as step processes are recorded: its id and the kernel's boot id.
public struct HostIdentity: Sendable, Hashable {
    public var host: String
    public var bootID: String

    public init(host: String, bootID: String) {
        self.host = host
        self.bootID = bootID
    }

    /// The running machine: /etc/machine-id (else the host name) and this boot's id.
    public static func current() -> HostIdentity {
        func read(_ path: String) -> String? {
            (try? String(contentsOfFile: path, encoding: .utf8)).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.flatMap { $0.isEmpty ? nil : $0 }
        }
        return HostIdentity(host: read("/etc/machine-id") ?? ProcessInfo.processInfo.hostName,
                            bootID: read("/proc/sys/kernel/random/boot_id") ?? "unknown")
    }
}

/// Kills what a crashed server's steps left running, before their jobs are queued again.
///
/// A recorded process group is signalled only when one of its processes still carries the
/// job's `SLIPWAY_JOB_ID` in its environment: a group number can be taken by an unrelated
/// program once the step's processes are gone, and that program must be left alone.
public struct ProcessReaper: Sendable {
    /// The /proc to read (a test may point elsewhere; the real one otherwise).
    let proc: String

    public init(proc: String = "/proc") {
        self.proc = proc
    }

    /// Kills each leftover group with SIGKILL and waits (up to `timeout`) until its processes
    /// are gone. Returns the groups that were killed.
    @discardableResult
    public func reap(_ leftovers: [StepProcess], timeout: Duration = .seconds(10)) async -> [StepProcess] {
        var killed: [StepProcess] = []
        for leftover in leftovers where members(of: leftover.processGroup).contains(where: { belongs($0, to: leftover.jobID) }) {
            kill(-leftover.processGroup, SIGKILL)
            killed.append(leftover)
        }
        let deadline = ContinuousClock.now + timeout
        while killed.contains(where: { !members(of: $0.processGroup).isEmpty }), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        return killed
    }

    /// Whether any live (not zombie) process of the group is left.
    public func isAlive(_ processGroup: Int32) -> Bool {
        !members(of: processGroup).isEmpty
    }

    /// Live processes in a process group.
    func members(of processGroup: Int32) -> [Int32] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: proc) else { return [] }
        return entries.compactMap { entry -> Int32? in
            guard let pid = Int32(entry), let stat = try? String(contentsOfFile: "\(proc)/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return nil }
            // After "pid (comm) ": state, ppid, pgrp. comm may hold spaces and parentheses.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 2, fields[0] != "Z", fields[0] != "X", Int32(fields[2]) == processGroup else { return nil }
            return pid
        }
    }

    private func belongs(_ pid: Int32, to job: Int64) -> Bool {
        guard let environment = FileManager.default.contents(atPath: "\(proc)/\(pid)/environ") else { return false }
        let wanted = Array("SLIPWAY_JOB_ID=\(job)".utf8)
        return environment.split(separator: 0).contains { Array($0) == wanted }
    }
}
