public import Foundation

/// How a job log line starts: `2026-11-28T02:41:08Z [source] text`.
public enum LogLine {
    /// The time stamp at the start of each line (UTC, whole seconds).
    public static func timestamp(_ date: Date = Date()) -> String {
        date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: false).timeZone(separator: .omitted))
    }
}
