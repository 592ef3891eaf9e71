public import Foundation
import GRDB
public import SlipwayCore

/// Where a step's process group runs: enough to find it again after a crash, and to never
/// signal a group on another machine or from before a reboot.
public struct StepProcess: Sendable, Hashable {
    public var jobID: JobID
    public var processGroup: Int32
    /// The machine (its machine-id, or host name).
    public var host: String
    /// The kernel's boot id: a process group from an earlier boot is long gone.
    public var bootID: String

    public init(jobID: JobID, processGroup: Int32, host: String, bootID: String) {
        self.jobID = jobID
        self.processGroup = processGroup
        self.host = host
        self.bootID = bootID
    }
}

extension JobStore {
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
    public func recordStepProcess(_ process: StepProcess, now: Date = Date()) async throws(StoreError) {
        try await write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO step_processes (job_id, process_group, host, boot_id, started_at) VALUES (?, ?, ?, ?, ?)",
                           arguments: [process.jobID, process.processGroup, process.host, process.bootID, now.timeIntervalSince1970])
        }
    }

    /// The process groups of steps of jobs still marked running that were started on `host`
    /// in its current boot: what a crash may have left behind there.
    public func leftoverProcesses(host: String, bootID: String) throws(StoreError) -> [StepProcess] {
        try read { db in
            try Row.fetchAll(db, sql: """
                SELECT p.job_id, p.process_group FROM step_processes p JOIN jobs j ON j.id = p.job_id
                WHERE j.status = 'running' AND p.host = ? AND p.boot_id = ? ORDER BY p.job_id, p.process_group
                """, arguments: [host, bootID])
                .map { StepProcess(jobID: $0["job_id"], processGroup: $0["process_group"], host: host, bootID: bootID) }
        }
    }
}
