public import Foundation
import Logging
import ServiceLifecycle
import SlipwayWebhooks
public import SlipwayClient
public import SlipwayConfig
import SlipwayForge
public import SlipwayCore
public import SlipwayGit
public import SlipwayKube
public import SlipwayRunner
import SlipwayMetrics
import SlipwayReconciler
import SlipwayServer
public import SlipwayStore

/// The real Slipway server, in this process, over TLS on a loopback port picked by the OS.
public final class LiveServer: Sendable {
    public let config: ServerConfig
    public let store: any JobStore
    public let dataDir: TemporaryDirectory
    private let served: ServedApplication

    public static let adminToken = "admin-token-for-tests"
    public static let readToken = "read-token-for-tests"

    /// A configuration with one app per forge, all signed with the fixtures' secret,
    /// named after the forge (`github`, `gitlab`, ...), plus an admin and a read token.
    public static func testConfig(dataDir: String) -> ServerConfig {
        var config = ServerConfig()
        config.host = "127.0.0.1"
        config.port = 0
        config.dataDir = dataDir
        config.idleTimeout = .seconds(15)
        config.storeBusyTimeout = .milliseconds(300)
        config.apiTokens = [
            APIToken(name: "test-admin", role: .admin, secret: SecretValue(adminToken)),
            APIToken(name: "test-reader", role: .read, secret: SecretValue(readToken)),
        ]
        config.apps = Forge.allCases.map { forge in
            var secrets = [SecretValue(WebhookFixture.secret)]
            if forge == .gitlab { secrets.append(SecretValue(WebhookFixture.gitlabSigningToken)) }
            // One repository each: apps sharing one would share its pushes (monorepo intake).
            return AppConfig(name: forge.rawValue, repoURL: "https://git.example.com/acme/storefront-\(forge.rawValue).git",
                             branch: "main", forge: forge, webhookSecrets: secrets)
        }
        return config
    }

    /// Starts a server; `configure` may change the test configuration first. With `runner`,
    /// queued jobs run (as in `slipway serve`); without, they stay queued.
    public static func start(
        now: @escaping @Sendable () -> Date = { Date() },
        runner: Bool = false,
        clusters: [String: KubeClient] = [:],
        reconciler: Bool = false,
        configure: (inout ServerConfig) -> Void = { _ in }
    ) async throws -> LiveServer {
        let dataDir = try TemporaryDirectory("slipway-live")
        var config = testConfig(dataDir: dataDir.path)
        configure(&config)
        // As `slipway serve` does: a real step in a real workspace under the data dir first.
        if runner, let problem = await Sandbox(config: config).probe(workspaces: config.workspacesDir) {
            dataDir.remove()
            throw LiveServerError.sandboxRefused(problem)
        }
        var logger = Logger(label: "slipway-test")
        logger.logLevel = .warning
        let store = try await SlipwayServer.openStore(config: config)
        let metrics = SlipwayMetrics(apps: config.apps.map { ($0.name, $0.forge) })
        let mirrors = MirrorCache(root: config.mirrorsDir, caFile: config.gitCAFile)
        let dispatcher = runner
            ? JobDispatcher(config: config, store: store, mirrors: mirrors, clusters: clusters, logger: logger,
                            stepPollInterval: .milliseconds(100), pollInterval: .milliseconds(250), healthPollInterval: .milliseconds(50),
                            metrics: metrics, now: now)
            : nil
        var server = SlipwayServer(config: config, store: store, dispatcher: dispatcher, logger: logger, now: now)
        if !clusters.isEmpty {
            server.preview = DeployPreview(config: config, store: store, mirrors: mirrors, clusters: clusters)
        }
        server.metrics = metrics
        server.mirrors = mirrors
        let reporter = StatusReporter(config: config, store: store, logger: logger, interval: .milliseconds(100))
        if reporter.isNeeded { server.reporter = reporter }
        if reconciler {
            server.reconciler = Reconciler(config: config, store: store, mirrors: mirrors, clusters: clusters, logger: logger,
                                           tick: .milliseconds(100), metrics: metrics, now: now, jobsChanged: { dispatcher?.wake() })
        }
        let served = try await ServedApplication.start(logger: logger) { listening in
            try server.makeApplication { port in listening(port) }
        }
        return LiveServer(config: config, store: store, served: served, dataDir: dataDir)
    }

