import Foundation
import Logging
import SlipwayConfig
import SlipwayCore
import SlipwayGit
import SlipwayStore

/// A push to a repository several apps share: one job for each app the push concerns (its
/// `paths` match the changed files), queued in dependency order so that an app's job never
/// exists before the jobs of the apps it depends on. The changed files come from the payload
/// when the forge listed them all, else from the mirror's diff of before..after.
struct MonorepoIntake: Sendable {
    let config: ServerConfig
    let store: any JobStore
    let mirrors: MirrorCache?
    let logger: Logger
    /// Apps whose pushes take this path: with path filters, or sharing repository and branch
    /// (fixed by the configuration, so not worked out per delivery).
    private let concerned: Set<String>

    init(config: ServerConfig, store: any JobStore, mirrors: MirrorCache?, logger: Logger) {
        self.config = config
        self.store = store
        self.mirrors = mirrors
        self.logger = logger
        let shared = Dictionary(grouping: config.apps) { "\($0.repoURL)\n\($0.branch)" }.values.filter { $0.count > 1 }.flatMap { $0 }
        concerned = Set(shared.map(\.name) + config.apps.filter { !$0.paths.isEmpty }.map(\.name))
    }

    struct Outcome: Sendable {
        var queued: [(app: String, result: EnqueueResult)] = []
        var skipped: [(app: String, reason: String)] = []
    }

    /// The apps a push to `app`'s repository and branch goes to: `app` and every app with the
    /// same repository and branch.
    func apps(sharing app: AppConfig) -> [AppConfig] {
        config.apps.filter { $0.name == app.name || ($0.repoURL == app.repoURL && $0.branch == app.branch) }
    }

    /// Whether a push to `app` needs more than the single-app path.
    func concerns(_ app: AppConfig) -> Bool {
        concerned.contains(app.name)
    }

    func enqueue(_ push: PushEvent, receivedBy app: AppConfig, now: Date) async throws(StoreError) -> Outcome {
        let targets = apps(sharing: app)
        var changed = push.changedPaths
        var askedMirror = false
        var outcome = Outcome()
        for name in config.dependencyOrder(targets.map(\.name)) {
            guard let target = config.app(named: name) else { continue }
            if !target.paths.isEmpty {
                if changed == nil && !askedMirror {
                    changed = await mirrorDiff(push, app: target)
                    askedMirror = true
                }
                if let changed, !target.paths.matchesAny(changed) {
                    let reason = "no changed file matches the paths of app '\(name)' (\(changed.count) changed)"
                    try await store.recordIgnoredDelivery(app: name, forge: push.forge, deliveryID: push.deliveryID, outcome: "ignored", now: now)
                    outcome.skipped.append((name, reason))
                    continue
                }
            }
            outcome.queued.append((name, try await store.enqueue(push: push, app: name, now: now)))
        }
        return outcome
    }

    /// A pull request to a branch several apps share (or to an app with path filters): a
    /// preview for each app with a cluster and previews on whose `paths` the request's changes
    /// match (from the mirror: the request's head against where it left the branch).
    func enqueue(_ request: PullRequestEvent, receivedBy app: AppConfig, now: Date) async throws(StoreError) -> Outcome {
        var changed: [String]?
        var askedMirror = false
        var outcome = Outcome()
        for target in apps(sharing: app) {
            guard target.target != nil, target.preview.enabled else {
                outcome.skipped.append((target.name, target.target == nil ? "app '\(target.name)' has no cluster to preview against"
                                                                         : "previews are turned off for app '\(target.name)'"))
                continue
            }
            if !target.paths.isEmpty {
                if !askedMirror {
                    changed = await requestDiff(request, app: target)
                    askedMirror = true
                }
                if let changed, !target.paths.matchesAny(changed) {
                    try await store.recordIgnoredDelivery(app: target.name, forge: request.forge, deliveryID: request.deliveryID, outcome: "ignored",
                                                          now: now)
                    outcome.skipped.append((target.name, "no file pull request #\(request.number) changes matches the paths of app '\(target.name)' "
                                            + "(\(changed.count) changed)"))
                    continue
                }
            }
            outcome.queued.append((target.name, try await store.enqueue(preview: request, app: target.name, now: now)))
        }
        return outcome
    }

    /// The request's changed files; nil (every app concerned) when the mirror cannot tell.
    private func requestDiff(_ request: PullRequestEvent, app: AppConfig) async -> [String]? {
        guard let mirrors else { return nil }
        do {
            return try await mirrors.pullRequestChanges(head: request.headCommit, ref: request.headRef, targetBranch: request.targetBranch,
                                                        in: app.repoURL, credentials: app.repositoryAuth)
        } catch {
            logger.warning("cannot read the pull request's changed files from the mirror; it concerns every app of the repository",
                           metadata: ["app": "\(app.name)", "pull-request": "\(request.number)", "error": "\(error)"])
            return nil
        }
    }

    /// The mirror's diff; nil (every app concerned) when the mirror cannot tell.
    private func mirrorDiff(_ push: PushEvent, app: AppConfig) async -> [String]? {
        guard let mirrors else { return nil }
        let before = push.created || push.before == PushEvent.zeroCommit ? nil : push.before
        do {
            return try await mirrors.changedPaths(from: before, to: push.after, in: app.repoURL, credentials: app.repositoryAuth)
        } catch {
            logger.warning("cannot read the changed files from the mirror; the push concerns every app of the repository",
                           metadata: ["app": "\(app.name)", "error": "\(error)"])
            return nil
        }
    }
}
