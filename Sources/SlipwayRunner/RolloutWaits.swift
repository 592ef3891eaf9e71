import SlipwayCore

/// The jobs whose rollout is waiting (a pause, an analysis between measurements): such a job
/// holds no worker meanwhile, so a rollout paused for hours until someone promotes it does
/// not keep the other apps' jobs queued.
actor RolloutWaits {
    private(set) var jobs: Set<JobID> = []

    /// Notes whether `id` waits; true when that changed.
    @discardableResult
    func set(_ id: JobID, waiting: Bool) -> Bool {
        waiting ? jobs.insert(id).inserted : jobs.remove(id) != nil
    }
}
