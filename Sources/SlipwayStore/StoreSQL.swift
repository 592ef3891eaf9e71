/// SQL both stores use word for word (SQLite and PostgreSQL read it alike).
enum StoreSQL {
    /// Every app's newest job (previews left out) and newest healthy deploy's commit;
    /// `trueLiteral` is true as the database spells it (`1`, `TRUE`).
    static func appSummaries(trueLiteral: String) -> String {
        """
        SELECT apps.app AS app, j.id AS job_id, j.status AS job_status, d.commit_sha AS deployed_commit
        FROM (SELECT DISTINCT app FROM jobs WHERE trigger <> 'preview' UNION SELECT DISTINCT app FROM deployments) AS apps
        LEFT JOIN jobs j ON j.id = (SELECT MAX(id) FROM jobs WHERE app = apps.app AND trigger <> 'preview')
        LEFT JOIN deployments d ON d.id = (SELECT MAX(id) FROM deployments WHERE app = apps.app AND healthy = \(trueLiteral))
        """
    }

    /// A job's columns, in the order `SQLiteJobStore.job(from:)` reads them by position (by
    /// name, GRDB compares every column name case-insensitively: 5 % of the server's CPU at
    /// full intake).
    static let jobFields = """
        id, app, forge, delivery_id, trigger, ref, before_sha, commit_sha, message, author, status, reason, \
        created_at, started_at, finished_at, attempt, retry_of, pull_request, from_fork
        """
    /// A job row with the id of the attempt that continues it.
    static let jobColumns = jobFields + ", (SELECT r.id FROM jobs r WHERE r.retry_of = jobs.id LIMIT 1) AS retried_as"
    /// Which of an app's queues a job waits in: its deploys (push, poll, manual, self-heal) share
    /// one, each pull request's previews have their own. A claim takes the app's oldest queue
    /// first and runs its newest job; only that queue's older jobs are superseded, so a preview
    /// never supersedes a deploy, nor one pull request's preview another's.
    static let laneKey = "(CASE WHEN trigger = 'preview' THEN ref ELSE '' END)"
    /// Steps change only while their job runs: a late write of a replica that lost the job does not land.
    static let stepWhileRunning = "EXISTS (SELECT 1 FROM jobs j WHERE j.id = job_steps.job_id AND j.status = 'running')"
}
