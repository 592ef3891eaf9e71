public import Foundation
public import SlipwayCore

/// Decides which queued jobs run, without doing any I/O: events in, actions out.
///
/// Rules: at most `workers` jobs run at once and at most one per app; a newer job of an app
/// supersedes its older queued ones (and, where the app asks, cancels its running one); among
/// apps with work waiting, the one that started a job longest ago goes first, so a busy app
/// cannot starve the others.
public struct Scheduler: Sendable {
    public enum Action: Sendable, Hashable {
        case start(JobID)
        case supersede([JobID], by: JobID)
        case cancelRunning(JobID, by: JobID)
    }

    public let workers: Int
    public private(set) var queued: [String: [JobID]] = [:]
    public private(set) var running: [String: JobID] = [:]
    private var lastStart: [String: Date] = [:]
    /// Set during shutdown: nothing new starts.
    public private(set) var draining = false

    public init(workers: Int) {
        precondition(workers >= 1)
        self.workers = workers
    }

    /// Whether the scheduler already tracks this job (queued or running).
    public func knows(_ id: JobID) -> Bool {
        running.values.contains(id) || queued.values.contains { $0.contains(id) }
    }

    /// A job was queued. Older queued jobs of the app are superseded.
    public mutating func enqueued(_ id: JobID, app: String, cancelRunning: Bool = false) -> [Action] {
        guard !knows(id) else { return [] }
        var actions: [Action] = []
        let older = (queued[app] ?? []).filter { $0 < id }
        if !older.isEmpty { actions.append(.supersede(older, by: id)) }
        queued[app] = (queued[app] ?? []).filter { $0 > id } + [id]
        queued[app]?.sort()
        if cancelRunning, let current = running[app], current < id {
            actions.append(.cancelRunning(current, by: id))
        }
        return actions
    }

    /// A queued job left the queue without running (cancelled through the API, say).
    public mutating func dropped(_ id: JobID, app: String) {
        queued[app]?.removeAll { $0 == id }
        if queued[app]?.isEmpty == true { queued[app] = nil }
    }

    /// A running job ended, however it ended.
    public mutating func finished(_ id: JobID, app: String) {
        if running[app] == id { running[app] = nil }
    }

    /// Stop starting jobs (graceful shutdown).
    public mutating func drain() {
        draining = true
    }

    /// Starts as many jobs as the limits allow, fairest first.
    public mutating func next(now: Date) -> [Action] {
        guard !draining else { return [] }
        var actions: [Action] = []
        while running.count < workers {
            let candidates = queued.filter { running[$0.key] == nil && !$0.value.isEmpty }
            guard let app = candidates.min(by: { a, b in
                let lastA = lastStart[a.key] ?? .distantPast
                let lastB = lastStart[b.key] ?? .distantPast
                return lastA != lastB ? lastA < lastB : a.value[0] < b.value[0]
            })?.key else { break }
            let id = queued[app]!.removeFirst()
            if queued[app]!.isEmpty { queued[app] = nil }
            running[app] = id
            lastStart[app] = now
            actions.append(.start(id))
        }
        return actions
    }
}
