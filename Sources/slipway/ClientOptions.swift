import ArgumentParser
import Foundation
import SlipwayClient
import SlipwayConfig
import SlipwayCore

/// How the CLI finds the server: `--server` and `--token`, or the local server's config file
/// (its URL, its self-signed certificate, and its first admin token).
struct ClientOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "The server configuration file, to find URL, certificate and token when not given.")
    var config: String = "config/slipway.yaml"

    @Option(help: "The server's base URL, such as https://slipway.example.com:8443.")
    var server: String?

    @Option(help: "An API token (or set SLIPWAY_TOKEN).")
    var token: String?

    @Option(help: "A PEM file with the certificate(s) to trust for the server.")
    var caFile: String?

    @Flag(help: "Do not verify the server's certificate.")
    var insecure = false

    func makeClient() throws -> APIClient {
        let environment = ProcessInfo.processInfo.environment
        // Best effort: the local config only fills in what the flags leave open.
        var local: ServerConfig?
        var unreadable: String?
        if server == nil || (token ?? environment["SLIPWAY_TOKEN"]) == nil || (caFile == nil && !insecure) {
            do {
                local = try ServerConfig.load(path: config)
            } catch {
                unreadable = "\(error)"
            }
        }
        guard let baseURL = server ?? local?.baseURL else {
            throw CommandFailure("no server to talk to: \(unreadable ?? "\(config) gives no address"). "
                                 + "Give --server URL (and --token), or --config with the server's configuration file")
        }
        let token = token ?? environment["SLIPWAY_TOKEN"] ?? local.flatMap { config in
            (config.apiTokens.first { $0.role == .admin } ?? config.apiTokens.first)?.secret.value
        }
        var caFile = caFile
        if caFile == nil, let local, local.tls == .selfSigned {
            let generated = (local.dataDir as NSString).appendingPathComponent("tls/server.crt")
            if FileManager.default.fileExists(atPath: generated) { caFile = generated }
        }
        return try APIClient(baseURL: baseURL, token: token, caFile: caFile, insecure: insecure)
    }
}
