import Foundation
import KubeTestServer
import Logging
import SlipwayClient
import SlipwayConfig
import SlipwayCore
import SlipwayDeploy
import SlipwayKube
import SlipwayStore
import SlipwayTestSupport

/// Deploy timings against the Kubernetes API test server run as its own process
/// (`slipway-kube-api-server`, which plays the workload controllers every 50 ms and adds a
/// round-trip latency to every answer, 3 ms unless told otherwise):
/// 1. push acknowledged → job succeeded, for an app of 50 objects with no build steps;
/// 2. deploying 1000 objects with the deployer (dry-run, apply, health), then again unchanged;
/// 3. drift checks of an app of 1000 objects, and this process's memory after them.
///
///     swift build -c release && .build/release/slipway-deploy-bench [LATENCY_MS]
@main
struct DeployBenchmark {
    static func main() async throws {
        try await run()
    }

    /// Off the main actor: the live server's closures run on the cooperative pool.
    nonisolated static func run() async throws {
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let latency = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "3"
        let directory = try TemporaryDirectory("deploy-bench")
        defer { directory.remove() }
        let kubeconfig = directory.path + "/kubeconfig"
        let apiServer = try startAPIServer(kubeconfig: kubeconfig, latency: latency)
        defer { apiServer.terminate() }
        let client = try KubeClient(access: try ClusterAccess.kubeconfig(path: kubeconfig), logger: logger)
        print("against slipway-kube-api-server with \(latency) ms per request, max_in_flight \(ClusterConfig.defaultMaxInFlight)")
        _ = try await client.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "bench"]], fieldManager: "setup", force: true)

        // 1. Push to applied, 50 objects.
        var files: [String: String] = [".slipway.yaml": "deploy:\n  manifests: deploy\n  wait: 60s\n"]
        for n in 0..<10 { files["deploy/web-\(n).yaml"] = deployment("web-\(n)", image: "shop:1") }
        for n in 0..<40 { files["deploy/config-\(n).yaml"] = configMap("config-\(n)", value: "v1") }
        let repository = try GitRepository.make(files: files)
        defer { repository.directory.remove() }
        var pushTimes: [Duration] = []
        try await withLiveServer(runner: true, clusters: ["bench": client], configure: { config in
            config.apps[0].repoURL = repository.url
            config.apps[0].target = DeployTarget(cluster: "bench", namespace: "bench")
        }) { server in
            for round in 0..<5 {
                if round > 0 {
                    var changed: [String: String?] = [:]
                    for n in 0..<10 { changed["deploy/web-\(n).yaml"] = deployment("web-\(n)", image: "shop:\(round + 1)") }
                    try repository.commit(files: changed, message: "round \(round)")
                }
                let id = try await server.push(app: "github", commit: try repository.head())
                let acknowledged = ContinuousClock.now
                let job = try await server.waitForEnd(of: id, timeout: .seconds(120))
                guard job.status == .succeeded else {
                    let log = try await server.log(of: id)
                    fatalError("job \(id): \(job.reason ?? "")\n\(log)")
                }
                pushTimes.append(ContinuousClock.now - acknowledged)
            }
        }
        print("push acknowledged -> 50 objects applied and healthy (5 rounds, first is a clone + create):")
        print("  " + pushTimes.map { format($0) }.joined(separator: ", "))

        // 2. 1000 objects straight through the deployer.
        let deployer = Deployer(client: client, pollInterval: .milliseconds(50))
        let big = objects(1000, prefix: "big")
        let options = Deployer.Options(defaultNamespace: "bench", applySetID: Deployer.applySetID(app: "big", namespace: "bench"), wait: .seconds(120))
        for label in ["1000 objects, created", "1000 objects, unchanged"] {
            let start = ContinuousClock.now
            _ = try await deployer.deploy(big, options: options, previous: []) { _ in }
            print("\(label): \(format(ContinuousClock.now - start)) (dry-run + apply + health)")
        }

        // 3. Drift checks (2 LISTs, 1000 dry-runs, compare, health) of the same 1000 objects.
        var times: [String] = []
        for _ in 0..<3 {
            let start = ContinuousClock.now
            let (report, _) = try await DriftDetector(client: client).detect(desired: big, applySetID: options.applySetID, defaultNamespace: "bench")
            guard report.inSync else { fatalError("unexpected drift: \(report.drifted.prefix(3))") }
            times.append(format(ContinuousClock.now - start))
        }
        print("drift check of 1000 objects, through the deployer: \(times.joined(separator: ", "))")
        print("peak RSS of this process (Slipway's parts, an in-process live server, the benchmark): \(memory("VmHWM:"))")
        await client.shutdown()

        // 4. `slipway serve` as its own process: an app of 1000 objects deployed by the
        //    reconciler's poll job, then drift checks through the API, and the server's memory.
        try await serveRSS(kubeconfig: kubeconfig, directory: directory)
    }

    static func serveRSS(kubeconfig: String, directory: TemporaryDirectory) async throws {
        var files: [String: String] = [".slipway.yaml": "deploy:\n  manifests: deploy\n  wait: 120s\n"]
        for file in 0..<10 {
            files["deploy/part-\(file).yaml"] = (0..<100).map { index in
                let n = file * 100 + index
                return n % 10 == 0 ? deployment("s-\(n)", image: "shop:1") : configMap("s-\(n)", value: "v1")
            }.joined(separator: "\n---\n")
        }
        let repository = try GitRepository.make(files: files)
        defer { repository.directory.remove() }
        let config = try directory.write("slipway.yaml", """
            listen: {host: 127.0.0.1, port: 0}
            data_dir: \(directory.path)/serve-data
            api_tokens: [{name: admin, role: admin, token: {env: BENCH_TOKEN}}]
            clusters: [{name: bench, kubeconfig: \(kubeconfig)}]
            apps:
              - {name: big, repo: \(repository.url), forge: github, webhook_secrets: [{env: BENCH_TOKEN}], cluster: bench, namespace: serve, reconcile_interval: 1h}
            """)
        let environment = ["BENCH_TOKEN": "bench-token"]
        let setup = try KubeClient(access: try ClusterAccess.kubeconfig(path: kubeconfig), logger: Logger(label: "bench"))
        _ = try await setup.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "serve"]], fieldManager: "setup", force: true)
        await setup.shutdown()
        let server = try await ServerProcess.start(configPath: config, environment: environment)
        defer { server.stop() }
        let pid = server.process.processIdentifier
        let api = try APIClient(baseURL: "https://localhost:\(server.port)", token: "bench-token", caFile: directory.path + "/serve-data/tls/server.crt")
        // Idle once it has handed back the code only starting ran (5 s after it listens).
        try await Task.sleep(for: .seconds(7))
        print("slipway serve idle: RSS \(memory("VmRSS:", pid: pid)) (its own memory \(memory("RssAnon:", pid: pid)), mapped files \(memory("RssFile:", pid: pid)))")
        // The missed-webhook path: a refresh sees the branch head and queues a poll job.
        let start = ContinuousClock.now
        _ = try await api.send(.POST, "/api/v1/apps/big/refresh")
        while true {
            let (_, body) = try await api.send(.GET, "/api/v1/jobs")
            let text = String(decoding: body, as: UTF8.self)
            if text.contains("\"succeeded\"") { break }
            if text.contains("\"failed\"") { fatalError("the deploy of 1000 objects failed: \(text)") }
            try await Task.sleep(for: .milliseconds(100))
        }
        print("slipway serve: refresh -> 1000 objects deployed and healthy: \(format(ContinuousClock.now - start)); RSS \(memory("VmRSS:", pid: pid))")
        var times: [String] = []
        for _ in 0..<3 {
            let started = ContinuousClock.now
            let (status, body) = try await api.send(.POST, "/api/v1/apps/big/refresh")
            guard status == 200, String(decoding: body, as: UTF8.self).contains("\"Synced\"") else {
                fatalError("refresh answered \(status): \(String(decoding: body.prefix(500), as: UTF8.self))")
            }
            times.append(format(ContinuousClock.now - started))
        }
        print("slipway serve: drift check of 1000 objects (POST refresh): \(times.joined(separator: ", ")); RSS after it \(memory("VmRSS:", pid: pid)) (its own memory \(memory("RssAnon:", pid: pid)), mapped files \(memory("RssFile:", pid: pid))), peak \(memory("VmHWM:", pid: pid))")
        try await api.shutdown()
    }

    static func objects(_ count: Int, prefix: String) -> [Manifest] {
        (0..<count).map { n in
            Manifest(object: try! YAMLDocuments.parseOne(n % 10 == 0 ? deployment("\(prefix)-\(n)", image: "shop:1") : configMap("\(prefix)-\(n)", value: "v1"), file: "bench"),
                     source: "bench", index: n, line: 1)
        }
    }

    /// Starts `slipway-kube-api-server` beside this executable and waits for its `ready`.
    static func startAPIServer(kubeconfig: String, latency: String) throws -> Process {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("slipway-kube-api-server")
        let process = Process()
        process.executableURL = executable
        process.arguments = [kubeconfig, latency]
        let output = Pipe()
        process.standardOutput = output
        process.standardInput = Pipe()
        try process.run()
        var seen = Data()
        while !String(decoding: seen, as: UTF8.self).contains("ready") {
            let chunk = output.fileHandleForReading.availableData
            guard !chunk.isEmpty else { fatalError("slipway-kube-api-server ended before it was ready") }
            seen.append(chunk)
        }
        return process
    }

    static func memory(_ field: String, pid: Int32? = nil) -> String {
        let status = (try? String(contentsOfFile: "/proc/\(pid.map(String.init) ?? "self")/status", encoding: .utf8)) ?? ""
        return status.split(separator: "\n").first { $0.hasPrefix(field) }.map { $0.dropFirst(field.count).trimmingCharacters(in: .whitespaces) } ?? "?"
    }

    static func format(_ duration: Duration) -> String {
        String(format: "%.2f s", Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
    }

    static func deployment(_ name: String, image: String) -> String {
        """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: \(name)}
        spec:
          replicas: 2
          selector: {matchLabels: {app: \(name)}}
          template:
            metadata: {labels: {app: \(name)}}
            spec:
              containers: [{name: app, image: "\(image)", ports: [{containerPort: 8080}]}]
        """
    }

    static func configMap(_ name: String, value: String) -> String {
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: \(name)}\ndata: {key: \(value), other: constant}\n"
    }
}
