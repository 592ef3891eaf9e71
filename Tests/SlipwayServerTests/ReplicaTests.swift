import Foundation
import SlipwayClient
import SlipwayCore
import SlipwayStore
import SlipwayTestSupport
import SlipwayWebhooks
import Testing

/// Three `slipway serve` processes on one PostgreSQL, as replicas are deployed: signed pushes
/// spread over them, one killed with -9 in the middle.
@Suite(.serialized, .enabled(if: StoreKind.available.contains(.postgres), "needs the test PostgreSQL (script/test starts it)"))
struct ReplicaTests {
    static let apps = 50
    static let pushes = 2000
    static let linesPerJob = 20

    /// One step line: `start|end APP JOB SERVER-PID SECONDS`.
    struct Mark {
        var start: Bool
        var app: String
        var job: JobID
        var server: Int32
        var time: Double
    }

    @Test(.timeLimit(.minutes(15)))
    func threeReplicasOneKilledEveryDeliveryAtMostOneJobEveryJobOnceNoAppTwiceAtOnce() async throws {
        let dir = try TemporaryDirectory("slipway-replicas")
        defer { dir.remove() }
        let place = try await StoreUnderTest(.postgres)
        let marks = dir.path + "/marks"
        // Every step records when it starts and ends, and under which server (its guard's parent).
        let repository = try GitRepository.make(files: [".slipway.yaml": """
            stages:
              build:
                - name: work
                  run: |
                    server=$(cut -d' ' -f4 /proc/$PPID/stat)
                    echo "start $SLIPWAY_APP $SLIPWAY_JOB_ID $server $(date +%s.%N)" >> \(marks)
                    for i in $(seq 1 \(Self.linesPerJob)); do echo "line $i"; done
                    sleep 0.3
                    echo "end $SLIPWAY_APP $SLIPWAY_JOB_ID $server $(date +%s.%N)" >> \(marks)
            """])
        defer { repository.directory.remove() }
        var commits: [String] = []
        for index in 0..<(Self.pushes / Self.apps) {
            commits.append(try repository.commit(files: ["n": "\(index)"], message: "commit \(index)"))
        }

        // Fifty apps, each its own repository (a link to the one made above): apps sharing a
        // repository would each get a job for every push (monorepo intake).
        let links = try TemporaryDirectory("slipway-repo-links")
        defer { links.remove() }
        for index in 0..<Self.apps {
            try FileManager.default.createSymbolicLink(atPath: links.url.appendingPathComponent("app\(index)").path, withDestinationPath: repository.path)
        }
        let appsYAML = (0..<Self.apps).map { "  - {name: app\($0), repo: file://\(links.url.appendingPathComponent("app\($0)").path), forge: github, webhook_secrets: [{env: HOOK_SECRET}]}" }
        let environment = ["HOOK_SECRET": WebhookFixture.secret, "SLIPWAY_DATABASE_URL": place.location]
        var replicas: [ServerProcess] = []
        for index in 0..<3 {
            let config = try dir.write("replica-\(index).yaml", """
                listen: {host: 127.0.0.1, port: 0}
                data_dir: \(dir.path)/replica-\(index)
                store: {postgres: {url: {env: SLIPWAY_DATABASE_URL}, pool: 8}}
                workers: 2
                runner: {sandbox: none, lease: 3s, max_attempts: 3, kill_grace: 1s}
                apps:
                \(appsYAML.joined(separator: "\n"))
                """)
            replicas.append(try await ServerProcess.start(configPath: config, environment: environment))
        }
        defer { for replica in replicas { replica.stop() } }
        let clients = try replicas.enumerated().map { index, replica in
            try APIClient(baseURL: "https://localhost:\(replica.port)", token: nil, caFile: "\(dir.path)/replica-\(index)/tls/server.crt")
        }

        // The pushes, round-robin; a delivery the killed replica cannot take goes to the next
        // one, as a forge redelivers.
        let killed = KilledReplica()
        let pushed = commits, repositoryURL = repository.url
        let send: @Sendable (Int, Int) async throws -> JobID = { index, offset in
            let app = "app\(index % Self.apps)"
            let body = TestPush.body(forge: .github, repository: "acme/\(app)", cloneURL: repositoryURL, branch: "main",
                                     before: String(repeating: "0", count: 40), commit: pushed[index / Self.apps], message: "push \(index)")
            let headers = GitHubAdapter().signedHeaders(body: body, event: "push", deliveryID: "delivery-\(index)",
                                                        secret: SecretValue(WebhookFixture.secret), now: Date())
            for attempt in 0..<6 {
                let target = (index + offset + attempt) % clients.count
                if await killed.isKilled(target) { continue }
                guard let (status, answer) = try? await clients[target].send(.POST, "/hooks/\(app)", headers: headers.map { ($0.name, $0.value) }, body: body),
                      status == 202 || status == 200 else { continue }
                struct Accepted: Decodable { var job: Int64 }
                return try JSONDecoder().decode(Accepted.self, from: answer).job
            }
            throw StoreTestSetupError("delivery-\(index) was refused by every replica")
        }
        var acknowledged: [Int: JobID] = [:]
        try await withThrowingTaskGroup(of: (Int, JobID).self) { group in
            var next = 0
            func add() { let index = next; next += 1; group.addTask { (index, try await send(index, 0)) } }
            for _ in 0..<16 { add() }
            while let (index, job) = try await group.next() {
                acknowledged[index] = job
                if next == Self.pushes / 2 {
                    // Half-way: kill replica 0 while one of its steps runs.
                    try await waitFor(timeout: .seconds(60)) { Self.runningOn(replicas[0].process.processIdentifier, marks: marks) }
                    await killed.kill(0)
                    await replicas[0].kill()
                }
                if next < Self.pushes { add() }
            }
        }
        #expect(acknowledged.count == Self.pushes)
        // Redeliveries, to another replica than the first time: the same job, not a new one.
        for index in stride(from: 0, to: Self.pushes, by: 40) {
            #expect(try await send(index, 1) == acknowledged[index], "delivery-\(index) sent again made another job")
        }

        // Every job ends: the killed replica's jobs after their leases ran out.
        let store = try await place.open()
        defer { Task { await store.close() } }
        try await waitFor(timeout: .seconds(240), every: .milliseconds(500)) {
            let queued = try await store.jobs(JobQuery(status: .queued, limit: 1))
            let running = try await store.jobs(JobQuery(status: .running, limit: 1))
            return queued.isEmpty && running.isEmpty
        }
        var jobs: [Job] = []
        var before: JobID?
        while true {
            let page = try await store.jobs(JobQuery(before: before, limit: 500))
            jobs += page
            guard let last = page.last, page.count == 500 else { break }
            before = last.id
        }
        let byID = Dictionary(uniqueKeysWithValues: jobs.map { ($0.id, $0) })
        for replica in replicas.dropFirst() { _ = await replica.terminate() }

        // 1. Every delivery produced at most one job, and its 202 named that job.
        let deliveries = jobs.compactMap(\.deliveryID)
        #expect(Set(deliveries).count == deliveries.count)
        for (index, job) in acknowledged { #expect(byID[job] != nil, "delivery-\(index) acknowledged as job \(job), which is not stored") }

        // 2. Every job ran once, or was interrupted and went on as a recorded new attempt.
        let recorded = try Self.readMarks(marks)
        let starts = Dictionary(grouping: recorded.filter(\.start), by: \.job)
        #expect(starts.values.allSatisfy { $0.count == 1 }, "a job started twice: \(starts.filter { $0.value.count > 1 }.keys.sorted())")
        var interrupted = 0
        for job in jobs {
            switch job.status {
            case .succeeded:
                #expect(starts[job.id]?.count == 1, "job \(job.id) succeeded without running its step once")
            case .interrupted:
                interrupted += 1
                if let retry = job.retriedAs {
                    #expect(byID[retry]?.attempt == job.attempt + 1 && byID[retry]?.retryOf == job.id)
                } else {
                    #expect(job.attempt == 3, "job \(job.id) was interrupted without a new attempt")
                }
            case .superseded:
                #expect(starts[job.id] == nil, "superseded job \(job.id) ran")
            default:
                Issue.record("job \(job.id) ended as \(job.status.rawValue): \(job.reason ?? "")")
            }
        }
        #expect(interrupted >= 1, "the killed replica was running a job")
        print("replicas: \(acknowledged.count) deliveries acknowledged, \(jobs.count) jobs, \(starts.count) steps run, "
              + "\(jobs.filter { $0.status == .superseded }.count) superseded, \(interrupted) interrupted and continued")

        // 3. No app ever had two steps running at once. A step of the killed replica ended
        //    with it (no end mark): it counts as running until the kill.
        let killTime = await killed.time ?? Date().timeIntervalSince1970
        let ends = Dictionary(grouping: recorded.filter { !$0.start }, by: \.job).mapValues { $0[0].time }
        for (app, marksOfApp) in Dictionary(grouping: recorded.filter(\.start), by: \.app) {
            let spans = marksOfApp.map { ($0.time, ends[$0.job] ?? killTime, $0.job) }.sorted { $0.0 < $1.0 }
            for (earlier, later) in zip(spans, spans.dropFirst()) {
                #expect(earlier.1 <= later.0, "\(app): job \(later.2) started before job \(earlier.2) ended")
            }
        }

        // 4. No log line lost for jobs that finished.
        for job in jobs where job.status == .succeeded {
            let log = try await store.logChunks(jobID: job.id, after: 0, limit: .max).map(\.text).joined()
            let lines = (1...Self.linesPerJob).filter { log.contains("[build/work] line \($0)\n") }
            #expect(lines.count == Self.linesPerJob && log.contains("job succeeded"), "job \(job.id) lost log lines")
        }
        for client in clients { try? await client.shutdown() }
    }

    static func readMarks(_ path: String) throws -> [Mark] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count == 5, let job = JobID(fields[2]), let server = Int32(fields[3]), let time = Double(fields[4]) else { return nil }
            return Mark(start: fields[0] == "start", app: String(fields[1]), job: job, server: server, time: time)
        }
    }

    /// Whether a step of the server with this pid has started and not ended.
    static func runningOn(_ server: Int32, marks: String) -> Bool {
        guard let recorded = try? readMarks(marks) else { return false }
        let ended = Set(recorded.filter { !$0.start }.map(\.job))
        return recorded.contains { $0.start && $0.server == server && !ended.contains($0.job) }
    }
}

/// Which replica was killed, and when.
actor KilledReplica {
    private var killed: Set<Int> = []
    private(set) var time: Double?

    func kill(_ index: Int) {
        killed.insert(index)
        time = Date().timeIntervalSince1970
    }

    func isKilled(_ index: Int) -> Bool { killed.contains(index) }
}
