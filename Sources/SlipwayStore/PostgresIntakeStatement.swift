import PostgresNIO
import SlipwayCore

/// Queues one delivery's job in one statement (see `PostgresJobStore.enqueue(_:in:logger:)`),
/// prepared once per connection so PostgreSQL parses it once, not for every delivery (it is
/// still planned for each delivery's values: see `PostgresJobStore.startIntake`). Unprepared,
/// the intake benchmark ran at 1,105-1,178 pushes/s, prepared 1,377-1,470.
///
/// It finds the job of the same delivery id, else the newest of the same revision, and records
/// this delivery as its duplicate; else it inserts the job and its delivery and supersedes the
/// queued job of its queue. Every part sees the rows as they were before the statement, so the
/// new job is not among the ones it supersedes. A row per job: `part` says which it is.
struct PostgresIntakeStatement: PostgresPreparedStatement {
    typealias Row = PostgresRandomAccessRow

    static let sql = """
        WITH delivered AS (
            SELECT job_id FROM deliveries WHERE app = $1 AND delivery_id = $2 AND job_id IS NOT NULL
        ), existing AS (
            SELECT \(StoreSQL.jobColumns), EXISTS (SELECT 1 FROM delivered) AS same_delivery FROM jobs
            WHERE id = COALESCE((SELECT job_id FROM delivered),
                                (SELECT id FROM jobs WHERE app = $1 AND ref = $3 AND commit_sha = $4 AND trigger IN ($5, $6)
                                 ORDER BY id DESC LIMIT 1))
        ), duplicate AS (
            INSERT INTO deliveries (app, delivery_id, forge, received_at, outcome, job_id)
            SELECT app, $2, $7, $8, 'duplicate', id FROM existing WHERE NOT same_delivery
            ON CONFLICT (app, delivery_id) DO UPDATE SET forge = EXCLUDED.forge, received_at = EXCLUDED.received_at,
                outcome = EXCLUDED.outcome, job_id = EXCLUDED.job_id
        ), job AS (
            INSERT INTO jobs (app, forge, delivery_id, trigger, ref, before_sha, commit_sha, message, author, changed_paths, status, created_at,
                              pull_request, from_fork)
            SELECT $1, $7, $2, $9, $3, $10, $4, $11, $12, $13, 'queued', $8, $14, $15
            WHERE NOT EXISTS (SELECT 1 FROM existing)
            RETURNING \(StoreSQL.jobFields)
        ), delivery AS (
            INSERT INTO deliveries (app, delivery_id, forge, received_at, outcome, job_id)
            SELECT app, $2, forge, $8, 'queued', id FROM job
            ON CONFLICT (app, delivery_id) DO UPDATE SET forge = EXCLUDED.forge, received_at = EXCLUDED.received_at,
                outcome = EXCLUDED.outcome, job_id = EXCLUDED.job_id
        ), superseded AS (
            UPDATE jobs SET status = 'superseded', reason = 'superseded by job ' || (SELECT id FROM job), finished_at = $8
            WHERE app = $1 AND status = 'queued' AND \(StoreSQL.laneKey) = $16 AND id < (SELECT id FROM job)
            RETURNING \(StoreSQL.jobFields)
        )
        SELECT 'existing' AS part, \(StoreSQL.jobFields), retried_as FROM existing
        UNION ALL SELECT 'created', \(StoreSQL.jobFields), NULL::bigint FROM job
        UNION ALL SELECT 'superseded', \(StoreSQL.jobFields), NULL::bigint FROM superseded
        """

    /// Stated, not inferred from the first delivery's values, where those can be NULL.
    static let bindingDataTypes: [PostgresDataType] = [
        .text, .text, .text, .text, .text, .text, .text, .float8, .text, .text, .text, .text, .text, .int8, .bool, .text,
    ]

    var entry: IntakeEntry

    func makeBindings() throws -> PostgresBindings {
        let incoming = entry.incoming
        var bindings = PostgresBindings(capacity: 16)
        bindings.append(entry.app)
        bindings.append(incoming.deliveryID)
        bindings.append(incoming.ref)
        bindings.append(incoming.commit)
        bindings.append(incoming.sameRevision.0)
        bindings.append(incoming.sameRevision.1)
        bindings.append(incoming.forge.rawValue)
        bindings.append(entry.now.timeIntervalSince1970)
        bindings.append(incoming.trigger.rawValue)
        bindings.append(incoming.before)
        bindings.append(incoming.message)
        bindings.append(incoming.author)
        bindings.append(try incoming.changedPathsJSON())
        bindings.append(incoming.pullRequest.map(Int64.init))
        bindings.append(incoming.fromFork)
        bindings.append(incoming.lane)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> PostgresRandomAccessRow {
        row.makeRandomAccess()
    }
}
