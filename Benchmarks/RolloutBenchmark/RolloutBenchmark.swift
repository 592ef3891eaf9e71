import Foundation
import KubeTestServer
import SlipwayClient
import SlipwayCore
import SlipwayTestSupport
import SlipwayWebhooks

/// What progressive rollouts cost Slipway: `slipway serve` as its own process (release build,
/// SQLite), `--apps` apps each rolling out a Deployment of 4 replicas on the Kubernetes API
/// test server (3 ms an answer, its simulated Deployment controller):
///
/// 1. every app pushed at once (after a first deploy of each): the time until each rollout
///    is paused at its second step (weight 50 % applied and healthy on both tracks);
/// 2. all of them paused until promoted, for `--idle-seconds`: Slipway's CPU and RSS, and
///    its requests to the API server (a paused rollout polls only the store);
/// 3. every one promoted at once: the time until each job has succeeded.
///
///     for p in slipway slipway-step-guard slipway-rollout-bench; do swift build -c release --product $p; done
///     .build/release/slipway-rollout-bench [--apps 50] [--idle-seconds 30]
@main
struct RolloutBenchmark {
    static func main() async throws {
        var options = ["--apps": 50, "--idle-seconds": 30]
        var arguments = CommandLine.arguments.dropFirst()
        while let flag = arguments.popFirst() {
            guard options[flag] != nil, let value = arguments.popFirst().flatMap(Int.init) else { fatalError("usage: slipway-rollout-bench [--apps N] [--idle-seconds N]") }
            options[flag] = value
        }
        try await run(apps: options["--apps"]!, idleSeconds: options["--idle-seconds"]!)
    }

    static func files(image: String) -> [String: String?] {
        [
            ".slipway.yaml": """
                deploy:
                  manifests: deploy
                  wait: 120s
                  rollout:
                    target: Deployment/web
                    steps: [{weight: 25}, {pause: {until: promoted}}, {weight: 100}]
                """,
            "deploy/web.yaml": """
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: web}
                spec:
                  replicas: 4
                  selector: {matchLabels: {app: web}}
                  template:
                    metadata: {labels: {app: web}}
                    spec: {containers: [{name: web, image: "shop:\(image)"}]}
                ---
                apiVersion: v1
                kind: Service
                metadata: {name: web}
                spec: {selector: {app: web}, ports: [{port: 80}]}
                """,
        ]
    }

