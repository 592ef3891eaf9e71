import Foundation
import KubeTestServer
import Logging
import SlipwayConfig
import SlipwayCore
import SlipwayDeploy
import SlipwayKube
import SlipwayStore
import SlipwayTestSupport

/// Deploy timings against the in-process Kubernetes API test server (which plays the
/// workload controllers every 50 ms):
/// 1. push acknowledged → job succeeded, for an app of 50 objects with no build steps;
/// 2. applying 500 objects with the deployer (dry-run, apply, health), then again unchanged;
/// 3. reconciling (drift and health) apps of 100 and 1000 objects.
///
///     swift build -c release && .build/release/slipway-deploy-bench
@main
struct DeployBenchmark {
    static func main() async throws {
        try await run()
    }

    /// Off the main actor: the live server's closures run on the cooperative pool.
    nonisolated static func run() async throws {
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let kube = try await KubeTestServer.start(controllers: true)
        let client = try kube.client(retry: .default)
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
                    let log = try server.log(of: id)
                    fatalError("job \(id): \(job.reason ?? "")\n\(log)")
                }
                pushTimes.append(ContinuousClock.now - acknowledged)
            }
        }
        print("push acknowledged -> 50 objects applied and healthy (5 rounds, first is a clone + create):")
        print("  " + pushTimes.map { format($0) }.joined(separator: ", "))

        // 2. 500 objects straight through the deployer.
        let manifests = (0..<500).map { n in
            Manifest(object: try! YAMLDocuments.parseOne(n % 10 == 0 ? deployment("big-\(n)", image: "shop:1") : configMap("big-\(n)", value: "v1"), file: "bench"),
                     source: "bench", index: n, line: 1)
        }
        let deployer = Deployer(client: client, pollInterval: .milliseconds(50))
        let options = Deployer.Options(defaultNamespace: "bench", applySetID: Deployer.applySetID(app: "big", namespace: "bench"), wait: .seconds(120))
        for label in ["500 objects, created", "500 objects, unchanged"] {
            let start = ContinuousClock.now
            _ = try await deployer.deploy(manifests, options: options, previous: []) { _ in }
            print("\(label): \(format(ContinuousClock.now - start)) (dry-run + apply + health)")
        }
        // 3. Reconcile (drift + health) of apps with 100 and 1000 objects.
        for size in [100, 1000] {
            let namespace = "reconcile-\(size)"
            _ = try await client.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(namespace)]], fieldManager: "setup", force: true)
            let set = (0..<size).map { n in
                Manifest(object: try! YAMLDocuments.parseOne(n % 10 == 0 ? deployment("r-\(n)", image: "shop:1") : configMap("r-\(n)", value: "v1"), file: "bench"),
                         source: "bench", index: n, line: 1)
            }
            let id = Deployer.applySetID(app: namespace, namespace: namespace)
            _ = try await deployer.deploy(set, options: .init(defaultNamespace: namespace, applySetID: id, wait: .seconds(300)), previous: []) { _ in }
            var times: [String] = []
            for _ in 0..<3 {
                let start = ContinuousClock.now
                let (report, _) = try await DriftDetector(client: client).detect(desired: set, applySetID: id, defaultNamespace: namespace)
                guard report.inSync else { fatalError("unexpected drift: \(report.drifted.prefix(3))") }
                times.append(format(ContinuousClock.now - start))
            }
            print("reconcile of \(size) objects (2 LISTs, \(size) dry-runs, compare, health): \(times.joined(separator: ", ")); RSS now \(memory("VmRSS:"))")
        }
        print("peak RSS (benchmark, test API server and Slipway in one process): \(memory("VmHWM:"))")
        await client.shutdown()
        await kube.stop()
    }

    static func memory(_ field: String) -> String {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
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
