import Foundation
import SlipwayCore
import SlipwayKube

/// Each container's log, followed into the job log as the kubelet writes it.
extension PodStepRunner {
    /// Where a followed log stands: its last line's time, and how many lines had that time.
    struct LogPosition: Sendable, Equatable {
        var stamp: String
        var count: Int

        /// Whether a line stamped `stamp` is one already read (a stream read on starts at
        /// the second of `self.stamp` and repeats what came since), and the position after it.
        func admits(_ lineStamp: String, skipped: inout Int) -> Bool {
            if lineStamp < stamp { return false }
            if lineStamp == stamp && skipped < count {
                skipped += 1
                return false
            }
            return true
        }

        func after(_ lineStamp: String) -> LogPosition {
            lineStamp == stamp ? LogPosition(stamp: stamp, count: count + 1) : LogPosition(stamp: lineStamp, count: 1)
        }
    }

    /// Follows the current container's log into the job log, masked, line by line.
    func follow(_ run: inout Progress, log: LogSink, secrets: [String], sink: AsyncStream<Event>.Continuation) {
        let (container, name, label, start) = (run.current, run.containerName, run.label, run.logEnd)
        let stream = client.followLog(namespace: settings.namespace, pod: run.jobPod.name, container: name,
                                      sinceTime: start.flatMap { try? Date(String($0.stamp.prefix(19)) + "Z", strategy: .iso8601) })
        run.follower = Task {
            var lines = LineAssembler(secrets: secrets)
            var end = start
            var skipped = 0
            func write(_ text: String) async {
                // `2026-12-07T09:50:26.021359633Z text`: the kubelet's time, then the line.
                guard let space = text.firstIndex(of: " ") else { return }
                let stamp = Self.sortableStamp(String(text[..<space]))
                if let start, !start.admits(stamp, skipped: &skipped) { return }
                end = end.map { $0.after(stamp) } ?? LogPosition(stamp: stamp, count: 1)
                await log.line(label, String(text[text.index(after: space)...]))
            }
            do {
                for try await chunk in stream {
                    for line in lines.feed(chunk) { await write(line) }
                }
                for line in lines.finish() { await write(line) }
                sink.yield(.logEnded(container: container, end: end, error: nil))
            } catch {
                for line in lines.finish() { await write(line) }
                sink.yield(.logEnded(container: container, end: end, error: error as? KubeError ?? .transport("\(error)")))
            }
        }
    }

    /// The kubelet's RFC 3339 time with its fraction written out to nine digits (Go's
    /// RFC3339Nano drops trailing zeros), so two stamps compare as their times do.
    static func sortableStamp(_ stamp: String) -> String {
        guard stamp.hasSuffix("Z") else { return stamp }
        let body = stamp.dropLast()
        let (seconds, fraction) = body.firstIndex(of: ".").map { (body[..<$0], body[body.index(after: $0)...]) } ?? (body, "")
        return seconds + "." + fraction.padding(toLength: 9, withPad: "0", startingAt: 0) + "Z"
    }
}
