public import Foundation
import GRDB
public import SlipwayCore

extension SQLiteJobStore {
    static func registerProcessMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v4-step-processes") { db in
            try db.execute(sql: """
                CREATE TABLE step_processes (
                    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                    process_group INTEGER NOT NULL,
                    host TEXT NOT NULL,
                    boot_id TEXT NOT NULL,
                    started_at DOUBLE NOT NULL,
                    PRIMARY KEY (job_id, process_group)
                ) WITHOUT ROWID;
                CREATE INDEX jobs_by_retry_of ON jobs(retry_of);
                """)
        }
    }

    /// Remembers a step's process group while its job runs.
    public func recordStepProcess(_ process: StepProcess, now: Date) async throws(StoreError) {
        try await write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO step_processes (job_id, process_group, host, boot_id, started_at) VALUES (?, ?, ?, ?, ?)",
                           arguments: [process.jobID, process.processGroup, process.host, process.bootID, now.timeIntervalSince1970])
        }
    }

    /// The process groups of steps of jobs still marked running that were started on `host`
    /// in its current boot: what a crash may have left behind there.
    public func leftoverProcesses(host: String, bootID: String, leaseExpiredAt: Date?) async throws(StoreError) -> [StepProcess] {
        try await read { db in
            try Row.fetchAll(db, sql: """
                SELECT p.job_id, p.process_group FROM step_processes p JOIN jobs j ON j.id = p.job_id
                WHERE j.status = 'running' AND p.host = ? AND p.boot_id = ?
                AND (? IS NULL OR j.lease_expires_at IS NULL OR j.lease_expires_at < ?)
                ORDER BY p.job_id, p.process_group
                """, arguments: [host, bootID, leaseExpiredAt?.timeIntervalSince1970, leaseExpiredAt?.timeIntervalSince1970])
                .map { StepProcess(jobID: $0["job_id"], processGroup: $0["process_group"], host: host, bootID: bootID) }
        }
    }
}
