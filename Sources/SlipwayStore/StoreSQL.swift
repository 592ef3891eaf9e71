/// SQL both stores use word for word (SQLite and PostgreSQL read it alike).
enum StoreSQL {
    /// A job row with the id of the attempt that continues it.
    static let jobColumns = "*, (SELECT r.id FROM jobs r WHERE r.retry_of = jobs.id LIMIT 1) AS retried_as"
    /// Steps change only while their job runs: a late write of a replica that lost the job does not land.
    static let stepWhileRunning = "EXISTS (SELECT 1 FROM jobs j WHERE j.id = job_steps.job_id AND j.status = 'running')"
}
