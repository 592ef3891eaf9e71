public import Foundation
public import SlipwayCore

/// Durable jobs, deliveries, logs, deploys and step processes: what every part of Slipway
/// reads and writes, and what several replicas share.
///
/// Two implementations with one behaviour, checked by one test suite: `SQLiteJobStore`
/// (embedded, the default, one process) and `PostgresJobStore` (several replicas on one
/// database). Every write is durable when the call returns.
public protocol JobStore: AnyObject, Sendable {
    /// Where the data is, for logs (a file path, or the database without its password).
    var location: String { get }

    /// Whether the database answers now.
    func isReady() async -> Bool
    /// Lets the store give back caches after large reads.
    func releaseMemory()
    /// Closes connections (the store is not used afterwards).
    func close() async
    /// Whether other server processes may share this store (then a process must not treat
    /// another's running jobs as its own leftovers).
    var isShared: Bool { get }

    // MARK: Intake

    /// Commits a job for `push` unless its delivery id, or the same (app, ref, commit),
    /// already has one. Returns only after the transaction is durable.
    func enqueue(push: PushEvent, app: String, now: Date) async throws(StoreError) -> EnqueueResult
    /// Commits a `preview` job for a pull request's head unless its delivery id, or a preview
    /// of the same head, already has one.
    func enqueue(preview: PullRequestEvent, app: String, now: Date) async throws(StoreError) -> EnqueueResult
    /// Remembers a verified delivery that created no job (ping, other branch, other event).
    func recordIgnoredDelivery(app: String, forge: Forge, deliveryID: String, outcome: String, now: Date) async throws(StoreError)
    /// Queues a job that no webhook announced (a manual sync, a poll, a self-heal): never
    /// merged with an existing job of the same commit.
    func enqueue(app: String, ref: String, commit: String, trigger: JobTrigger, message: String?, now: Date) async throws(StoreError) -> Job

    // MARK: Jobs

    func job(id: JobID) async throws(StoreError) -> Job?
    /// A page of jobs, newest first.
    func jobs(_ query: JobQuery) async throws(StoreError) -> [Job]
    /// The newest job of an app that deploys (push, poll, manual, self-heal; not a preview).
    func latestJob(app: String) async throws(StoreError) -> Job?
    /// Whether any job of the app that deploys is (or was) for this commit (previews do not count).
    func hasJob(app: String, commit: String) async throws(StoreError) -> Bool
    /// Cancels a queued job at once; a running job is flagged for its runner to stop.
    /// Returns the job as it now is, or nil when there is no such job.
    func requestCancel(id: JobID, by who: String, now: Date) async throws(StoreError) -> Job?
    func isCancelRequested(_ id: JobID) async throws(StoreError) -> Bool

    // MARK: Running

    /// Every queued job, oldest first.
    func queuedJobs() async throws(StoreError) -> [Job]
    /// How many jobs are queued (without reading them).
    func queueDepth() async throws(StoreError) -> Int
    /// Marks a queued job running. False when it is no longer queued (cancelled meanwhile).
    func start(_ id: JobID, now: Date) async throws(StoreError) -> Bool
    /// Ends a job with a final status and the reason a user reads.
    func finish(_ id: JobID, status: JobStatus, reason: String?, now: Date) async throws(StoreError)
    /// Marks queued jobs as superseded by a newer one; returns the ids that changed.
    func supersede(_ ids: [JobID], by newer: JobID, now: Date) async throws(StoreError) -> [JobID]
    /// Jobs left `running` by a process that died become `interrupted`, and each is queued
    /// again as a new attempt while it has attempts left.
    func recoverInterrupted(maxAttempts: Int, now: Date) async throws(StoreError) -> (interrupted: [JobID], requeued: [Job])
    /// Ends a running job as `interrupted` and queues it again as a new attempt while it has
    /// attempts left; the job's log ends saying so.
    @discardableResult
    func interrupt(_ id: JobID, reason: String, maxAttempts: Int, now: Date) async throws(StoreError) -> Job?

    // MARK: Leases (several replicas)

