public import ArgumentParser
import Foundation
import Hummingbird
public import Logging
import SlipwayConfig
import SlipwayGit
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
        var logger = Logger(label: "slipway")
        logger.logLevel = logLevel
        let serverConfig: ServerConfig
        do {
            serverConfig = try ServerConfig.load(path: config)
        } catch {
            throw ValidationError("\(error)")
        }
        do {
            let store = try SlipwayServer.openStore(config: serverConfig)
            logger.info("store opened", metadata: ["path": "\(store.path)", "apps": "\(serverConfig.apps.count)"])
            let mirrors = MirrorCache(root: serverConfig.mirrorsDir, caFile: serverConfig.gitCAFile)
            let dispatcher = JobDispatcher(config: serverConfig, store: store, mirrors: mirrors, logger: logger)
            let server = SlipwayServer(config: serverConfig, store: store, dispatcher: dispatcher, logger: logger)
            try await server.makeApplication().runService()
        } catch let error as ServerStartError {
            logger.critical("slipway could not start", metadata: ["error": "\(error)"])
            throw ExitCode.failure
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
