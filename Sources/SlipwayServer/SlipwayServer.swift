public import Foundation
public import Hummingbird
import HummingbirdCore
import HummingbirdTLS
public import Logging
import NIOCore
import ServiceLifecycle
public import SlipwayConfig
public import SlipwayGit
public import SlipwayForge
import SlipwayCore
public import SlipwayMetrics
public import SlipwayReconciler
public import SlipwayRunner
public import SlipwayStore

/// The HTTP(S) face of Slipway: webhooks in, the job API out.
public struct SlipwayServer: Sendable {
    public let config: ServerConfig
    public let store: any JobStore
    public let logger: Logger
    /// The clock webhook checks use; tests set it to replay signed fixtures.
    public let now: @Sendable () -> Date
    public var followInterval: Duration = .milliseconds(200)
    /// Runs queued jobs; nil serves the API and intake only.
    public let dispatcher: JobDispatcher?
    /// Answers `slipway diff --commit`; nil when no cluster is configured.
    public var preview: DeployPreview?
    /// App status, drift, refresh; nil when not running.
    public var reconciler: Reconciler?
    /// Served on `/metrics`.
    public var metrics: SlipwayMetrics?
    /// The git mirrors, for the files a push changed when its payload does not list them all.
    public var mirrors: MirrorCache?
    /// Sends commit statuses to the forges; nil when no app reports to one.
    public var reporter: StatusReporter?

    public init(config: ServerConfig, store: any JobStore, dispatcher: JobDispatcher?, logger: Logger, now: @escaping @Sendable () -> Date = { Date() }) {
        self.config = config
        self.store = store
        self.dispatcher = dispatcher
        self.logger = logger
        self.now = now
    }

    /// Opens the configured store: the SQLite file in the data dir, or the PostgreSQL database.
    public static func openStore(config: ServerConfig) async throws(ServerStartError) -> any JobStore {
        do {
            switch config.store {
            case .sqlite:
                return try SQLiteJobStore(path: config.databasePath, busyTimeout: config.storeBusyTimeout)
            case .postgres(let url, let pool):
                return try await PostgresJobStore(url: url.value, pool: pool, timeout: config.storeBusyTimeout)
            }
        } catch {
            throw .store("\(error)")
        }
    }