    /// Takes the next job to run, fairly, and leases it to `replica` until `now + leaseFor`:
    /// among apps with queued jobs and none running, the app that started a job longest ago;
    /// of its queue with the oldest job (deploys share one, each pull request's previews have
    /// their own), the newest job runs and the older ones are superseded by it. At most one job of
    /// an app runs at once, whichever replicas claim (a unique index stands behind it).
    /// Nil when nothing can start.
    func claim(replica: String, leaseFor: Duration, now: Date, excludingApps: Set<String>) async throws(StoreError) -> Claim?
    /// Puts a job just claimed back in the queue, as if never started (its dependencies turned
    /// out not ready); false when it is no longer running.
    func release(_ id: JobID) async throws(StoreError) -> Bool
    /// Extends the leases `replica` holds on `jobs`; returns the ones it still holds (a job
    /// missing from the answer was taken from it: its steps must stop).
    func renewLeases(replica: String, jobs: [JobID], leaseFor: Duration, now: Date) async throws(StoreError) -> Set<JobID>
    /// Running jobs whose lease ran out (their replica died, froze or lost the database)
    /// become `interrupted`, and each is queued again while it has attempts left.
    func expireLeases(maxAttempts: Int, now: Date) async throws(StoreError) -> (interrupted: [JobID], requeued: [Job])

    // MARK: Reconciler turns

    /// Takes the turn to reconcile `app` for `leaseFor`, unless another replica holds it, or
    /// (with `unlessReconciledSince`) someone reconciled the app after that moment. Returns the
    /// app's stored status and back-off, or nil when it is not this replica's turn.
    func takeReconcileTurn(app: String, replica: String, leaseFor: Duration, unlessReconciledSince: Date?,
                           now: Date) async throws(StoreError) -> ReconcileRecord?
    /// Stores what the turn found (status, back-off) and gives the turn back.
    func endReconcileTurn(_ record: ReconcileRecord, replica: String) async throws(StoreError)
    /// Every app's stored reconcile status, whichever replica wrote it.
    func reconcileRecords() async throws(StoreError) -> [ReconcileRecord]
    /// Every app's newest job and newest healthy deploy, in one query (the app views' cost
    /// must not grow with the apps a second time).
    func appSummaries() async throws(StoreError) -> [String: AppSummary]

    // MARK: Steps and logs

    /// Records the steps a job is going to run, all `pending`, in order.
    func planSteps(_ id: JobID, steps: [StepPlan]) async throws(StoreError)
    /// Updates one step's status (and start, end, exit code when given).
    func updateStep(_ id: JobID, index: Int, status: StepStatus, exitCode: Int?, message: String?, now: Date) async throws(StoreError)
    func steps(_ id: JobID) async throws(StoreError) -> [StepRecord]
    /// Appends `text` to a running job's log as the next chunk. A job that is no longer
    /// running refuses (`StoreError.notRunning`): a late write of a replica that lost the
    /// job's lease fails instead of landing (a job id runs once; its retry is a new job).
    func appendLog(jobID: JobID, text: String, now: Date) async throws(StoreError)
    /// The chunks of a job's log after `seq` (0 for all), in order.
    func logChunks(jobID: JobID, after seq: Int64, limit: Int) async throws(StoreError) -> [LogChunk]

    // MARK: Deploys

    /// Records what a deploy applied (the inventory prune works from next time).
    func recordDeployment(app: String, jobID: JobID, commit: String, objects: JSONValue, manifests: JSONValue,
                          healthy: Bool, now: Date) async throws(StoreError)
    /// An app's deploys, newest first (its deploy history).
    func deployments(app: String, healthyOnly: Bool, limit: Int) async throws(StoreError) -> [DeploymentRecord]
    /// Marks a commit that failed and was rolled back: it is not deployed again.
    func markBad(app: String, commit: String, jobID: JobID, reason: String, now: Date) async throws(StoreError)
    /// Why a commit was marked bad, or nil when it was not.
    func badCommit(app: String, commit: String) async throws(StoreError) -> BadCommit?

    // MARK: Rollouts

    /// Writes an app's rollout state (one per app). A rollout of another job replaces the
    /// app's earlier one and clears any promote or abort asked of it.
    func saveRollout(_ state: RolloutState, now: Date) async throws(StoreError)
    /// The app's newest rollout, with what was asked of it.
    func rollout(app: String) async throws(StoreError) -> RolloutRecord?
    /// What was asked of the app's rollout, without reading its state (a waiting rollout
    /// looks every second).
    func rolloutRequests(app: String) async throws(StoreError) -> RolloutRequests?
    /// Asks the app's running rollout to promote or abort; nil when no rollout of the app runs.
    func requestRollout(app: String, _ action: RolloutAction, by who: String, now: Date) async throws(StoreError) -> RolloutRecord?
    /// Forgets a promotion once a pause ended on it (the next pause waits for another).
    func consumePromotion(app: String, jobID: JobID) async throws(StoreError)

