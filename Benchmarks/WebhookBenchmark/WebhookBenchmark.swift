import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOSSL
import SlipwayCore
import SlipwayWebhooks

/// Signed GitHub pushes against a real `slipway serve` process over loopback TLS:
/// pushes per second, p50/p99 time to the 202, and the server's peak RSS.
///
///     swift build -c release && .build/release/slipway-webhook-bench [pushes] [connections]
///
/// With `SLIPWAY_BENCH_DATABASE_URL` (a PostgreSQL server Slipway may create a database on,
/// e.g. under `script/with-postgres`: `SLIPWAY_BENCH_DATABASE_URL=$SLIPWAY_TEST_POSTGRES_URL`)
/// the store is a fresh PostgreSQL database, and `SLIPWAY_BENCH_REPLICAS=N` starts N servers
/// on it; the pushes go round-robin to them.
///
/// `soak MINUTES` instead sends, on 16 connections for that long, signed pushes mixed with
/// 4 MiB deliveries whose signature is wrong (one in ten), samples the server's RSS, stops,
/// and says where its RSS is 30 s later: whether memory comes back after a burst.
///
/// `wrk-script COUNT FILE [distinct|repeated]` writes signed pushes for wrk instead
/// (`Benchmarks/intake-vs-nginx` uses it to compare with nginx in one run).
@main
struct WebhookBenchmark {
    static func main() async throws {
        let arguments = CommandLine.arguments
        if arguments.count > 2 && arguments[1] == "wrk-script" {
            try WrkScript.write(count: Int(arguments[2]) ?? 50_000, to: arguments.count > 3 ? arguments[3] : "pushes.lua",
                                repeated: arguments.count > 4 && arguments[4] == "repeated",
                                secret: arguments.count > 5 ? arguments[5] : "bench-secret")
            return
        }
        let soakMinutes = arguments.count > 2 && arguments[1] == "soak" ? Double(arguments[2]) : nil
        let total = soakMinutes == nil && arguments.count > 1 ? Int(arguments[1]) ?? 20_000 : 20_000
        let connections = soakMinutes != nil ? 16 : (arguments.count > 2 ? Int(arguments[2]) ?? 64 : 64)
        let binary = URL(fileURLWithPath: arguments[0]).deletingLastPathComponent().appendingPathComponent("slipway")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-bench-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let secret = "bench-secret"
        let environment = ProcessInfo.processInfo.environment
        let replicas = Int(environment["SLIPWAY_BENCH_REPLICAS"] ?? "") ?? 1
        var store = ""
        if let server = environment["SLIPWAY_BENCH_DATABASE_URL"], var url = URLComponents(string: server) {
            // A fresh database for each run, made with psql (PostgreSQL's own client).
            let name = "slipway_bench_\(UUID().uuidString.prefix(8).lowercased())"
            let psql = Process()
            psql.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
            psql.arguments = [server, "-q", "-c", "CREATE DATABASE \(name)"]
            try psql.run()
            psql.waitUntilExit()
            guard psql.terminationStatus == 0 else { fatalError("cannot create the benchmark database on \(server)") }
            url.path = "/" + name
            url.query = "sslmode=disable"
            store = "store: {postgres: {url: {env: BENCH_DATABASE_URL}, pool: 16}}"
            setenv("BENCH_DATABASE_URL", url.string!, 1)
        }
        var servers: [(process: Process, port: Int, certificate: String)] = []
        for index in 0..<replicas {
            let config = dir.appendingPathComponent("slipway-\(index).yaml")
            try """
                listen: {host: 127.0.0.1, port: 0}
                data_dir: \(dir.path)/data-\(index)
                \(store)
                apps:
                  - {name: bench, repo: https://git.example.com/acme/bench.git, forge: github, webhook_secrets: [{env: BENCH_SECRET}]}
                """.write(to: config, atomically: true, encoding: .utf8)
            let server = Process()
            server.executableURL = binary
            server.environment = ["BENCH_SECRET": secret, "PATH": "/usr/bin:/bin",
                                  "BENCH_DATABASE_URL": ProcessInfo.processInfo.environment["BENCH_DATABASE_URL"] ?? "",
                                  // Allocator settings to compare (glibc.malloc.*), passed through.
                                  "GLIBC_TUNABLES": environment["GLIBC_TUNABLES"] ?? ""]
            let output = Pipe()
            server.standardOutput = output
            server.standardError = output
            server.arguments = ["serve", "--config", config.path, "--log-level", "notice"]
            try server.run()
            var seen = ""
            var port = 0
            while port == 0 {
                let data = output.fileHandleForReading.availableData
                guard !data.isEmpty else { fatalError("slipway serve exited:\n\(seen)") }
                seen += String(decoding: data, as: UTF8.self)
                if let range = seen.range(of: #"port=(\d+)"#, options: .regularExpression), seen.contains("slipway listening") {
                    port = Int(seen[range].dropFirst(5))!
                }
            }
            Thread.detachNewThread { while !output.fileHandleForReading.availableData.isEmpty {} }
            servers.append((server, port, "\(dir.path)/data-\(index)/tls/server.crt"))
        }
        defer { for server in servers { server.process.terminate(); server.process.waitUntilExit() } }
        let server = servers[0].process

        // One client per replica: each trusts its replica's own self-signed certificate (they
        // share a subject name, so one trust store of all of them would not verify).
        let clients = servers.map { server in
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.additionalTrustRoots = [.file(server.certificate)]
            var clientConfiguration = HTTPClient.Configuration(tlsConfiguration: tls)
            clientConfiguration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: max(1, connections / replicas))
            return HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        }
        let client = clients[0]
        let urls = servers.map { "https://localhost:\($0.port)/hooks/bench" }
        let url = urls[0]

