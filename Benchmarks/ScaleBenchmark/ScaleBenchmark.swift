import Foundation
import KubeTestServer
import Logging
import SlipwayClient
import SlipwayCore
import SlipwayKube
import SlipwayTestSupport

/// Many apps on one replica: `slipway serve` as its own process, N apps of 10 objects each
/// (8 ConfigMaps, a Deployment, a Service), 20 apps to a repository served over git's smart
/// HTTP with a latency per request, the Kubernetes API test server with 3 ms per answer.
/// For each N: time until every app is deployed and checked once; then, while nothing changes,
/// the largest gap between two checks of an app, the server's CPU and RSS, and requests per
/// minute to the API server and the git server; then 20 objects edited by another field
/// manager, and how long until each app's status shows it.
///
///     for p in slipway slipway-step-guard slipway-scale-bench; do swift build -c release --product $p; done
///     .build/release/slipway-scale-bench [--apps 100,300,1000] [--interval 180] [--observe SECONDS]
///         [--git-latency-ms 150] [--kube-latency-ms 3] [--binary LABEL=PATH ...]
///
/// `--binary` may be given more than once (another build of slipway beside this one); the
/// default is the `slipway` next to this benchmark.
@main
struct ScaleBenchmark {
    struct Options {
        var apps = [100, 300, 1000]
        var interval = 180
        var observe: Int?
        var gitLatency = 150
        var kubeLatency = 3
        var binaries: [(label: String, path: URL)] = []
    }

    static func main() async throws {
        try await run(options: parse(CommandLine.arguments.dropFirst()))
    }

    static func parse(_ arguments: ArraySlice<String>) -> Options {
        var options = Options()
        var rest = arguments
        while let flag = rest.popFirst() {
            guard let value = rest.popFirst() else { fatalError("\(flag) needs a value") }
            switch flag {
            case "--apps": options.apps = value.split(separator: ",").compactMap { Int($0) }
            case "--interval": options.interval = Int(value) ?? 180
            case "--observe": options.observe = Int(value)
            case "--git-latency-ms": options.gitLatency = Int(value) ?? 150
            case "--kube-latency-ms": options.kubeLatency = Int(value) ?? 3
            case "--binary":
                let parts = value.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { fatalError("--binary LABEL=PATH") }
                options.binaries.append((parts[0], URL(fileURLWithPath: parts[1])))
            default: fatalError("unknown option \(flag)")
            }
        }
        if options.binaries.isEmpty {
            let own = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
            options.binaries = [("this build", own.appendingPathComponent("slipway"))]
        }
        return options
    }

    nonisolated static func run(options: Options) async throws {
        print("apps × 10 objects, 20 apps a repository, git \(options.gitLatency) ms a request, API server \(options.kubeLatency) ms an answer, reconcile_interval \(options.interval)s, drift: report")
        print("| build | apps | deployed in | first round | largest gap between checks | drift seen after (median / max) | git requests/min | API requests/min | server CPU (cores) | RSS / peak | GET /api/v1/apps |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for count in options.apps {
            for binary in options.binaries {
                let result = try await measure(apps: count, binary: binary.path, options: options)
                print("| \(binary.label) | \(count) | \(result.row) |")
            }
        }
    }

    struct Result {
        var deployed: Duration
        var firstRound: Duration
        var largestGap: Double
        var driftMedian: Double
        var driftMax: Double
        var driftUnseen: Int
        var gitPerMinute: Double
        var kubePerMinute: Double
        var cores: Double
        var rssMiB: Double
        var peakMiB: Double
        var listMilliseconds: Double

        var row: String {
            let drift = String(format: "%.1f s / %.1f s", driftMedian, driftMax) + (driftUnseen > 0 ? " (\(driftUnseen) of 20 not seen)" : "")
            return [format(deployed), format(firstRound), String(format: "%.0f s", largestGap), drift,
                    String(format: "%.0f", gitPerMinute), String(format: "%.0f", kubePerMinute), String(format: "%.3f", cores),
                    String(format: "%.0f / %.0f MiB", rssMiB, peakMiB), String(format: "%.0f ms", listMilliseconds)].joined(separator: " | ")
        }
    }