    static func run(apps: Int, idleSeconds: Int) async throws {
        let directory = try TemporaryDirectory("rollout-bench")
        defer { directory.remove() }
        let kube = try await KubeTestServer.start(controllers: true, latency: .milliseconds(3))
        let setup = try kube.client()
        for index in 0..<apps {
            _ = try await setup.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string("ns\(index)")]], fieldManager: "setup", force: true)
        }
        await setup.shutdown()
        // One repository; each app a link to it (apps sharing a repository share its pushes).
        let repository = try GitRepository.make(files: files(image: "1.0").compactMapValues { $0 })
        for index in 0..<apps {
            try FileManager.default.createSymbolicLink(atPath: "\(directory.path)/app\(index)", withDestinationPath: repository.path)
        }
        let port = try freeLoopbackPort()
        var config = """
            listen: {host: 127.0.0.1, port: \(port)}
            data_dir: \(directory.path)/data
            workers: 4
            api_tokens: [{name: admin, role: admin, token: {env: ADMIN_TOKEN}}]
            clusters: [{name: bench, kubeconfig: \(kube.kubeconfigPath)}]
            apps:

            """
        for index in 0..<apps {
            config += "  - {name: app\(index), repo: \"file://\(directory.path)/app\(index)\", forge: github, webhook_secrets: [{env: HOOK}], cluster: bench, namespace: ns\(index), reconcile_interval: 1h}\n"
        }
        let configPath = try directory.write("slipway.yaml", config)
        let server = try await ServerProcess.start(configPath: configPath, environment: ["ADMIN_TOKEN": "admin", "HOOK": "hook-secret"])
        let client = try APIClient(baseURL: "https://localhost:\(port)", token: "admin", caFile: "\(directory.path)/data/tls/server.crt")
        let pid = server.process.processIdentifier
        let names = (0..<apps).map { "app\($0)" }

        // The first deploy of every app: applied whole.
        let first = try repository.head()
        var ids: [JobID] = []
        for name in names { ids.append(try await Bench.push(client, app: name, commit: first, secret: "hook-secret")) }
        try await waitUntilEnded(client, ids)

        // 1. Every app pushed at once; each rollout paused at its second step.
        let second = try repository.commit(files: files(image: "2.0"), message: "2.0")
        let pushed = Date()
        ids = []
        for name in names { ids.append(try await Bench.push(client, app: name, commit: second, secret: "hook-secret")) }
        var pausedAfter: [String: Double] = [:]
        while pausedAfter.count < apps {
            for name in names where pausedAfter[name] == nil {
                let (status, body) = try await client.send(.GET, "/api/v1/apps/\(name)/rollout")
                if status == 200, let state = try? JSONSerialization.jsonObject(with: body) as? [String: Any], state["phase"] as? String == "paused" {
                    pausedAfter[name] = Date().timeIntervalSince(pushed)
                }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let waits = pausedAfter.values.sorted()
        Bench.report("\(apps) rollouts to their pause (weight 25 %: 1 canary and 3 stable pods healthy): first \(ms(waits.first)) ms, median \(ms(waits[waits.count / 2])) ms, last \(ms(waits.last)) ms")

        // 2. All paused: what waiting costs.
        try await Task.sleep(for: .seconds(2))
        let cpuBefore = ProcessUsage.cpuSeconds(pid)
        let requestsBefore = await kube.cluster.requestLog.count
        var largest = 0.0
        let idleStart = Date()
        while Date().timeIntervalSince(idleStart) < Double(idleSeconds) {
            try await Task.sleep(for: .milliseconds(500))
            largest = max(largest, ProcessUsage.memoryMiB(pid).rss)
        }
        let elapsed = Date().timeIntervalSince(idleStart)
        let cpu = ProcessUsage.cpuSeconds(pid) - cpuBefore
        let requests = await kube.cluster.requestLog.count - requestsBefore
        Bench.report("\(apps) rollouts paused for \(Int(elapsed)) s: Slipway's CPU \(String(format: "%.1f", cpu / elapsed * 100)) % of one core "
               + "(\(String(format: "%.2f", cpu / elapsed / Double(apps) * 1000)) ms a second per rollout), RSS \(Int(largest)) MiB, "
               + "\(requests) requests to the API server (\(String(format: "%.1f", Double(requests) / elapsed)) a second)")

        // 3. Every one promoted at once.
        let promoted = Date()
        for name in names {
            let (status, body) = try await client.send(.POST, "/api/v1/apps/\(name)/rollout/promote")
            guard status == 202 else { throw Bench.Failure("promote \(name): \(status) \(String(decoding: body, as: UTF8.self))") }
        }
        let ended = try await waitUntilEnded(client, ids)
        let finishes = ended.map { $0.timeIntervalSince(promoted) }.sorted()
        Bench.report("\(apps) promoted at once: every job succeeded; first \(ms(finishes.first)) ms, median \(ms(finishes[finishes.count / 2])) ms, last \(ms(finishes.last)) ms")
        try await client.shutdown()
        server.stop()
        await kube.stop()
    }

    /// Waits until every job ended successfully; when each was seen ending.
    @discardableResult
    static func waitUntilEnded(_ client: APIClient, _ ids: [JobID]) async throws -> [Date] {
        var ended: [JobID: Date] = [:]
        while ended.count < ids.count {
            for id in ids where ended[id] == nil {
                let job = try await client.job(id)
                guard job.status.isFinal else { continue }
                guard job.status == .succeeded else { throw Bench.Failure("job \(id) \(job.status.rawValue): \(job.reason ?? "")") }
                ended[id] = Date()
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        return ids.compactMap { ended[$0] }
    }

    static func ms(_ seconds: Double?) -> Int { Int((seconds ?? 0) * 1000) }



}
