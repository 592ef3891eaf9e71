import Foundation
import KubeTestServer
import SlipwayClient
import SlipwayCore
import SlipwayTestSupport
import SlipwayWebhooks

/// The kubernetes executor's own cost: `slipway serve` as its own process, its jobs' pods on
/// the Kubernetes API test server (3 ms an answer) whose stand-in kubelet starts each
/// container's command at once as a local process, so what is measured is Slipway's part:
///
/// 1. push → the first line of the first step printed (the step prints its clock), and → that
///    line readable in the API, over `--rounds` jobs one after another;
/// 2. `--jobs` jobs at once (one app each, `max_pods` as many), each streaming `--lines` lines:
///    Slipway's RSS (largest sample and peak) and its CPU per streamed log line;
/// 3. one job streaming a line a second for `--stream-seconds`: requests to the API server per
///    minute, its pod's own and all of them (with the janitor's LIST every lease round).
///
///     for p in slipway slipway-step-guard slipway-pod-bench; do swift build -c release --product $p; done
///     .build/release/slipway-pod-bench [--rounds 10] [--jobs 50] [--lines 200] [--stream-seconds 60]
@main
struct PodBenchmark {
    static func main() async throws {
        var options = ["--rounds": 10, "--jobs": 50, "--lines": 200, "--stream-seconds": 60]
        var arguments = CommandLine.arguments.dropFirst()
        while let flag = arguments.popFirst() {
            guard options[flag] != nil, let value = arguments.popFirst().flatMap(Int.init) else { fatalError("usage: slipway-pod-bench [--rounds N] [--jobs N] [--lines N] [--stream-seconds N]") }
            options[flag] = value
        }
        try await run(rounds: options["--rounds"]!, jobs: options["--jobs"]!, lines: options["--lines"]!, streamSeconds: options["--stream-seconds"]!)
    }

