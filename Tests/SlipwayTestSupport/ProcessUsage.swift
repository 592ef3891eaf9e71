import Foundation

/// What a process has used so far, from /proc: for benchmarks of `slipway serve` run as its
/// own process.
public enum ProcessUsage {
    /// User and system CPU seconds (/proc/PID/stat, 100 ticks a second).
    public static func cpuSeconds(_ pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let end = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        // After the name: state is field 3, utime 14 and stime 15.
        return (Double(fields[11]) ?? 0) / 100 + (Double(fields[12]) ?? 0) / 100
    }

    /// VmRSS and VmHWM (the peak) in MiB.
    public static func memoryMiB(_ pid: Int32) -> (rss: Double, peak: Double) {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        func value(_ key: String) -> Double {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(key) }) else { return 0 }
            return (Double(line.split(separator: " ").dropFirst().first ?? "") ?? 0) / 1024
        }
        return (value("VmRSS:"), value("VmHWM:"))
    }
}