    public func makeRouter() -> Router<SlipwayRequestContext> {
        let router = Router(context: SlipwayRequestContext.self, options: .autoGenerateHeadEndpoints)
        router.get("/healthz") { _, _ in JSONBody.response(.ok, ["status": "ok"]) }
        router.get("/readyz") { _, _ in
            await store.isReady()
                ? JSONBody.response(.ok, ["status": "ready"])
                : JSONBody.response(.serviceUnavailable, ["status": "store unavailable"])
        }
        router.get("/api/v1/openapi.yaml") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/yaml; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(bytes: PackageResources.openapi_yaml)))
        }
        let dispatcher = self.dispatcher
        let jobsChanged: @Sendable () -> Void = { dispatcher?.wake() }
        WebhookRoutes(config: config, store: store, now: now, logger: logger, jobsChanged: jobsChanged, metrics: metrics,
                      bodyBudget: BodyBudget(capacity: config.bodyMemory),
                      monorepo: MonorepoIntake(config: config, store: store, mirrors: mirrors, logger: logger),
                      outbox: StatusOutbox(config: config, store: store)).register(on: router)
        // Before the API group: the job's own token, not an API token (see WorkspaceRoutes).
        WorkspaceRoutes(config: config, store: store, archives: mirrors.map { WorkspaceArchive(mirrors: $0, directory: config.archivesDir) },
                        logger: logger, now: now).register(on: router)
        let tokens = TokenDirectory(config.apiTokens)
        let sessions = WebSessions(store: store, tokens: tokens, lifetime: config.sessionLifetime, now: now)
        let api = router.group("/api/v1").add(middleware: TokenAuthenticator(tokens: tokens, sessions: sessions))
        let overview = AppOverview(config: config, store: store, reconciler: reconciler)
        let jobRoutes = JobRoutes(store: store, logger: logger, followInterval: followInterval, jobsChanged: jobsChanged,
                                  feed: StatusFeed(overview: overview, interval: followInterval * 5), outbox: StatusOutbox(config: config, store: store))
        let appRoutes = AppRoutes(config: config, store: store, preview: preview, reconciler: reconciler, jobsChanged: jobsChanged)
        jobRoutes.register(on: api)
        appRoutes.register(on: api)
        RolloutRoutes(apps: appRoutes).register(on: api)
        PageRoutes(config: config, store: store, sessions: sessions, overview: overview, apps: appRoutes, jobs: jobRoutes,
                   preview: preview, logger: logger).register(on: router)
        if let metrics {
            router.get("/metrics") { _, _ in
                Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                         body: .init(byteBuffer: ByteBuffer(string: metrics.exposition())))
            }
        }
        router.add(middleware: MethodNotAllowed(routes: router.routes.map { ($0.path.description, $0.method) }))
        return router
    }

    /// The application, listening as configured. `onListening` gets the bound port
    /// (useful with port 0).
    public func makeApplication(onListening: @escaping @Sendable (Int) async -> Void = { _ in }) throws(ServerStartError) -> some ApplicationProtocol {
        let limits = RequestHeadLimits.Limits(headerBytes: config.maxHeaderBytes, headerCount: config.maxHeaderCount, requestTarget: config.maxRequestTarget)
        var channel = HTTP1Channel.Configuration(additionalChannelHandlers: [RequestHeadLimits(limits: limits)],
                                                 idleTimeout: .nanoseconds(Int64(config.idleTimeout / .nanoseconds(1))))
        // The decoder stops what is far beyond the limits before it is held in memory.
        channel.httpDecoder = .init(maxHeaderFieldSize: 2 * (config.maxHeaderBytes + config.maxRequestTarget),
                                    maxHeaderListSize: 2 * (config.maxHeaderBytes + config.maxRequestTarget),
                                    maxHeaderFieldCount: 2 * config.maxHeaderCount)
        let http1 = HTTPServerBuilder.http1(configuration: channel)
        let server: HTTPServerBuilder
        switch config.tls {
        case .disabled:
            logger.warning("TLS is disabled: serve only behind a TLS-terminating proxy")
            server = http1
        case .selfSigned:
            let identity = try TLSIdentity.selfSigned(in: config.selfSignedTLSDir,
                                                     hostnames: [config.host, ProcessInfo.processInfo.hostName], logger: logger)
            logger.info("TLS certificate", metadata: ["path": "\(identity.certificatePath)", "sha256-fingerprint": "\(identity.fingerprint)"])
            server = try Self.tls(http1, identity)
        case .files(let certificate, let key):
            let identity = try TLSIdentity.load(certificate: certificate, key: key)
            logger.info("TLS certificate", metadata: ["path": "\(identity.certificatePath)", "sha256-fingerprint": "\(identity.fingerprint)"])
            server = try Self.tls(http1, identity)
        }
        let logger = self.logger
        return Application(
            router: makeRouter(),
            server: server,
            configuration: .init(address: .hostname(config.host, port: config.port), serverName: "slipway"),
            services: ([dispatcher] as [(any Service)?] + [reconciler, reporter]).compactMap { $0 },
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                logger.notice("slipway listening", metadata: ["port": "\(port)"])
                await onListening(port)
            },
            logger: logger
        )
    }

    private static func tls(_ base: HTTPServerBuilder, _ identity: TLSIdentity) throws(ServerStartError) -> HTTPServerBuilder {
        let configuration = try identity.serverConfiguration()
        do {
            return try .tls(base, tlsConfiguration: configuration)
        } catch {
            throw .tls("cannot set up TLS: \(error)")
        }
    }
}
