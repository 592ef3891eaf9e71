import Foundation

/// Which reconciles start now: at most `limit` at once, one per app, apps with watched
/// changes before due apps, and apps that would only wait (for a repository's read under
/// way, or for a cluster that stopped answering while one of its apps is already running) left
/// for later so they do not hold places others could use. Pure decisions, tested without
/// waiting.
struct ReconcilePool: Sendable {
    /// A candidate: the app, its cluster, and whether it would wait for a read under way.
    struct Candidate: Sendable {
        var app: String
        var cluster: String?
        var waitsForRead: Bool

        init(app: String, cluster: String?, waitsForRead: Bool = false) {
            self.app = app
            self.cluster = cluster
            self.waitsForRead = waitsForRead
        }
    }

    let limit: Int
    private(set) var running: Set<String> = []
    private var runningByCluster: [String: Int] = [:]

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    var isIdle: Bool { running.isEmpty }

    func isRunning(_ app: String) -> Bool { running.contains(app) }

    /// Picks from `changed` (apps a watch saw change, first seen first), then `due` (oldest due
    /// first) and marks them running. `troubled`: clusters that get one app at a time.
    mutating func claim(changed: [Candidate], due: [Candidate], troubled: Set<String>) -> (changed: [String], due: [String]) {
        var picked: (changed: [String], due: [String]) = ([], [])
        for candidate in changed where mayStart(candidate, troubled: troubled) {
            start(candidate.app, cluster: candidate.cluster)
            picked.changed.append(candidate.app)
        }
        for candidate in due where !candidate.waitsForRead && mayStart(candidate, troubled: troubled) {
            start(candidate.app, cluster: candidate.cluster)
            picked.due.append(candidate.app)
        }
        return picked
    }

    private func mayStart(_ candidate: Candidate, troubled: Set<String>) -> Bool {
        guard running.count < limit, !running.contains(candidate.app) else { return false }
        guard let cluster = candidate.cluster, troubled.contains(cluster) else { return true }
        return runningByCluster[cluster, default: 0] == 0
    }

    /// Marks an app running outside `claim` (a refresh, which waited until it was not).
    mutating func start(_ app: String, cluster: String?) {
        running.insert(app)
        if let cluster { runningByCluster[cluster, default: 0] += 1 }
    }

    mutating func finish(_ app: String, cluster: String?) {
        guard running.remove(app) != nil else { return }
        if let cluster { runningByCluster[cluster, default: 0] -= 1 }
    }
}
