public import Foundation
import SlipwayCore

extension ServerConfig {
    /// Reads and validates a server configuration file. Secrets are resolved now, so a
    /// missing environment variable stops the start with a clear message instead of
    /// failing the first webhook.
    public static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigError) -> ServerConfig {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError(file: path, message: "cannot read the configuration file: \(error.localizedDescription)")
        }
        return try parse(text, file: path, environment: environment)
    }

    public static func parse(_ text: String, file: String, environment: [String: String]) throws(ConfigError) -> ServerConfig {
        let root = try YAMLNode.parse(text, file: file).mapping(allowing: [
            "listen", "tls", "public_url", "data_dir", "limits", "workers", "api_tokens", "apps",
        ])
        var config = ServerConfig()
        if let listen = try root["listen"]?.mapping(allowing: ["host", "port"]) {
            if let host = listen["host"] { config.host = try host.string() }
            if let port = listen["port"] {
                config.port = try port.int()
                guard (0...65535).contains(config.port) else { throw port.error("a port is between 0 and 65535") }
            }
        }
        if let publicURL = root["public_url"] { config.publicURL = try publicURL.string() }
        if let dataDir = root["data_dir"] { config.dataDir = try dataDir.string() }
        if let tls = root["tls"] { config.tls = try parseTLS(tls) }
        if let limits = try root["limits"]?.mapping(allowing: ["max_body_bytes", "idle_timeout", "store_busy_timeout"]) {
            if let node = limits["max_body_bytes"] {
                config.maxBodyBytes = try node.int()
                guard config.maxBodyBytes > 0 else { throw node.error("must be more than 0") }
            }
            if let node = limits["idle_timeout"] { config.idleTimeout = try node.duration() }
            if let node = limits["store_busy_timeout"] { config.storeBusyTimeout = try node.duration() }
        }
        if let node = root["workers"] {
            config.workers = try node.int()
            guard config.workers >= 1 else { throw node.error("at least one worker is needed") }
        }
        let secrets = SecretResolver(environment: environment)
        for node in try root["api_tokens"]?.sequence() ?? [] {
            let token = try node.mapping(allowing: ["name", "role", "token"])
            let name = try token.required("name").string()
            let role = try token.required("role").oneOf(APIRole.self)
            let secret = try secrets.resolve(token.required("token"))
            guard !config.apiTokens.contains(where: { $0.name == name }) else { throw node.error("a token named '\(name)' is already defined") }
            config.apiTokens.append(APIToken(name: name, role: role, secret: secret))
        }
        for node in try root["apps"]?.sequence() ?? [] {
            let app = try parseApp(node, secrets: secrets)
            guard config.app(named: app.name) == nil else { throw node.error("an app named '\(app.name)' is already defined") }
            config.apps.append(app)
        }
        return config
    }

    private static func parseTLS(_ node: YAMLNode) throws(ConfigError) -> TLSMode {
        let tls = try node.mapping(allowing: ["mode", "certificate", "key"])
        let mode = try tls["mode"]?.string() ?? (tls["certificate"] == nil ? "self-signed" : "files")
        switch mode {
        case "self-signed":
            return .selfSigned
        case "files":
            return .files(certificate: try tls.required("certificate").string(), key: try tls.required("key").string())
        case "disabled":
            return .disabled
        default:
            throw node.error("tls.mode '\(mode)' is not one of: self-signed, files, disabled")
        }
    }

    /// App names become URL path segments and file names.
    static let appNameCharacters = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyz0123456789-_.")

    private static func parseApp(_ node: YAMLNode, secrets: SecretResolver) throws(ConfigError) -> AppConfig {
        let app = try node.mapping(allowing: ["name", "repo", "branch", "forge", "webhook_secrets"])
        let nameNode = try app.required("name")
        let name = try nameNode.string()
        guard !name.isEmpty, name.unicodeScalars.allSatisfy(appNameCharacters.contains), !name.hasPrefix(".") else {
            throw nameNode.error("app names use lower-case letters, digits, '-', '_' and '.' only, found '\(name)'")
        }
        let repo = try app.required("repo").string()
        let branch = try app["branch"]?.string() ?? "main"
        let forge = try app.required("forge").oneOf(Forge.self)
        let secretNodes = try app.required("webhook_secrets").sequence()
        guard !secretNodes.isEmpty else {
            throw node.error("app '\(name)' needs at least one webhook secret: unsigned webhooks are never accepted")
        }
        var resolved: [SecretValue] = []
        for secretNode in secretNodes {
            resolved.append(try secrets.resolve(secretNode))
        }
        return AppConfig(name: name, repoURL: repo, branch: branch, forge: forge, webhookSecrets: resolved)
    }
}
