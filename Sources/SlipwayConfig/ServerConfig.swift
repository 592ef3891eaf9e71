public import Foundation
public import SlipwayCore

/// Everything `slipway serve` needs, read from config/slipway.yaml.
public struct ServerConfig: Sendable {
    public enum TLSMode: Sendable, Equatable {
        /// Generate a certificate into the data dir at first start (the embedded default).
        case selfSigned
        /// Certificate chain and private key from PEM files.
        case files(certificate: String, key: String)
        /// Plain HTTP, only for running behind a TLS-terminating proxy.
        case disabled
    }

    public var host: String = "0.0.0.0"
    public var port: Int = 8443
    public var tls: TLSMode = .selfSigned
    /// The URL clients use to reach this server; `status_url` in webhook answers is built on it.
    public var publicURL: String?
    public var dataDir: String = "data"
    /// Largest webhook body accepted; GitHub never sends more than 25 MB.
    public var maxBodyBytes: Int = 25 * 1024 * 1024
    /// Memory all webhook bodies being read may hold together; a delivery that would exceed
    /// it waits (its connection is not read meanwhile), so many large deliveries at once
    /// cannot multiply the server's memory. At least `maxBodyBytes`.
    public var bodyMemory: Int = 32 * 1024 * 1024
    /// All header lines of a request together, in bytes (nginx's default is 32 KiB); more: 431.
    public var maxHeaderBytes: Int = 32 * 1024
    /// Header lines of a request; more: 431.
    public var maxHeaderCount: Int = 100
    /// The request target (path and query), in bytes; longer: 414.
    public var maxRequestTarget: Int = 8 * 1024
    /// A connection that sends nothing for this long is closed.
    public var idleTimeout: Duration = .seconds(30)
    /// How long a store write waits for a lock before the server answers 503.
    public var storeBusyTimeout: Duration = .seconds(5)
    public var workers: Int = 2
    /// How long a browser stays signed in to the dashboard (`web.session_lifetime`).
    public var sessionLifetime: Duration = .seconds(12 * 3600)
    /// The server's hooks folder, for `hook:` steps.
    public var hooksDir: String = "hooks"
    /// Finished jobs' workspaces kept for debugging, newest first.
    public var keepWorkspaces: Int = 3
    /// A job interrupted by a crash or shutdown runs again until it has had this many attempts.
    public var maxAttempts: Int = 2
    /// On shutdown, running steps may finish for this long before they are interrupted.
    public var shutdownGrace: Duration = .seconds(30)
    /// A running job's lease: renewed every third of it; a replica silent for longer loses
    /// its jobs to the others.
    public var lease: Duration = .seconds(30)
    /// A step that times out or is cancelled gets SIGTERM, then SIGKILL this much later.
    public var killGrace: Duration = .seconds(10)
    /// The `slipway-step-guard` binary that parents every step (nil: next to the running one).
    public var stepGuard: String?
    /// Where jobs, logs and deploys are kept.
    public var store: StoreSettings = .sqlite
    /// Extra CA certificates (PEM) to trust for https git remotes.
    public var gitCAFile: String?
    /// How steps are confined.
    public var sandbox = SandboxSettings()
    /// Where apps' build and test steps run unless an app says otherwise (`runner.executor`).
    public var executor: StepExecutorKind = .local
    /// The `kubernetes` executor's cluster, namespace and pods; nil when not configured.
    public var kubernetes: KubernetesExecutorSettings?
    /// Limits of each step.
    public var stepLimits = StepLimits.default
    /// The reconciler's concurrency, timeouts and watches.
    public var reconciler = ReconcilerSettings()
    /// The file this configuration was read from (hidden from steps).
    public var configPath: String?
    public var apiTokens: [APIToken] = []
    public var apps: [AppConfig] = []
    public var clusters: [ClusterConfig] = []
    /// Where rollouts' analyses are measured (`metrics_providers`).
    public var metricsProviders: [MetricsProvider] = []

    public init() {}

    public var databasePath: String { (dataDir as NSString).appendingPathComponent("slipway.sqlite") }
    public var mirrorsDir: String { (dataDir as NSString).appendingPathComponent("mirrors") }
    public var workspacesDir: String { (dataDir as NSString).appendingPathComponent("workspaces") }
    /// Workspace archives served to job pods, by commit.
    public var archivesDir: String { (dataDir as NSString).appendingPathComponent("archives") }
    /// The folder of the certificate and key `tls.mode: self-signed` generates.
    public var selfSignedTLSDir: String { (dataDir as NSString).appendingPathComponent("tls") }
    /// The certificate `tls.mode: self-signed` generates (the name `TLSIdentity.selfSigned` gives it).
    public var selfSignedCertificatePath: String { (selfSignedTLSDir as NSString).appendingPathComponent("server.crt") }

    public func cluster(named name: String) -> ClusterConfig? {
        clusters.first { $0.name == name }
    }

    /// Where `app`'s build and test steps run.
    public func executor(of app: AppConfig) -> StepExecutorKind {
        app.executor ?? executor
    }

    public func app(named name: String) -> AppConfig? {
        apps.first { $0.name == name }
    }

    /// The base URL for links in answers: the configured public URL, or one built from the listener.
    public var baseURL: String {
        if let publicURL { return publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL }
        let scheme = tls == .disabled ? "http" : "https"
        let host = (self.host == "0.0.0.0" || self.host == "::") ? "localhost" : self.host
        return "\(scheme)://\(host):\(port)"
    }
}

/// How to reach one cluster: a kubeconfig (and context), or the pod's service account.
public struct ClusterConfig: Sendable, Hashable {
    public enum Source: Sendable, Hashable {
        case kubeconfig(path: String, context: String?)
        case inCluster
    }

    public var name: String
    public var source: Source
    /// Requests to this cluster's API that may be in flight at once.
    public var maxInFlight: Int

    public static let defaultMaxInFlight = 16

    public init(name: String, source: Source, maxInFlight: Int = ClusterConfig.defaultMaxInFlight) {
        self.name = name
        self.source = source
        self.maxInFlight = maxInFlight
    }
}

/// The store: the embedded SQLite file (one server), or a PostgreSQL database that several
/// replicas share.
public enum StoreSettings: Sendable, Equatable {
    case sqlite
    /// `url` is `postgres://user:password@host:port/database`; `pool` connections at most.
    case postgres(url: SecretValue, pool: Int)
}

extension ServerConfig {
    /// A cycle in `depends_on` (`a -> b -> a`), if there is one.
    public func dependencyCycle() -> [String]? {
        var state: [String: Bool] = [:]  // false: on the current path; true: done
        var path: [String] = []
        func visit(_ name: String) -> [String]? {
            if state[name] == true { return nil }
            if state[name] == false, let start = path.firstIndex(of: name) { return Array(path[start...]) + [name] }
            state[name] = false
            path.append(name)
            for dependency in app(named: name)?.dependsOn ?? [] {
                if let cycle = visit(dependency) { return cycle }
            }
            path.removeLast()
            state[name] = true
            return nil
        }
        for app in apps {
            if let cycle = visit(app.name) { return cycle }
        }
        return nil
    }

    /// Apps ordered so that every app comes after the apps it depends on (configuration order
    /// otherwise).
    public func dependencyOrder(_ names: [String]) -> [String] {
        var ordered: [String] = []
        func place(_ name: String) {
            guard !ordered.contains(name) else { return }
            for dependency in app(named: name)?.dependsOn ?? [] where names.contains(dependency) { place(dependency) }
            ordered.append(name)
        }
        for name in names { place(name) }
        return ordered
    }
}
