import Foundation
import SlipwayCore
import SlipwayDeploy
import SlipwayForge
import SlipwayGit
import SlipwayKube
import SlipwayStore

/// The periodic check of one app: its branch head, then drift and health of every object.
extension Reconciler {
    /// One tick for one app.
    func reconcile(_ app: AppConfig) async {
        let started = ContinuousClock.now
        var status = statuses[app.name] ?? AppStatus(app: app.name)
        status.reconciledAt = now()
        let latest = try? await store.latestJob(app: app.name)
        status.lastJob = latest?.id
        status.lastJobStatus = latest?.status.rawValue

        // 1. A push no webhook announced.
        do {
            waiting[app.name] = "git: reading the branches of \(app.repoURL)"
            guard let head = try await branchHeads(for: app).get()[app.branch] else {
                throw GitError(.commitNotFound, "branch \(app.branch) is not in \(app.repoURL)")
            }
            status.branchHead = head
            if latest?.commit != head, try await !store.hasJob(app: app.name, commit: head), await concerns(app, head: head, since: latest?.commit) {
                let job = try await store.enqueue(app: app.name, ref: PushEvent.branchPrefix + app.branch, commit: head, trigger: .poll,
                                                  message: "found by the reconciler: no webhook announced it", now: now())
                logger.notice("missed push found", metadata: ["app": "\(app.name)", "commit": "\(head)", "job-id": "\(job.id)"])
                await StatusOutbox(config: config, store: store).note(job, .queued, now: now())
                metrics?.pollJob(app: app.name)
                jobsChanged()
            }
        } catch {
            if !Task.isCancelled { logger.warning("cannot read the remote branch head", metadata: ["app": "\(app.name)", "error": "\(error)"]) }
            status.message = "git: \(error)"
        }

        // 2. Drift and health against the last applied revision.
        if let target = app.target {
            waiting[app.name] = "cluster \(target.cluster): checking the app's objects"
            await detectDrift(app: app, target: target, status: &status)
        } else {
            status.sync = .unknown
            status.health = nil
        }
        waiting[app.name] = nil
        status.nextCorrectionAt = schedule.nextCorrection(app.name)
        statuses[app.name] = status
        metrics?.reconciled(app: app.name, sync: status.sync.rawValue, health: status.health, drifted: status.drifted.count,
                            duration: ContinuousClock.now - started)
    }

    /// The branch heads of the app's repository: one remote read serves every app of that
    /// repository (a monorepo's dozens) for half the shortest interval among them, so the
    /// forge sees about two reads a repository per interval, not one per app. Apps that come
    /// while the read is under way wait for it rather than read again; a read that takes longer
    /// than `git_timeout` fails for all of them.
    func branchHeads(for app: AppConfig) async -> Result<[String: String], GitError> {
        let key = RepositoryKey(url: app.repoURL, credentials: app.repositoryAuth)
        if let read = branchReads[key], !read.finished || now().timeIntervalSince(read.at) < branchReadLifetime[key] ?? 0 {
            return await read.heads.value
        }
        let (mirrors, limit) = (self.mirrors, settings.gitTimeout)
        let task = Task { () -> Result<[String: String], GitError> in
            do {
                return .success(try await withDeadline(limit) { try await mirrors.remoteHeads(in: app.repoURL, credentials: app.repositoryAuth) })
            } catch let error as GitError {
                return .failure(error)
            } catch is DeadlinePassed {
                return .failure(GitError(.network, "\(app.repoURL) did not answer within \(limit) (reconciler.git_timeout)"))
            } catch {
                return .failure(GitError(.network, "reading the branches of \(app.repoURL): \(error)"))
            }
        }
        let started = now()
        branchReads[key] = BranchRead(at: started, heads: task)
        metrics?.branchRead()
        let heads = await task.value
        // Served from when it was answered; a refresh in between may have replaced it.
        if branchReads[key]?.at == started {
            branchReads[key]?.at = now()
            branchReads[key]?.finished = true
        }
        return heads
    }

    /// Whether a new branch head concerns a monorepo app: its `paths` match a file changed
    /// since the app's last job (the mirror's diff); judged once per head.
    private func concerns(_ app: AppConfig, head: String, since previous: String?) async -> Bool {
        guard !app.paths.isEmpty else { return true }
        if unconcernedHeads[app.name] == head { return false }
        do {
            let changed = try await mirrors.changedPaths(from: previous, to: head, in: app.repoURL, credentials: app.repositoryAuth)
            guard app.paths.matchesAny(changed) else {
                unconcernedHeads[app.name] = head
                logger.info("new commits do not concern the app", metadata: ["app": "\(app.name)", "commit": "\(head)", "changed-files": "\(changed.count)"])
                return false
            }
        } catch {
            logger.warning("cannot read the changed files; queueing the commit", metadata: ["app": "\(app.name)", "error": "\(error)"])
        }
        return true
    }

