public import Foundation
public import SlipwayCore
public import SlipwayGit
import Subprocess
import SystemPackage

/// A job's commit as a tar archive, for its pod's workspace fetch: checked out of this
/// replica's own mirror (any replica can serve any job) and kept by commit in `archives/`
/// for an hour, so retries and other jobs of the same commit fetch it without a new checkout.
public struct WorkspaceArchive: Sendable {
    public let mirrors: MirrorCache
    /// `data/archives`.
    public let directory: String
    public var lifetime: Duration = .seconds(3600)

    public init(mirrors: MirrorCache, directory: String) {
        self.mirrors = mirrors
        self.directory = directory
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// The archive of `job`'s commit (a pull request's head for a preview), made if needed.
    public func archive(of job: Job, app: AppConfig) async throws(Failure) -> String {
        removeExpired()
        let commit: String
        do {
            if job.trigger == .preview {
                commit = try await mirrors.ensure(pullRequestHead: job.commit, ref: job.ref, in: app.repoURL, credentials: app.repositoryAuth).commit
            } else {
                _ = try await mirrors.ensure(commit: job.commit, in: app.repoURL, credentials: app.repositoryAuth)
                commit = job.commit
            }
        } catch {
            throw Failure(description: "git: \(error)")
        }
        let file = (directory as NSString).appendingPathComponent("\(commit).tar")
        if FileManager.default.fileExists(atPath: file) { return file }
        let unique = UUID().uuidString
        let tree = (directory as NSString).appendingPathComponent(".tree-\(unique)")
        let partial = (directory as NSString).appendingPathComponent(".\(commit)-\(unique).tar")
        defer {
            try? FileManager.default.removeItem(atPath: tree)
            try? FileManager.default.removeItem(atPath: partial)
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try await mirrors.checkout(app.repoURL, commit: commit, into: tree)
        } catch {
            throw Failure(description: "cannot check out \(commit.prefix(12)): \(error)")
        }
        do {
            // Numeric owners of nobody: the pod's user unpacks it, whatever the server's is.
            let result = try await Subprocess.run(.name("tar"), arguments: ["-c", "-f", partial, "--owner=0", "--group=0", "--numeric-owner", "-C", tree, "."],
                                                  output: .discarded, error: .string(limit: 64 * 1024))
            guard result.terminationStatus.isSuccess else {
                throw Failure(description: "tar could not pack the workspace: \(result.standardError)")
            }
            // Whole or not at all: a concurrent request may have made it meanwhile.
            if !FileManager.default.fileExists(atPath: file) { try FileManager.default.moveItem(atPath: partial, toPath: file) }
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure(description: "cannot pack the workspace: \(error)")
        }
        return file
    }

    private func removeExpired() {
        let limit = Date().addingTimeInterval(-Double(lifetime.components.seconds))
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasSuffix(".tar") && !name.hasPrefix(".") {
            let path = (directory as NSString).appendingPathComponent(name)
            if let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date, modified < limit {
                try? FileManager.default.removeItem(atPath: path)
            }
        }
    }
}
