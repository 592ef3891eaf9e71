import Foundation
import SlipwayCore
import SlipwayRunner
import SlipwayStore
import SlipwayTestSupport
import Testing

/// What a crashed server's steps left running is killed before their jobs run again.
@Suite struct LeftoverProcessTests {
    /// Starts `sleep 300` under the step guard (a process group of its own) with a job id in its
    /// environment, as a step of that job would run.
    static func startGroup(jobID: JobID) throws -> Process {
        let process = Process()
        let binary = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        process.executableURL = URL(fileURLWithPath: binary).deletingLastPathComponent().appendingPathComponent("slipway-step-guard")
        process.arguments = ["/bin/sleep", "300"]
        process.environment = ["SLIPWAY_JOB_ID": String(jobID), "PATH": "/usr/bin:/bin"]
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return process
    }

    @Test func aRecordedGroupIsKilledBeforeTheRetryAndAForeignOneIsLeftAlone() async throws {
        let dataDir = try TemporaryDirectory("slipway-leftover")
        defer { dataDir.remove() }
        let leftover = try Self.startGroup(jobID: 1)
        // The same kind of group, but not this job's: a number reused by something else.
        let foreign = try Self.startGroup(jobID: 999)
        defer { foreign.terminate() }
        try await waitFor { ProcessReaper().isAlive(leftover.processIdentifier) && ProcessReaper().isAlive(foreign.processIdentifier) }

        // The retry's step says whether the leftover group still exists when it runs.
        let repository = try GitRepository.make(files: [".slipway.yaml": """
            stages:
              build:
                - {name: look, run: if kill -0 -\(leftover.processIdentifier) 2>/dev/null; then echo leftover alive; else echo leftover gone; fi}
            """])
        defer { repository.directory.remove() }
        let host = HostIdentity.current()
        do {
            // What the crashed server left in its store: job 1 running, with its two groups.
            let store = try SQLiteJobStore(path: dataDir.path + "/slipway.sqlite")
            let job = try await store.enqueue(app: "github", ref: "refs/heads/main", commit: try repository.head(), trigger: .manual)
            #expect(try await store.start(job.id))
            for process in [leftover, foreign] {
                try await store.recordStepProcess(StepProcess(jobID: job.id, processGroup: process.processIdentifier,
                                                              host: host.host, bootID: host.bootID))
            }
            #expect(try await store.leftoverProcesses(host: host.host, bootID: host.bootID).count == 2)
            #expect(try await store.leftoverProcesses(host: host.host, bootID: "another-boot").isEmpty)
        }

        try await withLiveServer(runner: true, configure: { config in
            config.dataDir = dataDir.path
            config.apps[0].repoURL = repository.url
        }) { server in
            let retry = try await server.waitForEnd(of: 2)
            let log = try await server.log(of: 2)
            #expect(retry.status == .succeeded, "\(log)")
            #expect(retry.retryOf == 1 && retry.attempt == 2)
            #expect(log.contains("[build/look] leftover gone"), "\(log)")
            #expect(!leftover.isRunning)
            #expect(foreign.isRunning)
            #expect(try await server.store.leftoverProcesses(host: host.host, bootID: host.bootID).isEmpty)
        }
    }

    @Test func aCancelledStepGetsSIGTERMThenSIGKILLAfterTheGrace() async throws {
        let repository = try GitRepository.make(files: [".slipway.yaml": """
            stages:
              build:
                - name: stubborn
                  run: trap 'echo got TERM, not stopping' TERM; echo started; while true; do sleep 0.1 || true; done
            """])
        defer { repository.directory.remove() }
        try await withLiveServer(runner: true, configure: { config in
            config.apps[0].repoURL = repository.url
            config.killGrace = .seconds(1)
        }) { server in
            let id = try await server.push(app: "github", commit: try repository.head())
            try await waitFor { try await server.log(of: id).contains("[build/stubborn] started") }
            _ = try await server.withClient { client in try await client.cancel(id) }
            let job = try await server.waitForEnd(of: id)
            let log = try await server.log(of: id)
            #expect(job.status == .cancelled)
            #expect(log.contains("step build/stubborn cancelled: SIGTERM sent to its processes; SIGKILL in 1.0 seconds if they are still running"), "\(log)")
            #expect(log.contains("[build/stubborn] got TERM, not stopping"), "\(log)")
            #expect(log.contains("step build/stubborn still running 1.0 seconds after SIGTERM: SIGKILL sent"), "\(log)")
        }
    }
}
