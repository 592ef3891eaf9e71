public import ArgumentParser
import Foundation
import Hummingbird
public import Logging
import SlipwayConfig
import SlipwayForge
import SlipwayCore
import SlipwayGit
import SlipwayKube
import SlipwayMetrics
import SlipwayReconciler
import SlipwayRunner
import SlipwayServer

/// `slipway serve`: run the server until SIGTERM or SIGINT.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the Slipway server.")

    @Option(name: .shortAndLong, help: "The server configuration file.")
    var config: String = "config/slipway.yaml"

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func run() async throws {
        FreeMemory.mapLargeBlocksSeparately()
        FreeMemory.keepFreeHeapTop()
        var logger = Logger(label: "slipway") { ServerLogHandler(label: $0) }
        logger.logLevel = logLevel
        let serverConfig: ServerConfig
        do {
            serverConfig = try ServerConfig.load(path: config)
        } catch {
            throw CommandFailure("\(error)")
        }
        // Steps run confined, or the server does not start (unless told to run them unconfined).
        let sandbox = Sandbox(config: serverConfig)
        if let problem = await sandbox.probe(workspaces: serverConfig.workspacesDir) { throw CommandFailure(problem) }
        if serverConfig.sandbox.mode == .none {
            logger.warning("runner.sandbox is none: steps run unconfined as the server's user and can read everything it can (its tokens, database and kubeconfigs)")
        }
        do {
            let store = try await SlipwayServer.openStore(config: serverConfig)
            logger.info("store opened", metadata: ["location": "\(store.location)", "apps": "\(serverConfig.apps.count)"])
            let mirrors = MirrorCache(root: serverConfig.mirrorsDir, caFile: serverConfig.gitCAFile)
            var clusters: [String: KubeClient] = [:]
            for cluster in serverConfig.clusters {
                do {
                    let access: ClusterAccess = switch cluster.source {
                    case .kubeconfig(let path, let context): try ClusterAccess.kubeconfig(path: path, context: context)
                    case .inCluster: try ClusterAccess.inCluster()
                    }
                    clusters[cluster.name] = try KubeClient(access: access, maxInFlight: cluster.maxInFlight, logger: logger)
                    logger.info("cluster configured", metadata: ["cluster": "\(cluster.name)", "server": "\(access.server)"])
                } catch {
                    throw CommandFailure("cluster '\(cluster.name)': \(error)")
                }
            }
            // The builds namespace must exist; a cluster that does not answer now may later.
            if let settings = serverConfig.kubernetes, let client = clusters[settings.cluster] {
                do {
                    if try await client.get(apiVersion: "v1", kind: "Namespace", namespace: nil, name: settings.namespace) == nil {
                        throw CommandFailure("runner.kubernetes.namespace '\(settings.namespace)' does not exist on cluster '\(settings.cluster)': create it (and the Role of README \"Running steps on Kubernetes\") first")
                    }
                } catch let error as KubeError {
                    logger.warning("cannot check the builds namespace", metadata: ["namespace": "\(settings.namespace)", "error": "\(error)"])
                }
            }
            let metrics = SlipwayMetrics(apps: serverConfig.apps.map { ($0.name, $0.forge) })
            let dispatcher = JobDispatcher(config: serverConfig, store: store, mirrors: mirrors, clusters: clusters, logger: logger, metrics: metrics)
            var server = SlipwayServer(config: serverConfig, store: store, dispatcher: dispatcher, logger: logger)
            server.preview = DeployPreview(config: serverConfig, store: store, mirrors: mirrors, clusters: clusters)
            server.metrics = metrics
            server.mirrors = mirrors
            let reporter = StatusReporter(config: serverConfig, store: store, logger: logger)
            if reporter.isNeeded { server.reporter = reporter }
            server.reconciler = Reconciler(config: serverConfig, store: store, mirrors: mirrors, clusters: clusters, logger: logger,
                                           metrics: metrics, replica: dispatcher.replica, jobsChanged: { dispatcher.wake() })
            // Started: the code only starting ran is handed back (see FreeMemory), a few
            // seconds after listening so that the services' first rounds (interrupted jobs
            // recovered, the first reconcile) are part of the start.
            let startLogger = logger
            try await server.makeApplication(onListening: { _ in
                Task {
                    try? await Task.sleep(for: .seconds(5))
                    if !FreeMemory.reclaimMappedCode() { startLogger.debug("this kernel cannot reclaim pages on request (MADV_PAGEOUT)") }
                }
            }).runService()
        } catch let error as ServerStartError {
            logger.critical("slipway could not start", metadata: ["error": "\(error)"])
            throw ExitCode.failure
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
