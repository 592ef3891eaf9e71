import Logging
import PostgresNIO

/// The PostgreSQL schema, as ordered migrations (the same tables and meanings as the SQLite
/// schema). A released migration never changes: add a new one. Replicas that start together
/// take turns through an advisory lock.
enum PostgresSchema {
    static let migrations: [(name: String, sql: [String])] = [
        ("v1-jobs", [
            """
            CREATE TABLE jobs (
                id BIGSERIAL PRIMARY KEY,
                app TEXT NOT NULL,
                forge TEXT,
                delivery_id TEXT,
                trigger TEXT NOT NULL,
                ref TEXT NOT NULL,
                before_sha TEXT,
                commit_sha TEXT NOT NULL,
                message TEXT,
                author TEXT,
                changed_paths TEXT,
                status TEXT NOT NULL,
                reason TEXT,
                created_at DOUBLE PRECISION NOT NULL,
                started_at DOUBLE PRECISION,
                finished_at DOUBLE PRECISION,
                cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
                attempt INTEGER NOT NULL DEFAULT 1,
                retry_of BIGINT REFERENCES jobs(id)
            )
            """,
            "CREATE INDEX jobs_by_app_status ON jobs(app, status, id)",
            "CREATE INDEX jobs_by_status ON jobs(status, id)",
            "CREATE INDEX jobs_by_revision ON jobs(app, ref, commit_sha)",
            "CREATE INDEX jobs_by_retry_of ON jobs(retry_of)",
            // Behind the per-app lock of enqueue: one first job per pushed revision, whichever
            // replica the deliveries reached.
            "CREATE UNIQUE INDEX jobs_one_per_revision ON jobs(app, ref, commit_sha) WHERE trigger IN ('push', 'poll') AND retry_of IS NULL",
            """
            CREATE TABLE deliveries (
                app TEXT NOT NULL,
                delivery_id TEXT NOT NULL,
                forge TEXT NOT NULL,
                received_at DOUBLE PRECISION NOT NULL,
                outcome TEXT NOT NULL,
                job_id BIGINT REFERENCES jobs(id) ON DELETE SET NULL,
                PRIMARY KEY (app, delivery_id)
            )
            """,
            """
            CREATE TABLE log_chunks (
                job_id BIGINT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                seq BIGINT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                text TEXT NOT NULL,
                PRIMARY KEY (job_id, seq)
            )
            """,
            """
            CREATE TABLE job_steps (
                job_id BIGINT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                seq INTEGER NOT NULL,
                stage TEXT NOT NULL,
                name TEXT NOT NULL,
                status TEXT NOT NULL,
                started_at DOUBLE PRECISION,
                finished_at DOUBLE PRECISION,
                exit_code INTEGER,
                PRIMARY KEY (job_id, seq)
            )
            """,
            """
            CREATE TABLE deployments (
                id BIGSERIAL PRIMARY KEY,
                app TEXT NOT NULL,
                job_id BIGINT NOT NULL,
                commit_sha TEXT NOT NULL,
                objects TEXT NOT NULL,
                manifests TEXT NOT NULL,
                healthy BOOLEAN NOT NULL,
                created_at DOUBLE PRECISION NOT NULL
            )
            """,
            "CREATE INDEX deployments_by_app ON deployments(app, id)",
            """
            CREATE TABLE bad_commits (
                app TEXT NOT NULL,
                commit_sha TEXT NOT NULL,
                job_id BIGINT NOT NULL,
                reason TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (app, commit_sha)
            )
            """,
            """
            CREATE TABLE step_processes (
                job_id BIGINT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                process_group INTEGER NOT NULL,
                host TEXT NOT NULL,
                boot_id TEXT NOT NULL,
                started_at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (job_id, process_group)
            )
            """,
        ]),
        ("v2-leases", [
            "ALTER TABLE jobs ADD COLUMN lease_owner TEXT",
            "ALTER TABLE jobs ADD COLUMN lease_expires_at DOUBLE PRECISION",
            "CREATE UNIQUE INDEX jobs_one_running_per_app ON jobs(app) WHERE status = 'running'",
        ]),
        ("v3-app-reconciles", [
            """
            CREATE TABLE app_reconciles (
                app TEXT PRIMARY KEY,
                owner TEXT,
                lease_expires_at DOUBLE PRECISION,
                status TEXT,
                corrections INTEGER NOT NULL DEFAULT 0,
                next_correction_allowed DOUBLE PRECISION,
                reconciled_at DOUBLE PRECISION
            )
            """,
        ]),
        ("v4-web-sessions", [
            """
            CREATE TABLE web_sessions (
                digest TEXT PRIMARY KEY,
                token_name TEXT NOT NULL,
                csrf_token TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                expires_at DOUBLE PRECISION NOT NULL
            )
            """,
            "CREATE INDEX web_sessions_by_expiry ON web_sessions(expires_at)",
        ]),
        ("v5-commit-statuses", [
            """
            CREATE TABLE commit_statuses (
                id BIGSERIAL PRIMARY KEY,
                app TEXT NOT NULL,
                job_id BIGINT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                commit_sha TEXT NOT NULL,
                state TEXT NOT NULL,
                description TEXT,
                created_at DOUBLE PRECISION NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_at DOUBLE PRECISION NOT NULL,
                leased_until DOUBLE PRECISION,
                sent_at DOUBLE PRECISION,
                refused TEXT,
                last_error TEXT
            )
            """,
            "CREATE INDEX commit_statuses_pending ON commit_statuses(job_id, id) WHERE sent_at IS NULL AND refused IS NULL",
        ]),
        ("v6-previews", [
            "ALTER TABLE jobs ADD COLUMN pull_request BIGINT",
            "ALTER TABLE jobs ADD COLUMN from_fork BOOLEAN NOT NULL DEFAULT FALSE",
            """
            CREATE TABLE preview_comments (
                app TEXT NOT NULL,
                pull_request BIGINT NOT NULL,
                job_id BIGINT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                body TEXT NOT NULL,
                revision INTEGER NOT NULL,
                sent_revision INTEGER NOT NULL DEFAULT 0,
                comment_id TEXT,
                comment_version INTEGER,
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_at DOUBLE PRECISION NOT NULL,
                leased_until DOUBLE PRECISION,
                refused TEXT,
                last_error TEXT,
                PRIMARY KEY (app, pull_request)
            )
            """,
        ]),
        ("v7-claim-order-index", [
            "CREATE INDEX jobs_by_app_started ON jobs(app, started_at)",
        ]),
        ("v8-step-messages", [
            "ALTER TABLE job_steps ADD COLUMN message TEXT",
        ]),
        ("v9-rollouts", [
            """
            CREATE TABLE rollouts (
                app TEXT PRIMARY KEY,
                job_id BIGINT NOT NULL,
                state TEXT NOT NULL,
                active BOOLEAN NOT NULL,
                promote_requested_by TEXT,
                abort_requested_by TEXT,
                updated_at DOUBLE PRECISION NOT NULL
            )
            """,
        ]),
    ]

    static func migrate(_ client: PostgresClient, logger: Logger) async throws {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(0, 1)", logger: logger)
            try await connection.query("""
                CREATE TABLE IF NOT EXISTS slipway_migrations (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())
                """, logger: logger)
            var applied: Set<String> = []
            for try await name in try await connection.query("SELECT name FROM slipway_migrations", logger: logger).decode(String.self) {
                applied.insert(name)
            }
            for migration in migrations where !applied.contains(migration.name) {
                for statement in migration.sql {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query("INSERT INTO slipway_migrations (name) VALUES (\(migration.name))", logger: logger)
            }
        }
    }
}