    static func run(rounds: Int, jobs: Int, lines: Int, streamSeconds: Int) async throws {
        let directory = try TemporaryDirectory("pod-bench")
        defer { directory.remove() }
        let kube = try await KubeTestServer.start(controllers: true, latency: .milliseconds(3), processes: true)
        let setup = try kube.client()
        _ = try await setup.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "builds"]], fieldManager: "setup", force: true)
        await setup.shutdown()

        // One repository; each app a link to it (apps sharing a repository share its pushes).
        let repository = try GitRepository.make(files: [".slipway.yaml": pipeline("date +%s.%N")])
        for index in 0..<jobs {
            try FileManager.default.createSymbolicLink(atPath: "\(directory.path)/app\(index)", withDestinationPath: repository.path)
        }
        let port = try freeLoopbackPort()
        var config = """
            listen: {host: 127.0.0.1, port: \(port)}
            data_dir: \(directory.path)/data
            public_url: https://localhost:\(port)
            runner:
              executor: kubernetes
              kill_grace: 2s
              kubernetes: {cluster: bench, namespace: builds, image_pull_policy: Never, fetch_image: "slipway.local/busybox:1",
                           default_image: "slipway.local/debian:12", max_pods: \(jobs)}
            api_tokens: [{name: admin, role: admin, token: {env: ADMIN_TOKEN}}]
            clusters: [{name: bench, kubeconfig: \(kube.kubeconfigPath)}]
            apps:

            """
        for index in 0..<jobs {
            config += "  - {name: app\(index), repo: \"file://\(directory.path)/app\(index)\", forge: github, webhook_secrets: [{env: HOOK}]}\n"
        }
        let configPath = try directory.write("slipway.yaml", config)
        let server = try await ServerProcess.start(configPath: configPath, environment: ["ADMIN_TOKEN": "admin", "HOOK": "hook-secret"])
        let client = try APIClient(baseURL: "https://localhost:\(port)", token: "admin", caFile: "\(directory.path)/data/tls/server.crt")
        let pid = server.process.processIdentifier

        // 1. Push → first line.
        var printed: [Double] = []
        var readable: [Double] = []
        var phases: [String: [Double]] = [:]
        for round in 0..<rounds {
            let commit = try repository.commit(files: ["round": "\(round)"], message: "round \(round)")
            let pushed = Date()
            let id = try await Bench.push(client, app: "app0", commit: commit, secret: "hook-secret")
            // Where the time goes, as the API server's objects show it (sampled every 5 ms).
            let watcher = Task {
                var seen: [String: Double] = [:]
                while !Task.isCancelled {
                    let pods = await kube.cluster.objects(apiVersion: "v1", kind: "Pod")
                    if let pod = pods.first(where: { $0[path: ["metadata", "name"]] == .string("slipway-app0-\(id)") }) {
                        let at = Date().timeIntervalSince(pushed) * 1000
                        if seen["pod made"] == nil { seen["pod made"] = at }
                        let fetch = (pod[path: ["status", "initContainerStatuses"]]?.arrayValue ?? []).first?["state"]
                        if fetch?["running"] != nil || fetch?["terminated"] != nil, seen["fetch started"] == nil { seen["fetch started"] = at }
                        if fetch?["terminated"] != nil, seen["fetch ended"] == nil { seen["fetch ended"] = at }
                    }
                    try? await Task.sleep(for: .milliseconds(5))
                }
                return seen
            }
            var seen: Date?
            while true {
                let log = try await text(client, "/api/v1/jobs/\(id)/log")
                if let line = log.split(separator: "\n").first(where: { $0.contains("[build/work] ") }), seen == nil {
                    seen = Date()
                    let clock = Double(line.split(separator: " ").last ?? "") ?? 0
                    printed.append((clock - pushed.timeIntervalSince1970) * 1000)
                    readable.append(seen!.timeIntervalSince(pushed) * 1000)
                }
                if seen != nil, try await client.job(id).status.isFinal { break }
                try await Task.sleep(for: .milliseconds(10))
            }
            watcher.cancel()
            for (phase, at) in await watcher.value { phases[phase, default: []].append(at) }
        }
        Bench.report("push -> " + ["pod made", "fetch started", "fetch ended"].map { "\($0) \(median(phases[$0] ?? [])) ms" }.joined(separator: ", ") + " (medians)")
        Bench.report("push -> first line of the first step printed: median \(median(printed)) ms, max \(Int(printed.max() ?? 0)) ms (\(rounds) jobs)")
        Bench.report("push -> that line readable in the API: median \(median(readable)) ms, max \(Int(readable.max() ?? 0)) ms")

        // 2. Many jobs at once, streaming.
        let streaming = try repository.commit(files: [".slipway.yaml": pipeline("for i in $(seq 1 \(lines)); do echo \"line $i of $SLIPWAY_JOB_ID\"; sleep 0.05; done")],
                                              message: "stream")
        let cpuBefore = ProcessUsage.cpuSeconds(pid)
        let started = ContinuousClock.now
        var ids: [JobID] = []
        for index in 0..<jobs { ids.append(try await Bench.push(client, app: "app\(index)", commit: streaming, secret: "hook-secret")) }
        var largest = 0.0
        while true {
            largest = max(largest, ProcessUsage.memoryMiB(pid).rss)
            var ended = 0
            for id in ids where try await client.job(id).status.isFinal { ended += 1 }
            if ended == ids.count { break }
            try await Task.sleep(for: .milliseconds(500))
        }
        let cpu = ProcessUsage.cpuSeconds(pid) - cpuBefore
        let elapsed = ContinuousClock.now - started
        var streamed = 0
        var failed = 0
        for id in ids {
            streamed += try await text(client, "/api/v1/jobs/\(id)/log").components(separatedBy: "[build/work] line ").count - 1
            let job = try await client.job(id)
            if job.status != .succeeded {
                failed += 1
                Bench.report("  job \(id): \(job.status.rawValue): \(job.reason ?? "")")
            }
        }
        let (rss, peak) = ProcessUsage.memoryMiB(pid)
        Bench.report("\(jobs) jobs at once, \(lines) lines each: all ended in \(String(format: "%.1f", seconds(elapsed))) s (\(failed) not succeeded), \(streamed) lines streamed")
        Bench.report("  slipway serve: RSS largest sample \(Int(largest)) MiB, now \(Int(rss)) MiB, peak \(Int(peak)) MiB; CPU \(String(format: "%.2f", cpu)) s = \(String(format: "%.0f", cpu / Double(max(streamed, 1)) * 1e6)) µs per streamed line (all of its work included)")

        // 2b. The cost of a line alone: one job printing 1 line, then one printing 20,000.
        var perJob: [Double] = []
        var arrived = 0
        for count in [1, 20_000] {
            let commit = try repository.commit(files: [".slipway.yaml": pipeline("seq 1 \(count)")], message: "\(count) lines")
            let before = ProcessUsage.cpuSeconds(pid)
            let id = try await Bench.push(client, app: "app1", commit: commit, secret: "hook-secret")
            while !(try await client.job(id).status.isFinal) { try await Task.sleep(for: .milliseconds(100)) }
            perJob.append(ProcessUsage.cpuSeconds(pid) - before)
            arrived = try await text(client, "/api/v1/jobs/\(id)/log").components(separatedBy: "[build/work] ").count - 1
        }
        Bench.report("  one job of 20,000 lines (\(arrived) in its log) against one of 1 line: \(String(format: "%.2f", perJob[1])) s against \(String(format: "%.2f", perJob[0])) s of CPU = \(String(format: "%.0f", (perJob[1] - perJob[0]) / 19_999 * 1e6)) µs per streamed line")

        // 3. Requests while one job streams.
        let slow = try repository.commit(files: [".slipway.yaml": pipeline("for i in $(seq 1 \(streamSeconds + 20)); do echo \"tick $i\"; sleep 1; done")], message: "slow")
        let id = try await Bench.push(client, app: "app0", commit: slow, secret: "hook-secret")
        while !(try await text(client, "/api/v1/jobs/\(id)/log").contains("tick 5")) { try await Task.sleep(for: .milliseconds(200)) }
        let before = await kube.cluster.requestLog.count
        try await Task.sleep(for: .seconds(streamSeconds))
        let window = await kube.cluster.requestLog.dropFirst(before)
        let pod = "slipway-app0-\(id)"
        let own = window.filter { $0.contains("/pods/\(pod)") || $0.contains("slipway.dev%2Fjob%3D\(id)") || $0.contains("slipway.dev/job=\(id)") }
        let minutes = Double(streamSeconds) / 60
        Bench.report("one job streaming a line a second for \(streamSeconds) s: \(String(format: "%.1f", Double(own.count) / minutes)) requests/min about its pod, \(String(format: "%.1f", Double(window.count) / minutes)) requests/min in all")
        var counts: [String: Int] = [:]
        for request in window { counts[String(request.prefix(160)), default: 0] += 1 }
        for (request, count) in counts.sorted(by: { $0.key < $1.key }) { Bench.report("    \(count) × \(request)") }
        _ = try await client.cancel(id)
        try await client.shutdown()
        // Slipway first: the API test server's stop waits for its clients' connections.
        _ = await server.terminate()
        repository.directory.remove()
        await kube.stop()
    }


    static func pipeline(_ script: String) -> String {
        "stages:\n  build:\n    - name: work\n      run: |\n        \(script)\n"
    }


    static func text(_ client: APIClient, _ path: String) async throws -> String {
        String(decoding: try await client.send(.GET, path).body, as: UTF8.self)
    }

    static func median(_ values: [Double]) -> Int {
        values.isEmpty ? 0 : Int(values.sorted()[values.count / 2])
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

}