    struct AppView: Decodable {
        var app: String
        var sync: String
        var reconciled_at: String?
        var deployed_commit: String?
        var last_job_status: String?
        var drifted: [Drift]
        struct Drift: Decodable { var object: String }
    }

    struct AppList: Decodable { var apps: [AppView] }

    static func measure(apps count: Int, binary: URL, options: Options) async throws -> Result {
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let directory = try TemporaryDirectory("scale-bench")
        defer { directory.remove() }
        let kube = try await KubeTestServer.start(controllers: true, latency: .milliseconds(options.kubeLatency))
        let setup = try kube.client()
        let repositories = (count + 19) / 20
        for team in 0..<repositories {
            _ = try await setup.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string("team-\(team)")]], fieldManager: "setup", force: true)
        }
        // The repositories: 20 apps each, every app a pipeline file and 10 objects.
        let root = directory.path + "/git"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        var names: [String] = []
        for team in 0..<repositories {
            var files: [String: String] = [:]
            for index in 0..<20 where team * 20 + index < count {
                let app = String(format: "app-%04d", team * 20 + index)
                names.append(app)
                files["apps/\(app)/.slipway.yaml"] = "deploy:\n  manifests: apps/\(app)/deploy\n  wait: 300s\n"
                files["apps/\(app)/deploy/objects.yaml"] = objects(app)
            }
            let work = try GitRepository.make(files: files)
            try GitRepository.run(["clone", "-q", "--bare", work.path, "\(root)/team-\(team).git"], in: "/")
            work.directory.remove()
        }
        let forge = try await GitHTTPServer.start(root: root, username: "deploy", password: "t0ken", latency: .milliseconds(options.gitLatency))
        var config = """
            listen: {host: 127.0.0.1, port: 0}
            data_dir: \(directory.path)/data
            workers: 16
            runner: {git_ca_file: \(forge.certificatePath)}
            api_tokens: [{name: admin, role: admin, token: {env: ADMIN_TOKEN}}]
            clusters: [{name: bench, kubeconfig: \(kube.kubeconfigPath)}]
            apps:

            """
        for (offset, app) in names.enumerated() {
            let team = offset / 20
            config += """
                  - {name: \(app), repo: "\(forge.url("team-\(team).git"))", forge: github, webhook_secrets: [{env: HOOK}],
                     repo_auth: {username: deploy, password: {env: GIT_PASSWORD}}, pipeline: apps/\(app)/.slipway.yaml,
                     cluster: bench, namespace: team-\(team), drift: report, reconcile_interval: \(options.interval)s}

                """
        }
        let configPath = try directory.write("slipway.yaml", config)
        let environment = ["ADMIN_TOKEN": "admin", "HOOK": "hook-secret", "GIT_PASSWORD": "t0ken"]
        let started = ContinuousClock.now
        let server = try await ServerProcess.start(configPath: configPath, environment: environment, binary: binary)
        let client = try APIClient(baseURL: "https://localhost:\(server.port)", token: "admin", caFile: nil, insecure: true)
        defer {
            server.stop()
        }
        func list() async throws -> (apps: [AppView], milliseconds: Double) {
            let before = ContinuousClock.now
            let (status, body) = try await client.send(.GET, "/api/v1/apps")
            let elapsed = ContinuousClock.now - before
            guard status == 200 else { throw BenchError("GET /api/v1/apps answered \(status)") }
            return (try JSONDecoder().decode(AppList.self, from: body).apps, milliseconds(elapsed))
        }

        // Deployed (each app's poll job) and every app checked once.
        var deployed: Duration?
        var firstRound: Duration?
        while deployed == nil || firstRound == nil {
            try await Task.sleep(for: .seconds(1))
            let apps = try await list().apps
            if firstRound == nil, apps.allSatisfy({ $0.reconciled_at != nil }) { firstRound = ContinuousClock.now - started }
            if deployed == nil, apps.allSatisfy({ $0.last_job_status == "succeeded" }) { deployed = ContinuousClock.now - started }
            if let failed = apps.first(where: { $0.last_job_status == "failed" }) { throw BenchError("\(failed.app)'s job failed") }
            if ContinuousClock.now - started > .seconds(1800) { throw BenchError("not deployed after 30 minutes") }
        }
        // Every app's status from after its deploy: Synced.
        while try await !list().apps.allSatisfy({ $0.sync == "Synced" }) {
            try await Task.sleep(for: .seconds(2))
            if ContinuousClock.now - started > .seconds(3600) { throw BenchError("not all Synced after an hour") }
        }

        // Nothing changes: checks, CPU, memory, requests.
        let window = Duration.seconds(options.observe ?? options.interval * 2)
        let pid = server.process.processIdentifier
        let cpuBefore = ProcessUsage.cpuSeconds(pid)
        let kubeBefore = await kube.cluster.requestLog.count
        let gitBefore = await forge.requestCount()
        let windowStart = ContinuousClock.now
        var checks: [String: [Date]] = [:]
        var listTimes: [Double] = []
        while ContinuousClock.now - windowStart < window {
            let (apps, elapsed) = try await list()
            listTimes.append(elapsed)
            for app in apps {
                guard let text = app.reconciled_at, let at = date(text) else { continue }
                if checks[app.app]?.last != at { checks[app.app, default: []].append(at) }
            }
            try await Task.sleep(for: .seconds(10))
        }
        let minutes = seconds(ContinuousClock.now - windowStart) / 60
        let cores = (ProcessUsage.cpuSeconds(pid) - cpuBefore) / (minutes * 60)
        let kubePerMinute = Double(await kube.cluster.requestLog.count - kubeBefore) / minutes
        let gitPerMinute = Double(await forge.requestCount() - gitBefore) / minutes
        var largestGap = 0.0
        for times in checks.values where times.count > 1 {
            for (earlier, later) in zip(times, times.dropFirst()) { largestGap = max(largestGap, later.timeIntervalSince(earlier)) }
        }
        let (rss, peak) = ProcessUsage.memoryMiB(pid)

        // Drift by another field manager on 20 objects of 20 apps.
        let edited = Array(names.shuffled().prefix(20))
        var editedAt: [String: ContinuousClock.Instant] = [:]
        for app in edited {
            let team = names.firstIndex(of: app)! / 20
            _ = await kube.cluster.edit(apiVersion: "v1", kind: "ConfigMap", namespace: "team-\(team)", name: "\(app)-config-0",
                                        manager: "kubectl-edit", patch: ["data": ["LEVEL": "debug"]])
            editedAt[app] = ContinuousClock.now
        }
        var seenAfter: [String: Double] = [:]
        let driftDeadline = ContinuousClock.now + .seconds(options.interval * 2 + 30)
        while seenAfter.count < edited.count && ContinuousClock.now < driftDeadline {
            let apps = try await list().apps
            for app in apps where editedAt[app.app] != nil && seenAfter[app.app] == nil && !app.drifted.isEmpty {
                seenAfter[app.app] = seconds(ContinuousClock.now - editedAt[app.app]!)
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        let sorted = seenAfter.values.sorted()
        try? await client.shutdown()
        _ = await server.terminate()
        await setup.shutdown()
        await forge.stop()
        await kube.stop()
        return Result(deployed: deployed!, firstRound: firstRound!, largestGap: largestGap,
                      driftMedian: sorted.isEmpty ? .nan : sorted[sorted.count / 2], driftMax: sorted.last ?? .nan,
                      driftUnseen: edited.count - sorted.count, gitPerMinute: gitPerMinute, kubePerMinute: kubePerMinute,
                      cores: cores, rssMiB: rss, peakMiB: peak, listMilliseconds: listTimes.sorted()[listTimes.count / 2])
    }

    static func objects(_ app: String) -> String {
        var documents = (0..<8).map { index in
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: \(app)-config-\(index)}\ndata: {LEVEL: info, INDEX: \"\(index)\"}\n"
        }
        documents.append("""
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: \(app)-web}
            spec:
              replicas: 1
              selector: {matchLabels: {app: \(app)}}
              template:
                metadata: {labels: {app: \(app)}}
                spec: {containers: [{name: web, image: "shop:1"}]}

            """)
        documents.append("apiVersion: v1\nkind: Service\nmetadata: {name: \(app)-web}\nspec:\n  selector: {app: \(app)}\n  ports: [{port: 80}]\n")
        return documents.joined(separator: "---\n")
    }

    static func date(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    static func milliseconds(_ duration: Duration) -> Double { seconds(duration) * 1000 }

    static func format(_ duration: Duration) -> String { String(format: "%.1f s", seconds(duration)) }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