    private init(config: ServerConfig, store: any JobStore, served: ServedApplication, dataDir: TemporaryDirectory) {
        self.config = config
        self.store = store
        self.served = served
        self.dataDir = dataDir
    }

    public var port: Int { served.port }

    /// `https://localhost:PORT`: the name is in the generated certificate.
    public var baseURL: String { "https://localhost:\(port)" }

    /// The generated self-signed certificate, to trust in clients.
    public var certificatePath: String { dataDir.url.appendingPathComponent("tls/server.crt").path }

    /// A client that trusts this server's certificate, with the given bearer token.
    public func client(token: String? = LiveServer.adminToken) throws -> APIClient {
        try APIClient(baseURL: baseURL, token: token, caFile: certificatePath)
    }

    public func stop() async {
        await served.stop()
        dataDir.remove()
    }
}

public enum LiveServerError: Error {
    case didNotStart
    /// The sandbox's start-up probe refused the configuration, as `slipway serve` would.
    case sandboxRefused(String)
}

/// Runs `body` with a started server and always stops it.
public func withLiveServer<T>(
    now: @escaping @Sendable () -> Date = { Date() },
    runner: Bool = false,
    clusters: [String: KubeClient] = [:],
    reconciler: Bool = false,
    configure: (inout ServerConfig) -> Void = { _ in },
    _ body: (LiveServer) async throws -> T
) async throws -> T {
    let server = try await LiveServer.start(now: now, runner: runner, clusters: clusters, reconciler: reconciler, configure: configure)
    do {
        let result = try await body(server)
        await server.stop()
        return result
    } catch {
        await server.stop()
        throw error
    }
}

extension LiveServer {
    /// Runs `body` with a client of this server and shuts the client down afterwards.
    public func withClient<T>(token: String? = LiveServer.adminToken, _ body: (APIClient) async throws -> T) async throws -> T {
        let client = try client(token: token)
        do {
            let result = try await body(client)
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }
}

extension LiveServer {
    /// Sends a push of `commit` to `app`'s hook, signed as GitHub would (the app must use
    /// `forge: github`), and returns the job id the server answered with.
    public func push(app: String, commit: String, branch: String = "main", secret: String = WebhookFixture.secret) async throws -> JobID {
        let body = TestPush.body(forge: .github, repository: "acme/\(app)", cloneURL: "file:///dev/null", branch: branch,
                                 before: String(repeating: "0", count: 40), commit: commit, message: "test push")
        let headers = GitHubAdapter().signedHeaders(body: body, event: "push", deliveryID: UUID().uuidString,
                                                    secret: SecretValue(secret), now: Date())
        let (status, answer) = try await withClient(token: nil) { client in
            try await client.send(.POST, "/hooks/\(app)", headers: headers.map { ($0.name, $0.value) }, body: body)
        }
        struct Accepted: Decodable { var job: Int64 }
        guard (200..<300).contains(status), let accepted = try? JSONDecoder().decode(Accepted.self, from: answer) else {
            throw PushRefused(status: status, body: String(decoding: answer, as: UTF8.self))
        }
        return accepted.job
    }

    /// `push`, sent again after a 503 as a forge's redelivery would be, for up to `timeout`:
    /// on a loaded machine a store that just came back can still be busy for a moment.
    public func pushRedelivering(app: String, commit: String, timeout: Duration = .seconds(30)) async throws -> JobID {
        let deadline = ContinuousClock.now + timeout
        while true {
            do {
                return try await push(app: app, commit: commit)
            } catch let refused as PushRefused where refused.status == 503 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(500))
            }
        }
    }

    /// Waits until the job reaches a final status and returns it.
    public func waitForEnd(of id: JobID, timeout: Duration = .seconds(60)) async throws -> Job {
        var job: Job?
        try await waitFor(timeout: timeout) {
            job = try await store.job(id: id)
            return job?.status.isFinal == true
        }
        return job!
    }

    /// The whole log of a job, as stored.
    public func log(of id: JobID) async throws -> String {
        try await store.logChunks(jobID: id, limit: .max).map(\.text).joined()
    }
}

public struct PushRefused: Error, CustomStringConvertible {
    public var status: Int
    public var body: String
    public var description: String { "push answered \(status): \(body)" }
}