    private func detectDrift(app: AppConfig, target: DeployTarget, status: inout AppStatus) async {
        guard let admin = clusters[target.cluster] else {
            status.sync = .unknown
            status.message = "cluster '\(target.cluster)' is not available"
            return
        }
        let client = admin.impersonating(target.impersonatedUser)
        let record: DeploymentRecord?
        do {
            record = try await store.lastDeployment(app: app.name, healthyOnly: true)
        } catch {
            status.sync = .unknown
            status.message = "\(error)"
            return
        }
        guard let record else {
            status.sync = .unknown
            status.message = "nothing deployed yet"
            return
        }
        status.deployedCommit = record.commit
        let manifests = Manifest.stored(record.manifests, commit: record.commit)
        watchKinds(of: manifests, cluster: target.cluster)
        var report: DriftReport
        let limit = settings.clusterTimeout
        do {
            let applySetID = Deployer.applySetID(app: app.name, namespace: target.namespace)
            (report, _) = try await withDeadline(limit) {
                try await DriftDetector(client: client).detect(desired: manifests, applySetID: applySetID, defaultNamespace: target.namespace)
            }
            troubledClusters[target.cluster] = nil
        } catch {
            status.sync = .unknown
            status.health = nil
            if error is DeadlinePassed {
                // Its other apps go one at a time until it answers again.
                troubledClusters[target.cluster] = now().addingTimeInterval(limit.seconds * 2)
                status.message = "cluster \(target.cluster): no answer within \(limit) (reconciler.cluster_timeout)"
            } else {
                status.message = "cluster: \(error)"
            }
            if !Task.isCancelled { logger.warning("drift check failed", metadata: ["app": "\(app.name)", "error": "\(error)"]) }
            return
        }
        // While a rollout runs, the target's replicas are its doing, not drift.
        let stored = (try? await store.rollout(app: app.name))?.state
        let rollout = stored?.isActive == true ? stored : nil
        if let rollout {
            let parts = rollout.target.split(separator: "/", maxSplits: 1).map(String.init)
            let reference = ObjectReference(apiVersion: "apps/v1", kind: parts.first ?? "Deployment", namespace: rollout.namespace, name: parts.last ?? "")
            report = report.ignoringRollout(of: reference.description)
        }
        status.apply(report, deployed: record.commit)
        if let rollout {
            status.message = "rollout of \(rollout.target) at step \(min(rollout.step + 1, rollout.steps.count))/\(rollout.steps.count) (\(rollout.phase.rawValue)): its replicas are not drift"
                + (report.inSync ? "" : "; \(report.drifted.count) object(s) drifted from \(record.commit.prefix(12))")
        }
        await correctDrift(app: app, target: target, report: report, deployed: record.commit, status: &status)
    }

    /// Queues a self-heal job where the app asks for one, with back-off, never over a queued or
    /// running job nor for a revision rolled back as bad.
    func correctDrift(app: AppConfig, target: DeployTarget, report: DriftReport, deployed commit: String, status: inout AppStatus) async {
        guard target.driftPolicy == .correct else { return }
        let queued = (try? await store.jobs(JobQuery(app: app.name, status: .queued, limit: 1)).isEmpty == false) == true
        let running = try? await store.jobs(JobQuery(app: app.name, status: .running, limit: 1)).isEmpty == false
        guard !queued, running == false, schedule.shouldCorrect(app.name, drifted: !report.inSync, now: now()) else { return }
        if (try? await store.badCommit(app: app.name, commit: commit)) != nil { return }
        do {
            let job = try await store.enqueue(app: app.name, ref: PushEvent.branchPrefix + app.branch, commit: commit, trigger: .selfHeal,
                                              message: "drift: \(report.drifted.map(\.object).joined(separator: ", "))", now: now())
            status.message = "drift found; self-heal job \(job.id) re-applies \(commit.prefix(12))"
            logger.notice("self-heal queued", metadata: ["app": "\(app.name)", "job-id": "\(job.id)"])
            jobsChanged()
        } catch {
            status.message = "cannot queue a self-heal job: \(error)"
        }
    }
}

extension AppStatus {
    /// Sync, health, drift and the message from a drift report.
    mutating func apply(_ report: DriftReport, deployed commit: String) {
        sync = report.inSync ? .synced : .outOfSync
        health = report.overallHealth.rawValue
        drifted = report.drifted
        objectHealth = report.health
        objectCount = report.objectCount
        message = report.inSync ? nil : "\(report.drifted.count) object(s) drifted from \(commit.prefix(12))"
    }

    /// The report this status was made from.
    var report: DriftReport { DriftReport(drifted: drifted, health: objectHealth, objectCount: objectCount) }
}
