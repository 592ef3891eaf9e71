public import Foundation
import CLibgit2
import Crypto
public import SlipwayCore

/// One bare mirror per repository under a root directory. The first job of a repository
/// clones it; later jobs fetch only what is new. Every operation on one mirror runs on that
/// mirror's own serial queue, so concurrent jobs never fetch into the same mirror at once, and
/// libgit2's blocking calls never occupy Swift's cooperative threads.
public actor MirrorCache {
    public let root: String
    private var queues: [String: DispatchQueue] = [:]

    public init(root: String, caFile: String? = nil) {
        self.root = root
        _ = LibGit2.initialised
        if let caFile { _ = slipway_git_set_ssl_cert_file(caFile) }
    }

    /// The mirror's directory: readable name plus a hash of the URL, so two remotes never share one.
    public nonisolated func mirrorPath(for url: String) -> String {
        let digest = SHA256.hash(data: Data(url.utf8)).prefix(6).map { String(format: "%02x", $0) }.joined()
        let name = url.split(whereSeparator: { "/:@".contains($0) }).last.map(String.init)?
            .replacingOccurrences(of: ".git", with: "").filter { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" } ?? "repo"
        return (root as NSString).appendingPathComponent("\(name.isEmpty ? "repo" : name)-\(digest).git")
    }

    private func queue(for url: String) -> DispatchQueue {
        if let queue = queues[url] { return queue }
        let queue = DispatchQueue(label: "slipway.mirror.\(url)")
        queues[url] = queue
        return queue
    }

    private func onMirrorQueue<T: Sendable>(_ url: String, _ work: @escaping @Sendable (MirrorRepository) throws(GitError) -> T) async throws(GitError) -> T {
        let mirror = MirrorRepository(path: mirrorPath(for: url), url: url)
        let queue = queue(for: url)
        let result: Result<T, GitError> = await withCheckedContinuation { continuation in
            queue.async {
                continuation.resume(returning: Result { () throws(GitError) -> T in try work(mirror) })
            }
        }
        return try result.get()
    }

    /// Fetches `url` into its mirror.
    public func fetch(_ url: String, credentials: RepositoryAuth = .none) async throws(GitError) -> FetchReport {
        try await onMirrorQueue(url) { mirror throws(GitError) in try mirror.fetch(credentials: credentials) }
    }

    /// Makes sure the mirror has `commit`, fetching only when it does not yet.
    /// Returns the fetch report, or nil when no fetch was needed.
    public func ensure(commit: String, in url: String, credentials: RepositoryAuth = .none) async throws(GitError) -> FetchReport? {
        try await onMirrorQueue(url) { mirror throws(GitError) in
            if FileManager.default.fileExists(atPath: mirror.completeMarker), mirror.contains(commit: commit) { return nil }
            let report = try mirror.fetch(credentials: credentials)
            guard mirror.contains(commit: commit) else {
                throw GitError(.commitNotFound, "commit \(commit) is not in \(url) after fetching it")
            }
            return report
        }
    }

    /// Makes sure the mirror has a pull request's head: fetches the branches and `ref` (where
    /// the forge publishes the request's head) unless the mirror has `commit` already. Forges
    /// may name the head by a short hash (Bitbucket Cloud): the full one is returned, from `ref`.
    public func ensure(pullRequestHead commit: String, ref: String, in url: String,
                       credentials: RepositoryAuth = .none) async throws(GitError) -> (commit: String, report: FetchReport?) {
        try await onMirrorQueue(url) { mirror throws(GitError) in
            let full = commit.count == 40
            if full, FileManager.default.fileExists(atPath: mirror.completeMarker), mirror.contains(commit: commit) { return (commit, nil) }
            let report = try mirror.fetch(credentials: credentials, refs: [ref])
            if full {
                guard mirror.contains(commit: commit) else {
                    throw GitError(.commitNotFound, "commit \(commit) is not in \(url) after fetching \(ref) (the request was pushed to again?)")
                }
                return (commit, report)
            }
            let head = try mirror.target(of: ref)
            guard head.hasPrefix(commit.lowercased()) else {
                throw GitError(.commitNotFound, "\(ref) of \(url) is at \(head.prefix(12)), not \(commit) (the request was pushed to again?)")
            }
            return (head, report)
        }
    }

    /// Fetches and returns the commit `branch` points at on the remote.
    public func head(of branch: String, in url: String, credentials: RepositoryAuth = .none) async throws(GitError) -> String {
        try await onMirrorQueue(url) { mirror throws(GitError) in
            _ = try mirror.fetch(credentials: credentials)
            return try mirror.head(of: branch)
        }
    }

    /// The commit `branch` points at on the remote, without fetching anything.
    /// Every branch head of the remote, in one read (`git ls-remote --heads`).
    public func remoteHeads(in url: String, credentials: RepositoryAuth = .none) async throws(GitError) -> [String: String] {
        try await onMirrorQueue(url) { _ throws(GitError) in
            try MirrorRepository.remoteHeads(url: url, credentials: credentials)
        }
    }

    public func remoteHead(of branch: String, in url: String, credentials: RepositoryAuth = .none) async throws(GitError) -> String {
        try await onMirrorQueue(url) { _ throws(GitError) in
            try MirrorRepository.remoteHead(url: url, branch: branch, credentials: credentials)
        }
    }

    /// The files a push changed, from the mirror (fetched when it lacks `after`): the diff of
    /// `before`..`after`, or every file of `after` when there is no usable `before`.
    public func changedPaths(from before: String?, to after: String, in url: String, credentials: RepositoryAuth = .none) async throws(GitError) -> [String] {
        _ = try await ensure(commit: after, in: url, credentials: credentials)
        return try await onMirrorQueue(url) { mirror throws(GitError) in try mirror.changedPaths(from: before, to: after) }
    }

    /// The files a pull request changes: the diff from where its head left `targetBranch` (the
    /// merge base) to its head, fetched from `ref` when the mirror lacks it. Commits that
    /// reached the target branch since are not the request's.
    public func pullRequestChanges(head: String, ref: String, targetBranch: String, in url: String,
                                   credentials: RepositoryAuth = .none) async throws(GitError) -> [String] {
        let full = try await ensure(pullRequestHead: head, ref: ref, in: url, credentials: credentials).commit
        return try await onMirrorQueue(url) { mirror throws(GitError) in
            let base = try mirror.mergeBase(try mirror.head(of: targetBranch), full)
            return try mirror.changedPaths(from: base, to: full)
        }
    }

    /// Checks `commit` out of the mirror into `directory`.
    public func checkout(_ url: String, commit: String, into directory: String) async throws(GitError) {
        try await onMirrorQueue(url) { mirror throws(GitError) in try mirror.checkout(commit: commit, into: directory) }
    }
}
