import Foundation
import SlipwayCore

/// A delivery that becomes a job: a push, or a pull request to preview. Both stores queue it
/// the same way.
struct IncomingJob: Sendable {
    var forge: Forge
    var deliveryID: String
    var trigger: JobTrigger
    var ref: String
    var before: String?
    var commit: String
    var message: String?
    var author: String?
    var changedPaths: [String]?
    var pullRequest: Int?
    var fromFork: Bool

    /// The triggers whose job for the same (app, ref, commit) makes this one a duplicate: a
    /// poll found what a push announced; a pull request's other events with the same head.
    var sameRevision: (String, String) {
        trigger == .preview ? (JobTrigger.preview.rawValue, JobTrigger.preview.rawValue) : (JobTrigger.push.rawValue, JobTrigger.poll.rawValue)
    }

    init(push: PushEvent) {
        forge = push.forge
        deliveryID = push.deliveryID
        trigger = .push
        ref = push.ref
        before = push.before
        commit = push.after
        message = push.headCommitMessage
        author = push.headCommitAuthor
        changedPaths = push.changedPaths
        pullRequest = nil
        fromFork = false
    }

    init(preview request: PullRequestEvent) {
        forge = request.forge
        deliveryID = request.deliveryID
        trigger = .preview
        ref = request.headRef
        before = nil
        commit = request.headCommit
        message = request.title
        author = request.author
        changedPaths = nil
        pullRequest = request.number
        fromFork = request.fromFork
    }

    /// The job row its insert writes, as a read of that row gives it back (the creation time
    /// goes through the stored seconds since 1970, so it compares equal to a later read).
    func queuedJob(id: JobID, app: String, now: Date) -> Job {
        Job(id: id, app: app, forge: forge, deliveryID: deliveryID, trigger: trigger, ref: ref, before: before, commit: commit,
            message: message, author: author, status: .queued, reason: nil, createdAt: Date(timeIntervalSince1970: now.timeIntervalSince1970),
            startedAt: nil, finishedAt: nil, pullRequest: pullRequest, fromFork: fromFork)
    }

    /// Its queue among the app's (`StoreSQL.laneKey`): the deploys', or its pull request's.
    var lane: String { trigger == .preview ? ref : "" }

    func changedPathsJSON() throws(StoreError) -> String? {
        guard let changedPaths else { return nil }
        do { return try SlipwayJSON.string(.array(changedPaths.map(JSONValue.string))) } catch { throw .unavailable("\(error)") }
    }
}

/// One delivery in a group commit (`GroupCommit`): the job it brings and the app it is for.
struct IntakeEntry: Sendable {
    var incoming: IncomingJob
    var app: String
    var now: Date
}
