public import SlipwayCore

extension PipelineSpec {
    /// The default pipeline file name in an app's repository.
    public static let defaultPath = ".slipway.yaml"

    /// Parses a pipeline file. Errors name the file, the line and what was expected;
    /// unknown keys are errors.
    public static func parse(_ text: String, file: String) throws(ConfigError) -> PipelineSpec {
        let root = try YAMLNode.parse(text, file: file).mapping(allowing: ["stages", "hooks", "deploy"])
        var stages: [Stage] = []
        if let stagesNode = root["stages"] {
            let mapping = try stagesNode.mapping(allowing: Set(StageName.allCases.map(\.rawValue)))
            for name in StageName.allCases {
                guard let node = mapping[name.rawValue] else { continue }
                stages.append(Stage(name: name, steps: try steps(node, allowHook: false)))
            }
        }
        var hooks: [HookPoint: [StepSpec]] = [:]
        if let hooksNode = root["hooks"] {
            let mapping = try hooksNode.mapping(allowing: Set(HookPoint.allCases.map(\.rawValue)))
            for point in HookPoint.allCases {
                guard let node = mapping[point.rawValue] else { continue }
                hooks[point] = try steps(node, allowHook: true)
            }
        }
        let deploy = try root["deploy"].map { node throws(ConfigError) in try deploySpec(node) }
        guard !stages.isEmpty || !hooks.isEmpty || deploy != nil else {
            throw ConfigError(file: file, line: 1, message: "the pipeline has no stages: add stages.build, stages.test, stages.deploy or a deploy block")
        }
        return PipelineSpec(stages: stages, hooks: hooks, deploy: deploy)
    }

    private static func deploySpec(_ node: YAMLNode) throws(ConfigError) -> DeploySpec {
        let mapping = try node.mapping(allowing: ["manifests", "render", "variables", "wait", "daemonset_wait"])
        var spec = DeploySpec()
        if let manifests = mapping["manifests"] { spec.manifests = try insideWorkspace(try manifests.string(), manifests) }
        if let render = mapping["render"] { spec.render = try render.string() }
        guard (spec.manifests == nil) != (spec.render == nil) else {
            throw node.error("deploy needs exactly one of 'manifests' (a folder in the repository) or 'render' (a command printing YAML)")
        }
        for (name, value) in try mapping["variables"]?.entries() ?? [] {
            guard name.first.map({ $0.isLetter || $0 == "_" }) == true, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                throw value.error("'\(name)' is not a valid variable name")
            }
            spec.variables[name] = try value.string()
        }
        if let wait = mapping["wait"] { spec.wait = try wait.duration() }
        if let wait = mapping["daemonset_wait"] { spec.daemonSetWait = try wait.duration() }
        return spec
    }

    private static func steps(_ node: YAMLNode, allowHook: Bool) throws(ConfigError) -> [StepSpec] {
        var steps: [StepSpec] = []
        var names: Set<String> = []
        for item in try node.sequence() {
            let step = try self.step(item, allowHook: allowHook)
            guard names.insert(step.name).inserted else { throw item.error("another step here is already named '\(step.name)'") }
            steps.append(step)
        }
        return steps
    }

    private static func step(_ node: YAMLNode, allowHook: Bool) throws(ConfigError) -> StepSpec {
        var keys: Set<String> = ["name", "run", "script", "env", "timeout", "workdir", "retries", "network"]
        if allowHook { keys.formUnion(["hook", "secrets"]) }
        let mapping = try node.mapping(allowing: keys)
        let name = try mapping.required("name").string()
        guard !name.isEmpty else { throw node.error("a step needs a non-empty name") }

        let commands = ["run", "script", "hook"].filter { mapping[$0] != nil }
        guard commands.count == 1 else {
            let choices = allowHook ? "'run', 'script' or 'hook'" : "'run' or 'script'"
            throw node.error(commands.isEmpty ? "step '\(name)' needs one of \(choices)" : "step '\(name)' has both \(commands.joined(separator: " and ")); give one")
        }
        let command: StepSpec.Command
        switch commands[0] {
        case "run":
            command = .shell(try mapping.required("run").string())
        case "script":
            let scriptNode = try mapping.required("script")
            command = .repositoryScript(try insideWorkspace(try scriptNode.string(), scriptNode))
        default:
            let hookNode = try mapping.required("hook")
            let hook = try hookNode.string()
            guard !hook.isEmpty, !hook.contains("/") else {
                throw hookNode.error("'hook' names a file in the server's hooks folder, without a path: found '\(hook)'")
            }
            command = .serverHook(hook)
        }

        var env: [String: String] = [:]
        if let envNode = mapping["env"] {
            for (variable, value) in try envNode.entries() {
                guard variable.first.map({ $0.isLetter || $0 == "_" }) == true,
                      variable.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                    throw value.error("'\(variable)' is not a valid environment variable name")
                }
                env[variable] = try value.string()
            }
        }
        var timeout = StepSpec.defaultTimeout
        if let timeoutNode = mapping["timeout"] {
            timeout = try timeoutNode.duration()
            guard timeout > .zero else { throw timeoutNode.error("a timeout must be more than zero") }
        }
        var workdir: String?
        if let workdirNode = mapping["workdir"] {
            workdir = try insideWorkspace(try workdirNode.string(), workdirNode)
        }
        var retries = 0
        if let retriesNode = mapping["retries"] {
            retries = try retriesNode.int()
            guard (0...10).contains(retries) else { throw retriesNode.error("retries must be between 0 and 10") }
        }
        var spec = StepSpec(name: name, command: command, env: env, timeout: timeout, workdir: workdir, retries: retries, line: node.line)
        if let networkNode = mapping["network"] { spec.network = try networkNode.bool() }
        if let secretsNode = mapping["secrets"] {
            guard case .serverHook = command else { throw secretsNode.error("secrets: only applies to hook: steps (other steps get all of the app's secrets)") }
            spec.secretNames = try secretsNode.sequence().map { item throws(ConfigError) in try item.string() }
        }
        return spec
    }

    /// A relative path that stays inside the workspace: no absolute paths, no `..`.
    private static func insideWorkspace(_ path: String, _ node: YAMLNode) throws(ConfigError) -> String {
        guard !path.isEmpty, !path.hasPrefix("/"), !path.split(separator: "/").contains("..") else {
            throw node.error("'\(path)' must be a relative path inside the workspace ('..' and absolute paths are refused)")
        }
        return path
    }
}
