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
        var config = try parse(text, file: path, environment: environment)
        config.configPath = path
        return config
    }

    public static func parse(_ text: String, file: String, environment: [String: String]) throws(ConfigError) -> ServerConfig {
        let root = try YAMLNode.parse(text, file: file).mapping(allowing: [
            "listen", "tls", "public_url", "data_dir", "store", "limits", "workers", "runner", "api_tokens", "clusters", "apps", "web",
            "reconciler", "metrics_providers",
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
        if let limits = try root["limits"]?.mapping(allowing: ["max_body_bytes", "idle_timeout", "store_busy_timeout", "max_header_bytes",
                                                               "max_header_count", "max_request_target", "body_memory"]) {
            if let node = limits["max_header_bytes"] { config.maxHeaderBytes = try node.byteSize() }
            if let node = limits["max_header_count"] { config.maxHeaderCount = try Self.positive(node) }
            if let node = limits["max_request_target"] { config.maxRequestTarget = try node.byteSize() }
            if let node = limits["max_body_bytes"] {
                config.maxBodyBytes = try node.byteSize()
            }
            if let node = limits["body_memory"] {
                config.bodyMemory = try node.byteSize()
                guard config.bodyMemory >= config.maxBodyBytes else {
                    throw node.error("must be at least max_body_bytes (\(config.maxBodyBytes) bytes), or a body of the largest size could never be read")
                }
            } else {
                config.bodyMemory = max(config.bodyMemory, config.maxBodyBytes)
            }
            if let node = limits["idle_timeout"] { config.idleTimeout = try node.duration() }
            if let node = limits["store_busy_timeout"] { config.storeBusyTimeout = try node.duration() }
        }
        if let web = try root["web"]?.mapping(allowing: ["session_lifetime"]) {
            if let node = web["session_lifetime"] {
                config.sessionLifetime = try node.duration()
                guard config.sessionLifetime >= .seconds(60) else { throw node.error("a session lasts at least 1m") }
            }
        }
        if let node = root["workers"] {
            config.workers = try node.int()
            guard config.workers >= 1 else { throw node.error("at least one worker is needed") }
        }
        var kubernetesNode: YAMLNode?
        if let runner = try root["runner"]?.mapping(allowing: ["hooks_dir", "keep_workspaces", "max_attempts", "shutdown_grace", "kill_grace", "lease",
                                                                       "step_guard", "git_ca_file", "sandbox", "limits", "executor", "kubernetes"]) {
            if let node = runner["executor"] { config.executor = try node.oneOf(StepExecutorKind.self) }
            if let node = runner["kubernetes"] {
                config.kubernetes = try Self.parseKubernetesExecutor(node)
                kubernetesNode = node
            }
            if let node = runner["sandbox"] {
                if let mode = try? node.oneOf(SandboxSettings.Mode.self) {
                    config.sandbox.mode = mode
                } else {
                    let sandbox = try node.mapping(allowing: ["mode", "user", "group", "read_only_paths"])
                    if let mode = sandbox["mode"] { config.sandbox.mode = try mode.oneOf(SandboxSettings.Mode.self) }
                    if let user = sandbox["user"] { config.sandbox.user = try Self.id(user) }
                    config.sandbox.group = try sandbox["group"].map(Self.id) ?? config.sandbox.user
                    if let paths = sandbox["read_only_paths"] {
                        config.sandbox.readOnlyPaths = try paths.sequence().map { node throws(ConfigError) in
                            let path = try node.string()
                            guard path.hasPrefix("/") else { throw node.error("'\(path)' must be an absolute path") }
                            return path
                        }
                    }
                }
            }
            if let limits = try runner["limits"]?.mapping(allowing: ["memory", "processes", "open_files", "file_size"]) {
                if let node = limits["memory"] { config.stepLimits.memory = try node.byteSize() }
                if let node = limits["processes"] { config.stepLimits.processes = try Self.positive(node) }
                if let node = limits["open_files"] { config.stepLimits.openFiles = try Self.positive(node) }
                if let node = limits["file_size"] { config.stepLimits.fileSize = try node.byteSize() }
            }
            if let node = runner["hooks_dir"] { config.hooksDir = try node.string() }
            if let node = runner["keep_workspaces"] {
                config.keepWorkspaces = try node.int()
                guard config.keepWorkspaces >= 0 else { throw node.error("must be 0 or more") }
            }
            if let node = runner["max_attempts"] {
                config.maxAttempts = try node.int()
                guard config.maxAttempts >= 1 else { throw node.error("must be at least 1") }
            }
            if let node = runner["shutdown_grace"] { config.shutdownGrace = try node.duration() }
            if let node = runner["kill_grace"] { config.killGrace = try node.duration() }
            if let node = runner["lease"] {
                config.lease = try node.duration()
                guard config.lease >= .seconds(3) else { throw node.error("must be at least 3s") }
            }
            if let node = runner["step_guard"] { config.stepGuard = try node.string() }
            if let node = runner["git_ca_file"] { config.gitCAFile = try node.string() }
        }
        if let reconciler = try root["reconciler"]?.mapping(allowing: ["concurrency", "git_timeout", "cluster_timeout", "watch"]) {
            if let node = reconciler["concurrency"] { config.reconciler.concurrency = try Self.positive(node) }
            if let node = reconciler["git_timeout"] {
                config.reconciler.gitTimeout = try node.duration()
                guard config.reconciler.gitTimeout >= .seconds(1) else { throw node.error("must be at least 1s") }
            }
            if let node = reconciler["cluster_timeout"] {
                config.reconciler.clusterTimeout = try node.duration()
                guard config.reconciler.clusterTimeout >= .seconds(1) else { throw node.error("must be at least 1s") }
            }
            if let node = reconciler["watch"] { config.reconciler.watch = try node.bool() }
        }
        let secrets = SecretResolver(environment: environment)
        if let store = try root["store"]?.mapping(allowing: ["sqlite", "postgres"]) {
            if let postgres = try store["postgres"]?.mapping(allowing: ["url", "pool"]) {
                let url = try secrets.resolve(postgres.required("url"))
                guard url.value.hasPrefix("postgres://") || url.value.hasPrefix("postgresql://") else {
                    throw try postgres.required("url").error("must be a postgres:// URL (postgres://user:password@host:5432/database)")
                }
                let pool = try postgres["pool"].map(Self.positive) ?? 10
                config.store = .postgres(url: url, pool: pool)
            }
        }
        for node in try root["api_tokens"]?.sequence() ?? [] {
            let token = try node.mapping(allowing: ["name", "role", "token"])
            let name = try token.required("name").string()
            let role = try token.required("role").oneOf(APIRole.self)
            let secret = try secrets.resolve(token.required("token"))
            guard !config.apiTokens.contains(where: { $0.name == name }) else { throw node.error("a token named '\(name)' is already defined") }
            config.apiTokens.append(APIToken(name: name, role: role, secret: secret))
        }
        for node in try root["clusters"]?.sequence() ?? [] {
            let cluster = try node.mapping(allowing: ["name", "kubeconfig", "context", "in_cluster", "max_in_flight"])
            let name = try cluster.required("name").string()
            let source: ClusterConfig.Source
            if try cluster["in_cluster"]?.bool() == true {
                source = .inCluster
            } else {
                let path = try cluster["kubeconfig"]?.string() ?? environment["KUBECONFIG"]?.split(separator: ":").first.map(String.init)
                guard let path else { throw node.error("cluster '\(name)' needs kubeconfig: PATH (or KUBECONFIG set), or in_cluster: true") }
                source = .kubeconfig(path: path, context: try cluster["context"]?.string())
            }
            guard config.cluster(named: name) == nil else { throw node.error("a cluster named '\(name)' is already defined") }
            let maxInFlight = try cluster["max_in_flight"]?.int() ?? ClusterConfig.defaultMaxInFlight
            guard maxInFlight >= 1 else { throw node.error("cluster '\(name)': max_in_flight must be at least 1") }
            config.clusters.append(ClusterConfig(name: name, source: source, maxInFlight: maxInFlight))
        }
        for node in try root["metrics_providers"]?.sequence() ?? [] {
            let provider = try parseMetricsProvider(node, secrets: secrets)
            guard !config.metricsProviders.contains(where: { $0.name == provider.name }) else {
                throw node.error("a metrics provider named '\(provider.name)' is already defined")
            }
            config.metricsProviders.append(provider)
        }
        for node in try root["apps"]?.sequence() ?? [] {
            var app = try parseApp(node, secrets: secrets)
            if let named = try node.mapping(allowing: appKeys)["metrics_provider"] {
                let name = try named.string()
                guard let provider = config.metricsProviders.first(where: { $0.name == name }) else {
                    let known = config.metricsProviders.map(\.name)
                    throw named.error("app '\(app.name)' names metrics provider '\(name)', which is not in metrics_providers"
                                      + (known.isEmpty ? "" : " (\(known.joined(separator: ", ")))"))
                }
                app.metricsProvider = provider
            } else if config.metricsProviders.count == 1 {
                app.metricsProvider = config.metricsProviders[0]
            }
            if let target = app.target, config.cluster(named: target.cluster) == nil {
                throw node.error("app '\(app.name)' deploys to cluster '\(target.cluster)', which is not in clusters")
            }
            guard config.app(named: app.name) == nil else { throw node.error("an app named '\(app.name)' is already defined") }
            config.apps.append(app)
        }
        let appNodes = try root["apps"]?.sequence() ?? []
        try Self.checkKubernetesExecutor(config, runner: root["runner"], settings: kubernetesNode, apps: appNodes)
        for (node, app) in zip(appNodes, config.apps) {
            for dependency in app.dependsOn {
                guard dependency != app.name else { throw node.error("app '\(app.name)' depends on itself") }
                guard config.app(named: dependency) != nil else {
                    throw node.error("app '\(app.name)' depends on '\(dependency)', which is not in apps")
                }
            }
        }
        if let cycle = config.dependencyCycle(), let index = config.apps.firstIndex(where: { $0.name == cycle[0] }) {
            throw appNodes[index].error("apps depend on each other in a cycle: \(cycle.joined(separator: " -> "))")
        }
        return config
    }

    private static func parseMetricsProvider(_ node: YAMLNode, secrets: SecretResolver) throws(ConfigError) -> MetricsProvider {
        let mapping = try node.mapping(allowing: ["name", "prometheus"])
        let name = try mapping.required("name").string()
        guard !name.isEmpty else { throw node.error("a metrics provider needs a non-empty name") }
        let prometheus = try mapping.required("prometheus").mapping(allowing: ["url", "token"])
        let urlNode = try prometheus.required("url")
        let url = try urlNode.string()
        guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil else {
            throw urlNode.error("prometheus.url is the Prometheus server's base URL, http(s)://HOST:PORT, found '\(url)'")
        }
        let token = try prometheus["token"].map { node throws(ConfigError) in try secrets.resolve(node) }
        return MetricsProvider(name: name, url: url.hasSuffix("/") ? String(url.dropLast()) : url, token: token)
    }

    private static func parseKubernetesExecutor(_ node: YAMLNode) throws(ConfigError) -> KubernetesExecutorSettings {
        let mapping = try node.mapping(allowing: ["cluster", "namespace", "service_account", "default_image", "image_pull_policy", "max_pods",
                                                  "pod_template", "server_url", "fetch_image"])
        let namespaceNode = try mapping.required("namespace")
        var settings = KubernetesExecutorSettings(cluster: try mapping.required("cluster").string(), namespace: try namespaceNode.string())
        guard Self.isDNSLabel(settings.namespace) else {
            throw namespaceNode.error("'\(settings.namespace)' is not a namespace name (lower-case letters, digits and '-', at most 63)")
        }
        if let node = mapping["service_account"] {
            let name = try node.string()
            guard Self.isDNSSubdomain(name) else { throw node.error("'\(name)' is not a service account name (lower-case letters, digits, '-' and '.')") }
            settings.serviceAccount = name
        }
        for (key, path) in [("default_image", \KubernetesExecutorSettings.defaultImage), ("fetch_image", \.fetchImage)] {
            guard let node = mapping[key] else { continue }
            let image = try node.string()
            guard ImageReference.isValid(image) else {
                throw node.error("'\(image)' is not an image reference ([registry/]name[:tag][@sha256:digest], lower-case name)")
            }
            settings[keyPath: path] = image
        }
        if let node = mapping["image_pull_policy"] {
            let policy = try node.string()
            guard ["Always", "IfNotPresent", "Never"].contains(policy) else { throw node.error("expected one of Always, IfNotPresent, Never, found '\(policy)'") }
            settings.imagePullPolicy = policy
        }
        if let node = mapping["max_pods"] { settings.maxPods = try Self.positive(node) }
        if let node = mapping["server_url"] {
            settings.serverURL = try node.string()
            guard let url = URL(string: settings.serverURL ?? ""), ["https", "http"].contains(url.scheme ?? ""), url.host != nil else {
                throw node.error("expected an https:// URL at which pods reach this server")
            }
        }
        if let node = mapping["pod_template"] {
            let template = try node.mapping(allowing: KubernetesExecutorSettings.podTemplateFields.union(KubernetesExecutorSettings.ownedPodFields.keys))
            for key in template.keys.sorted() {
                if let owner = KubernetesExecutorSettings.ownedPodFields[key] {
                    throw try template.required(key).error("\(key) is set by Slipway (\(owner)), not by pod_template")
                }
            }
            settings.podTemplate = node.json()
        }
        return settings
    }

    /// The `kubernetes` executor's settings against the rest: its cluster exists, pods can
    /// reach the server, and a pod template that loosens the baseline reaches no tenant app.
    private static func checkKubernetesExecutor(_ config: ServerConfig, runner: YAMLNode?, settings settingsNode: YAMLNode?, apps: [YAMLNode]) throws(ConfigError) {
        let users = zip(apps, config.apps).filter { config.executor(of: $0.1) == .kubernetes }
        guard let settings = config.kubernetes else {
            if config.executor == .kubernetes, let runner { throw runner.error("executor: kubernetes needs runner.kubernetes (cluster, namespace)") }
            if let (node, app) = users.first { throw node.error("app '\(app.name)' has executor: kubernetes, which needs runner.kubernetes (cluster, namespace)") }
            return
        }
        func fail(_ message: String) -> ConfigError {
            settingsNode?.error(message) ?? ConfigError(file: "slipway.yaml", message: "runner.kubernetes: " + message)
        }
        guard config.cluster(named: settings.cluster) != nil else {
            throw fail("cluster '\(settings.cluster)' is not in clusters (\(config.clusters.map(\.name).joined(separator: ", ")))")
        }
        guard settings.serverURL ?? config.publicURL != nil else {
            throw fail("pods fetch the job's workspace from this server: set server_url (or public_url) to an address pods can reach")
        }
        let loosening = settings.baselineLoosening
        if !loosening.isEmpty, let (node, app) = users.first(where: { $0.1.target?.impersonatedUser != nil || $0.1.target?.allowedNamespaces.isEmpty == false }) {
            throw node.error("app '\(app.name)' has tenancy rules, and pod_template sets \(loosening.joined(separator: ", ")) (below the Pod Security Standard baseline): give the app executor: local, or remove those fields")
        }
    }

    /// An RFC 1123 label: a namespace's name.
    static func isDNSLabel(_ text: String) -> Bool {
        text.count <= 63 && text.wholeMatch(of: #/[a-z0-9]([-a-z0-9]*[a-z0-9])?/#) != nil
    }

    /// An RFC 1123 subdomain: most object names.
    static func isDNSSubdomain(_ text: String) -> Bool {
        text.count <= 253 && text.wholeMatch(of: #/[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/#) != nil
    }

    private static func id(_ node: YAMLNode) throws(ConfigError) -> UInt32 {
        let value = try node.int()
        guard value >= 0, value < Int(UInt32.max) else { throw node.error("expected a numeric user or group id") }
        return UInt32(value)
    }

    private static func positive(_ node: YAMLNode) throws(ConfigError) -> Int {
        let value = try node.int()
        guard value >= 1 else { throw node.error("must be at least 1") }
        return value
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

    static let appKeys: Set<String> = [
        "name", "repo", "branch", "forge", "webhook_secrets", "pipeline", "secrets", "pass_env", "repo_auth", "cancel_running_on_push", "network",
        "cluster", "namespace", "prune", "force_conflicts", "rollback", "drift", "reconcile_interval",
        "allowed_namespaces", "allowed_cluster_kinds", "denied_kinds", "service_account", "paths", "depends_on", "forge_api",
        "preview", "executor", "metrics_provider",
    ]

    private static func parseApp(_ node: YAMLNode, secrets: SecretResolver) throws(ConfigError) -> AppConfig {
        let app = try node.mapping(allowing: appKeys)
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
        var result = AppConfig(name: name, repoURL: repo, branch: branch, forge: forge, webhookSecrets: resolved)
        if let node = app["network"] { result.network = try node.bool() }
        if let node = app["executor"] { result.executor = try node.oneOf(StepExecutorKind.self) }
        if let node = app["pipeline"] {
            result.pipelinePath = try node.string()
            guard !result.pipelinePath.isEmpty, !result.pipelinePath.hasPrefix("/"), !result.pipelinePath.split(separator: "/").contains("..") else {
                throw node.error("the pipeline file is a relative path inside the repository")
            }
        }
        if let node = app["secrets"] {
            for (key, value) in try node.entries() {
                guard key.first.map({ $0.isLetter || $0 == "_" }) == true, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                    throw value.error("'\(key)' is not a valid environment variable name")
                }
                result.secrets[key] = try secrets.resolve(value)
            }
        }
        if let node = app["pass_env"] {
            result.passEnvironment = try node.sequence().map { item throws(ConfigError) in try item.string() }
        }
        if let node = app["repo_auth"] {
            let auth = try node.mapping(allowing: ["username", "password", "ssh_key", "passphrase", "known_hosts"])
            let username = try auth["username"]?.string() ?? "git"
            if let key = auth["ssh_key"] {
                let home = ProcessInfo.processInfo.environment["HOME"] ?? "/root"
                result.repositoryAuth = .sshKey(username: username, privateKeyPath: try key.string(),
                                                passphrase: try auth["passphrase"].map { node throws(ConfigError) in try secrets.resolve(node) },
                                                knownHosts: try auth["known_hosts"]?.string() ?? "\(home)/.ssh/known_hosts")
            } else {
                result.repositoryAuth = .userPassword(username: username, password: try secrets.resolve(try auth.required("password")))
            }
        }
        if let node = app["cancel_running_on_push"] { result.cancelRunningOnPush = try node.bool() }
        if let node = app["paths"] {
            let patterns = try node.sequence().map { item throws(ConfigError) -> String in
                let pattern = try item.string()
                let body = pattern.hasPrefix("!") ? String(pattern.dropFirst()) : pattern
                guard !body.isEmpty, !body.hasPrefix("/"), !body.split(separator: "/").contains("..") else {
                    throw item.error("a path pattern is relative to the repository root ('services/api/**', '!docs/**'), found '\(pattern)'")
                }
                return pattern
            }
            result.paths = PathFilter(patterns)
        }
        if let node = app["forge_api"] {
            let api = try node.mapping(allowing: ["url", "token", "repository"])
            let urlNode = try api.required("url")
            let url = try urlNode.string()
            guard url.hasPrefix("https://") || url.hasPrefix("http://") else { throw urlNode.error("forge_api.url is the forge's API base, https://...") }
            let repository: String
            if let given = api["repository"] {
                repository = try given.string()
                guard repository.split(separator: "/").count >= 2, !repository.hasPrefix("/") else {
                    throw given.error("expected the forge's name of the repository, OWNER/NAME (GitLab: the project's full path), found '\(repository)'")
                }
            } else {
                guard let derived = ForgeAPI.repositoryPath(of: repo, forge: result.forge) else {
                    throw node.error("the \(result.forge.rawValue) name of the repository cannot be read from repo '\(repo)' "
                                     + "(not a forge URL of the form https://HOST/OWNER/NAME): give forge_api.repository as OWNER/NAME (GitLab: the project's full path)")
                }
                repository = derived
            }
            result.forgeAPI = ForgeAPI(url: url, token: try secrets.resolve(try api.required("token")), repository: repository)
        }
        if let node = app["preview"] {
            // `preview: false`, or `preview: {stages: [build, test]}`.
            if let enabled = try? node.bool() {
                result.preview.enabled = enabled
            } else {
                let preview = try node.mapping(allowing: ["stages"])
                let stages = try preview["stages"]?.sequence().map { item throws(ConfigError) in try item.oneOf(StageName.self) } ?? []
                if let deploy = stages.firstIndex(of: .deploy), let item = try preview["stages"]?.sequence()[deploy] {
                    throw item.error("a preview never deploys: preview.stages lists build and test stages only")
                }
                result.preview.stages = stages
            }
        }
        if let node = app["depends_on"] {
            result.dependsOn = try node.sequence().map { item throws(ConfigError) in try item.string() }
        }
        if let node = app["reconcile_interval"] {
            result.reconcileInterval = try node.duration()
            guard result.reconcileInterval >= .seconds(1) else { throw node.error("reconcile_interval must be at least 1s") }
        }
        if let cluster = app["cluster"] {
            var target = DeployTarget(cluster: try cluster.string(), namespace: try app["namespace"]?.string() ?? "default")
            if let node = app["prune"] { target.prune = try node.bool() }
            if let node = app["force_conflicts"] { target.force = try node.bool() }
            if let node = app["rollback"] { target.rollback = try node.bool() }
            if let node = app["drift"] { target.driftPolicy = try node.oneOf(DriftPolicy.self) }
            func names(_ key: String) throws(ConfigError) -> [String] {
                try app[key]?.sequence().map { item throws(ConfigError) in try item.string() } ?? []
            }
            target.allowedNamespaces = try names("allowed_namespaces")
            target.allowedClusterKinds = try names("allowed_cluster_kinds")
            target.deniedKinds = try names("denied_kinds")
            if let node = app["service_account"] {
                let account = try node.string()
                let parts = account.split(separator: "/", omittingEmptySubsequences: false)
                guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                    throw node.error("service_account is NAMESPACE/NAME, found '\(account)'")
                }
                target.serviceAccount = account
            }
            result.target = target
        } else if let stray = ["namespace", "prune", "force_conflicts", "rollback", "drift", "allowed_namespaces", "allowed_cluster_kinds",
                               "denied_kinds", "service_account"].compactMap({ app[$0] }).first {
            throw stray.error("\(stray.path) only applies to an app with a cluster")
        }
        return result
    }
}