    // MARK: Step processes

    /// Remembers a step's process group while its job runs.
    func recordStepProcess(_ process: StepProcess, now: Date) async throws(StoreError)
    /// The process groups of steps of jobs still marked running that were started on `host`
    /// in boot `bootID`: what a crash may have left behind there. With `leaseExpiredAt`, only
    /// jobs whose lease ran out by then (in a shared store, live replicas' jobs are not leftovers).
    func leftoverProcesses(host: String, bootID: String, leaseExpiredAt: Date?) async throws(StoreError) -> [StepProcess]

    // MARK: Commit status outbox

    /// Queues a job's state for its forge (reporting never blocks or fails the job).
    func queueCommitStatus(app: String, jobID: JobID, commit: String, state: CommitState, description: String?, now: Date) async throws(StoreError)
    /// The oldest unsent statuses, at most one per job (a job's statuses go out in order),
    /// whose time has come; each is leased to the caller until `leaseUntil` so that two
    /// replicas never send the same one.
    func claimCommitStatuses(now: Date, leaseUntil: Date, limit: Int) async throws(StoreError) -> [CommitStatusRecord]
    /// The forge took it.
    func commitStatusSent(_ id: Int64, now: Date) async throws(StoreError)
    /// Try again at `retryAt`.
    func commitStatusRetry(_ id: Int64, retryAt: Date, error: String) async throws(StoreError)
    /// The forge will not take it (401, 403, 404, 422): never tried again, nor the job's later ones.
    func commitStatusRefused(_ id: Int64, error: String, now: Date) async throws(StoreError)
    /// Adds a line to a job's log whatever its state (a forge's refusal is reported after the
    /// job may have ended).
    func appendNote(jobID: JobID, text: String, now: Date) async throws(StoreError)

    // MARK: Pull-request comments

    /// Sets the text of the one comment an app keeps on a pull request (created on first
    /// delivery, edited after): a newer text replaces one not yet sent.
    func queuePreviewComment(app: String, pullRequest: Int, jobID: JobID, body: String, now: Date) async throws(StoreError)
    /// Comments whose newest text is not on the forge yet and whose time has come, leased to
    /// the caller until `leaseUntil`.
    func claimPreviewComments(now: Date, leaseUntil: Date, limit: Int) async throws(StoreError) -> [PreviewCommentRecord]
    /// The forge has `revision` of the text, under the comment `commentID` (Bitbucket Data
    /// Center's edits also need the comment's `version`).
    func previewCommentSent(_ record: PreviewCommentRecord, commentID: String, commentVersion: Int?, now: Date) async throws(StoreError)
    /// Try again at `retryAt`; with `forgetComment` the comment is created anew (it was deleted);
    /// with `commentVersion`, the edit names that version (Data Center: someone edited it).
    func previewCommentRetry(_ record: PreviewCommentRecord, retryAt: Date, error: String, forgetComment: Bool,
                             commentVersion: Int?) async throws(StoreError)
    /// The forge will not take it: not tried again until a newer preview's text.
    func previewCommentRefused(_ record: PreviewCommentRecord, error: String, now: Date) async throws(StoreError)

    // MARK: Web sessions

    /// Keeps a signed-in browser's session (and forgets the expired ones).
    func createSession(_ session: WebSession, now: Date) async throws(StoreError)
    /// The session with this id digest, unless it has expired.
    func session(digest: String, now: Date) async throws(StoreError) -> WebSession?
    /// Ends a session (logout).
    func deleteSession(digest: String) async throws(StoreError)
}

/// One step of a job's plan.
public struct StepPlan: Sendable, Hashable {
    public var stage: String
    public var name: String

    public init(stage: String, name: String) {
        self.stage = stage
        self.name = name
    }
}

/// A commit rolled back as bad, and why.
/// An app's rollout as stored, with the promote or abort asked of it (and by whom).
public struct RolloutRecord: Sendable, Equatable {
    public var state: RolloutState
    public var promoteRequestedBy: String?
    public var abortRequestedBy: String?

    public init(state: RolloutState, promoteRequestedBy: String? = nil, abortRequestedBy: String? = nil) {
        self.state = state
        self.promoteRequestedBy = promoteRequestedBy
        self.abortRequestedBy = abortRequestedBy
    }
}

/// The promote and abort asked of an app's rollout, and the job that runs it.
public struct RolloutRequests: Sendable, Equatable {
    public var jobID: JobID
    public var promoteRequestedBy: String?
    public var abortRequestedBy: String?