        func push(_ n: Int) async throws -> Duration {
            let (headers, body) = BenchPush.signed(n, commitNumber: n + 1, deliveryID: "bench-\(n)", secret: secret)
            var request = HTTPClientRequest(url: urls[n % urls.count])
            request.method = .POST
            for header in headers {
                request.headers.add(name: header.name, value: header.value)
            }
            request.body = .bytes(ByteBuffer(data: body))
            let start = ContinuousClock.now
            let response = try await clients[n % clients.count].execute(request, timeout: .seconds(30))
            _ = try await response.body.collect(upTo: 1 << 20)
            guard response.status.code == 202 else { fatalError("push \(n) answered \(response.status)") }
            return ContinuousClock.now - start
        }

        // Warm up the connections and the server.
        for n in 0..<connections { _ = try await push(1_000_000 + n) }

        if let soakMinutes {
            let pid = server.processIdentifier
            func rss() -> Int {
                let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
                return Int(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }?.split(separator: " ").dropFirst().first ?? "") ?? 0
            }
            let idle = rss()
            let large = Data(repeating: UInt8(ascii: "a"), count: 4 << 20)
            func junk() async throws {
                var request = HTTPClientRequest(url: url)
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                request.headers.add(name: "X-GitHub-Event", value: "push")
                request.headers.add(name: "X-GitHub-Delivery", value: UUID().uuidString)
                request.headers.add(name: "X-Hub-Signature-256", value: "sha256=" + String(repeating: "0", count: 64))
                request.body = .bytes(ByteBuffer(data: large))
                let response = try await client.execute(request, timeout: .seconds(60))
                _ = try await response.body.collect(upTo: 1 << 20)
            }
            let end = ContinuousClock.now.advanced(by: .seconds(soakMinutes * 60))
            // SLIPWAY_BENCH_SOAK_MIX: push (signed pushes only), junk (4 MiB wrong signatures only), or both (default).
            let mix = environment["SLIPWAY_BENCH_SOAK_MIX"] ?? "mixed"
            var peak = idle
            let sampler = Task {
                var highest = 0
                while !Task.isCancelled {
                    highest = max(highest, rss())
                    try? await Task.sleep(for: .seconds(1))
                }
                return highest
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<connections {
                    group.addTask {
                        var n = 2_000_000 + worker
                        while ContinuousClock.now < end {
                            switch mix {
                            case "push": _ = try await push(n)
                            case "junk": try await junk()
                            default: if (n / connections) % 10 == 0 { try await junk() } else { _ = try await push(n) }
                            }
                            n += connections
                        }
                    }
                }
                try await group.waitForAll()
            }
            sampler.cancel()
            peak = max(peak, await sampler.value)
            let stopped = rss()
            try await Task.sleep(for: .seconds(30))
            let after = rss()
            let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
            let parts = status.split(separator: "\n").filter { $0.hasPrefix("RssAnon") || $0.hasPrefix("RssFile") || $0.hasPrefix("Threads") }
            print("server after the quiet: " + parts.map { $0.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ") }.joined(separator: ", "))
            for client in clients { try await client.shutdown() }
            print(String(format: "soak: %.1f min on %d connections, 1 in 10 deliveries 4 MiB with a wrong signature", soakMinutes, connections))
            print("server RSS: idle \(idle / 1024) MiB, peak under load \(peak / 1024) MiB, at the end of the load \(stopped / 1024) MiB, 30 s later \(after / 1024) MiB (\(String(format: "%.2f", Double(after) / Double(max(idle, 1))))x idle)")
            return
        }

        let started = ContinuousClock.now
        let latencies = try await withThrowingTaskGroup(of: [Duration].self) { group in
            for worker in 0..<connections {
                group.addTask {
                    var mine: [Duration] = []
                    var n = worker
                    while n < total {
                        mine.append(try await push(n))
                        n += connections
                    }
                    return mine
                }
            }
            var all: [Duration] = []
            for try await part in group { all += part }
            return all
        }
        let elapsed = ContinuousClock.now - started
        for client in clients { try await client.shutdown() }

        let sorted = latencies.sorted()
        func percentile(_ p: Double) -> Double {
            let d = sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
            return Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
        }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let status = (try? String(contentsOfFile: "/proc/\(server.processIdentifier)/status", encoding: .utf8)) ?? ""
        let peak = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }.map(String.init) ?? "VmHWM: unknown"
        print("pushes: \(total), connections: \(connections), cores: \(ProcessInfo.processInfo.activeProcessorCount), "
              + "store: \(store.isEmpty ? "sqlite" : "postgres"), replicas: \(replicas)")
        print(String(format: "throughput: %.0f pushes/s", Double(total) / seconds))
        print(String(format: "time to 202: p50 %.2f ms, p99 %.2f ms, max %.2f ms", percentile(0.5), percentile(0.99), percentile(1.0)))
        print("server peak RSS: \(peak.replacingOccurrences(of: "VmHWM:", with: "").trimmingCharacters(in: .whitespaces))")
    }
}
