import GRDB

/// The database schema, as ordered migrations. A migration, once released, never changes:
/// add a new one instead.
enum Schema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-jobs-deliveries-logs") { db in
            try db.execute(sql: """
                CREATE TABLE jobs (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
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
                    created_at DOUBLE NOT NULL,
                    started_at DOUBLE,
                    finished_at DOUBLE,
                    cancel_requested INTEGER NOT NULL DEFAULT 0
                );
                CREATE INDEX jobs_by_app_status ON jobs(app, status, id);
                CREATE INDEX jobs_by_status ON jobs(status, id);
                CREATE INDEX jobs_by_revision ON jobs(app, ref, commit_sha);

                CREATE TABLE deliveries (
                    app TEXT NOT NULL,
                    delivery_id TEXT NOT NULL,
                    forge TEXT NOT NULL,
                    received_at DOUBLE NOT NULL,
                    outcome TEXT NOT NULL,
                    job_id INTEGER REFERENCES jobs(id) ON DELETE SET NULL,
                    PRIMARY KEY (app, delivery_id)
                ) WITHOUT ROWID;

                CREATE TABLE log_chunks (
                    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                    seq INTEGER NOT NULL,
                    created_at DOUBLE NOT NULL,
                    text TEXT NOT NULL,
                    PRIMARY KEY (job_id, seq)
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v2-runner") { db in
            try db.execute(sql: """
                ALTER TABLE jobs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
                ALTER TABLE jobs ADD COLUMN retry_of INTEGER REFERENCES jobs(id);

                CREATE TABLE job_steps (
                    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                    seq INTEGER NOT NULL,
                    stage TEXT NOT NULL,
                    name TEXT NOT NULL,
                    status TEXT NOT NULL,
                    started_at DOUBLE,
                    finished_at DOUBLE,
                    exit_code INTEGER,
                    PRIMARY KEY (job_id, seq)
                ) WITHOUT ROWID;
                """)
        }
        SQLiteJobStore.registerDeploymentMigrations(&migrator)
        SQLiteJobStore.registerProcessMigrations(&migrator)
        SQLiteJobStore.registerLeaseMigrations(&migrator)
        SQLiteJobStore.registerReconcileMigrations(&migrator)
        SQLiteJobStore.registerSessionMigrations(&migrator)
        SQLiteJobStore.registerCommitStatusMigrations(&migrator)
        SQLiteJobStore.registerPreviewMigrations(&migrator)
        SQLiteJobStore.registerRolloutMigrations(&migrator)
        return migrator
    }
}
