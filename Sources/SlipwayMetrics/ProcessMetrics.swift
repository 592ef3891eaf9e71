import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The process metrics every Prometheus client exports (`process_*`), read from `/proc`
/// when scraped. swift-prometheus has no process collector, so these six lines are written
/// here in the exposition format.
struct ProcessMetrics {
    var residentBytes: Double?
    var virtualBytes: Double?
    var cpuSeconds: Double?
    var startTime: Double?
    var openFDs: Double?
    var maxFDs: Double?

    static func read() -> ProcessMetrics {
        var metrics = ProcessMetrics()
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let page = Double(sysconf(Int32(_SC_PAGESIZE)))
        // /proc/self/stat: the command may hold spaces and parentheses; fields follow the last ')'.
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
           let close = stat.lastIndex(of: ")") {
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            // After ")": state is field 3 of the man page, so man page field N is fields[N - 3].
            if fields.count > 21, ticks > 0 {
                metrics.cpuSeconds = ((Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)) / ticks
                metrics.virtualBytes = Double(fields[20])
                metrics.residentBytes = (Double(fields[21]) ?? 0) * page
                if let bootTime = bootTime(), let started = Double(fields[19]) {
                    metrics.startTime = bootTime + started / ticks
                }
            }
        }
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            metrics.openFDs = Double(entries.count)
        }
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 {
            metrics.maxFDs = Double(limit.rlim_cur)
        }
        return metrics
    }

    private static func bootTime() -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return nil }
        for line in stat.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst(6).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }

    func exposition() -> String {
        let lines: [(String, String, String, Double?)] = [
            ("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", cpuSeconds),
            ("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", residentBytes),
            ("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", virtualBytes),
            ("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.", startTime),
            ("process_open_fds", "gauge", "Number of open file descriptors.", openFDs),
            ("process_max_fds", "gauge", "Maximum number of open file descriptors.", maxFDs),
        ]
        var text = ""
        for (name, type, help, value) in lines {
            guard let value else { continue }
            text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name) \(Self.format(value))\n"
        }
        return text
    }

    private static func format(_ value: Double) -> String {
        value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