    public init(jobID: JobID, promoteRequestedBy: String?, abortRequestedBy: String?) {
        self.jobID = jobID
        self.promoteRequestedBy = promoteRequestedBy
        self.abortRequestedBy = abortRequestedBy
    }
}

public struct BadCommit: Sendable, Hashable {
    public var jobID: JobID
    public var reason: String

    public init(jobID: JobID, reason: String) {
        self.jobID = jobID
        self.reason = reason
    }
}

/// The calls as the rest of Slipway makes them: the time is now, the usual limits.
extension JobStore {
    public func enqueue(push: PushEvent, app: String) async throws(StoreError) -> EnqueueResult {
        try await enqueue(push: push, app: app, now: Date())
    }

    public func recordIgnoredDelivery(app: String, forge: Forge, deliveryID: String, outcome: String) async throws(StoreError) {
        try await recordIgnoredDelivery(app: app, forge: forge, deliveryID: deliveryID, outcome: outcome, now: Date())
    }

    public func enqueue(app: String, ref: String, commit: String, trigger: JobTrigger, message: String? = nil) async throws(StoreError) -> Job {
        try await enqueue(app: app, ref: ref, commit: commit, trigger: trigger, message: message, now: Date())
    }

    public func requestCancel(id: JobID, by who: String) async throws(StoreError) -> Job? {
        try await requestCancel(id: id, by: who, now: Date())
    }

    /// `claim` with no app held back.
    public func claim(replica: String, leaseFor: Duration, now: Date) async throws(StoreError) -> Job? {
        try await claim(replica: replica, leaseFor: leaseFor, now: now, excludingApps: [])?.job
    }

    public func start(_ id: JobID) async throws(StoreError) -> Bool {
        try await start(id, now: Date())
    }

    public func finish(_ id: JobID, status: JobStatus, reason: String?) async throws(StoreError) {
        try await finish(id, status: status, reason: reason, now: Date())
    }

    public func updateStep(_ id: JobID, index: Int, status: StepStatus, exitCode: Int? = nil, message: String? = nil) async throws(StoreError) {
        try await updateStep(id, index: index, status: status, exitCode: exitCode, message: message, now: Date())
    }

    public func appendLog(jobID: JobID, text: String) async throws(StoreError) {
        try await appendLog(jobID: jobID, text: text, now: Date())
    }

    public func logChunks(jobID: JobID, after seq: Int64 = 0, limit: Int = 1000) async throws(StoreError) -> [LogChunk] {
        try await logChunks(jobID: jobID, after: seq, limit: limit)
    }

    public func recordDeployment(app: String, jobID: JobID, commit: String, objects: JSONValue, manifests: JSONValue,
                                 healthy: Bool) async throws(StoreError) {
        try await recordDeployment(app: app, jobID: jobID, commit: commit, objects: objects, manifests: manifests, healthy: healthy, now: Date())
    }

    public func deployments(app: String, healthyOnly: Bool = false) async throws(StoreError) -> [DeploymentRecord] {
        try await deployments(app: app, healthyOnly: healthyOnly, limit: 100)
    }

    /// The newest deploy of an app (only healthy ones when asked).
    public func lastDeployment(app: String, healthyOnly: Bool = false) async throws(StoreError) -> DeploymentRecord? {
        try await deployments(app: app, healthyOnly: healthyOnly, limit: 1).first
    }

    public func markBad(app: String, commit: String, jobID: JobID, reason: String) async throws(StoreError) {
        try await markBad(app: app, commit: commit, jobID: jobID, reason: reason, now: Date())
    }

    public func saveRollout(_ state: RolloutState) async throws(StoreError) {
        try await saveRollout(state, now: Date())
    }

    public func requestRollout(app: String, _ action: RolloutAction, by who: String) async throws(StoreError) -> RolloutRecord? {
        try await requestRollout(app: app, action, by: who, now: Date())
    }

    public func leftoverProcesses(host: String, bootID: String) async throws(StoreError) -> [StepProcess] {
        try await leftoverProcesses(host: host, bootID: bootID, leaseExpiredAt: nil)
    }

    /// Try the comment again at `retryAt`, as it is.
    public func previewCommentRetry(_ record: PreviewCommentRecord, retryAt: Date, error: String) async throws(StoreError) {
        try await previewCommentRetry(record, retryAt: retryAt, error: error, forgetComment: false, commentVersion: nil)
    }

    public func recordStepProcess(_ process: StepProcess) async throws(StoreError) {
        try await recordStepProcess(process, now: Date())
    }
}
