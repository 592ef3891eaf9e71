public import SlipwayCore

extension PipelineSpec {
    /// The default pipeline file name in an app's repository.
    public static let defaultPath = ".slipway.yaml"

    /// Parses a pipeline file. Errors name the file, the line and what was expected;
    /// unknown keys are errors.
    public static func parse(_ text: String, file: String) throws(ConfigError) -> PipelineSpec {
        let root = try YAMLNode.parse(text, file: file).mapping(allowing: ["stages", "hooks", "deploy", "image"])
        var stages: [Stage] = []
        if let stagesNode = root["stages"] {
            let mapping = try stagesNode.mapping(allowing: Set(StageName.allCases.map(\.rawValue)))
            for name in StageName.allCases {
                guard let node = mapping[name.rawValue] else { continue }
                stages.append(Stage(name: name, steps: try steps(node, allowHook: false, inContainer: name != .deploy)))
            }
        }
        var hooks: [HookPoint: [StepSpec]] = [:]
        if let hooksNode = root["hooks"] {
            let mapping = try hooksNode.mapping(allowing: Set(HookPoint.allCases.map(\.rawValue)))
            for point in HookPoint.allCases {
                guard let node = mapping[point.rawValue] else { continue }
                hooks[point] = try steps(node, allowHook: true, inContainer: false)
            }
        }
        let deploy = try root["deploy"].map { node throws(ConfigError) in try deploySpec(node) }
        guard !stages.isEmpty || !hooks.isEmpty || deploy != nil else {
            throw ConfigError(file: file, line: 1, message: "the pipeline has no stages: add stages.build, stages.test, stages.deploy or a deploy block")
        }
        var pipeline = PipelineSpec(stages: stages, hooks: hooks, deploy: deploy)
        if let imageNode = root["image"] {
            pipeline.image = try image(imageNode)
            pipeline.imageLine = imageNode.line
        }
        return pipeline
    }

    /// What the pipeline asks that `executor` cannot do, placed at its line: an image on the
    /// `local` executor; on `kubernetes`, steps of one pod that differ in `network` (a pod's
    /// containers share one network).
    public func problem(on executor: StepExecutorKind, appNetwork: Bool, file: String) -> ConfigError? {
        let podSteps = stages.filter { $0.name != .deploy }.flatMap(\.steps).filter { !$0.isServerHook }
        switch executor {
        case .local:
            if let image { return ConfigError(file: file, line: imageLine, message: "image: '\(image)' needs the kubernetes executor; this app's steps run on the local executor (runner.executor / apps[].executor)") }
            if let step = podSteps.first(where: { $0.image != nil }) {
                return ConfigError(file: file, line: step.line, message: "step '\(step.name)': image: '\(step.image ?? "")' needs the kubernetes executor; this app's steps run on the local executor")
            }
            if let step = podSteps.first(where: { $0.resources != nil }) {
                return ConfigError(file: file, line: step.line, message: "step '\(step.name)': resources: apply to the kubernetes executor only; this app's steps run on the local executor")
            }
        case .kubernetes:
            guard let first = podSteps.first else { return nil }
            let network = appNetwork && first.network
            if let other = podSteps.first(where: { (appNetwork && $0.network) != network }) {
                let (without, with) = network ? (other, first) : (first, other)
                return ConfigError(file: file, line: other.line, message: "step '\(without.name)' has network: false but step '\(with.name)' needs the network: on the kubernetes executor a job's steps share one pod and one network, so give them all the same network setting")
            }
        }
        return nil
    }

    private static func deploySpec(_ node: YAMLNode) throws(ConfigError) -> DeploySpec {
        let mapping = try node.mapping(allowing: ["manifests", "render", "variables", "wait", "daemonset_wait", "rollout"])
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
        if let rollout = mapping["rollout"] { spec.rollout = try rolloutSpec(rollout) }
        return spec
    }

    /// `deploy.rollout`: the target, its steps and the analyses they name.
    private static func rolloutSpec(_ node: YAMLNode) throws(ConfigError) -> RolloutSpec {
        let mapping = try node.mapping(allowing: ["target", "steps", "analyses"])
        let targetNode = try mapping.required("target")
        let target = try targetNode.string()
        let parts = target.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2, parts[0] == "Deployment", ServerConfig.isDNSSubdomain(parts[1]) && parts[1].count <= 240 else {
            throw targetNode.error("rollout.target is Deployment/NAME (only Deployments are rolled out progressively), found '\(target)'")
        }
        var analyses: [String: AnalysisSpec] = [:]
        for (name, value) in try mapping["analyses"]?.entries() ?? [] {
            analyses[name] = try analysisSpec(name: name, value)
        }
        let stepsNode = try mapping.required("steps")
        var steps: [RolloutStep] = []
        var lastWeight = 0
        for item in try stepsNode.sequence() {
            let step = try item.mapping(allowing: ["weight", "pause", "analysis"])
            let keys = ["weight", "pause", "analysis"].filter { step[$0] != nil }
            guard keys.count == 1, let key = keys.first, let value = step[key] else {
                throw item.error("a rollout step is one of weight: PERCENT, pause: DURATION (or {until: promoted}), analysis: NAME")
            }
            switch key {
            case "weight":
                let weight = try value.int()
                guard (1...100).contains(weight) else { throw value.error("a weight is a percentage from 1 to 100, found \(weight)") }
                guard weight > lastWeight else {
                    throw value.error("weights must rise from step to step: \(weight) follows \(lastWeight)")
                }
                lastWeight = weight
                steps.append(.weight(weight))
            case "pause":
                if let duration = try? value.duration() {
                    guard duration > .zero else { throw value.error("a pause must be longer than zero") }
                    steps.append(.pause(duration))
                } else {
                    let until = try value.mapping(allowing: ["until"])
                    let what = try until.required("until")
                    guard try what.string() == "promoted" else {
                        throw what.error("a pause waits a duration (pause: 2m) or until the rollout is promoted (pause: {until: promoted})")
                    }
                    steps.append(.pauseUntilPromoted)
                }
            default:
                let name = try value.string()
                guard analyses[name] != nil else {
                    let known = analyses.keys.sorted()
                    throw value.error("analysis '\(name)' is not defined under rollout.analyses" + (known.isEmpty ? "" : " (\(known.joined(separator: ", ")))"))
                }
                if lastWeight == 0 {
                    throw value.error("analysis '\(name)' comes before any weight: step, when no canary pod runs yet")
                }
                steps.append(.analysis(name))
            }
        }
        guard !steps.isEmpty else { throw stepsNode.error("a rollout needs at least one step (weight: 20, pause: 2m, analysis: NAME, ...)") }
        return RolloutSpec(targetKind: parts[0], targetName: parts[1], steps: steps, analyses: analyses, line: node.line)
    }

    private static func analysisSpec(name: String, _ node: YAMLNode) throws(ConfigError) -> AnalysisSpec {
        let mapping = try node.mapping(allowing: ["query", "success", "interval", "count", "failure_limit"])
        guard let queryNode = mapping["query"] else { throw node.error("analysis '\(name)' names no query: add query: PROMQL") }
        let query = try queryNode.string()
        guard !query.trimmingCharacters(in: .whitespaces).isEmpty else { throw queryNode.error("analysis '\(name)' has an empty query") }
        let successNode = try mapping.required("success")
        let successText = try successNode.string()
        guard let success = SuccessCondition(parsing: successText) else {
            throw successNode.error("success is a comparison with a number (>= 0.99, < 500, == 1), found '\(successText)'")
        }
        var spec = AnalysisSpec(name: name, query: query, success: success, line: node.line)
        if let interval = mapping["interval"] {
            spec.interval = try interval.duration()
            guard spec.interval >= .seconds(1) else { throw interval.error("an analysis interval is at least 1s") }
        }
        if let count = mapping["count"] {
            spec.count = try count.int()
            guard (1...1000).contains(spec.count) else { throw count.error("count is the number of measurements, from 1 to 1000") }
        }
        if let limit = mapping["failure_limit"] {
            spec.failureLimit = try limit.int()
            guard spec.failureLimit >= 0, spec.failureLimit < spec.count else {
                throw limit.error("failure_limit (failed measurements tolerated) must be from 0 to count - 1 (\(spec.count - 1))")
            }
        }
        return spec
    }

    /// What the pipeline's rollout needs that the app lacks: analyses need a metrics provider.
    public func rolloutProblem(metricsProvider: MetricsProvider?, app: String, file: String) -> ConfigError? {
        guard let rollout = deploy?.rollout, metricsProvider == nil else { return nil }
        for step in rollout.steps {
            if case .analysis(let name) = step {
                return ConfigError(file: file, line: rollout.analyses[name]?.line ?? rollout.line,
                                   message: "analysis '\(name)' needs a metrics provider: app '\(app)' has none (metrics_providers and apps[].metrics_provider in the server configuration)")
            }
        }
        return nil
    }

    private static func steps(_ node: YAMLNode, allowHook: Bool, inContainer: Bool) throws(ConfigError) -> [StepSpec] {
        var steps: [StepSpec] = []
        var names: Set<String> = []
        for item in try node.sequence() {
            let step = try self.step(item, allowHook: allowHook, inContainer: inContainer)
            guard names.insert(step.name).inserted else { throw item.error("another step here is already named '\(step.name)'") }
            steps.append(step)
        }
        return steps
    }

    private static func step(_ node: YAMLNode, allowHook: Bool, inContainer: Bool) throws(ConfigError) -> StepSpec {
        var keys: Set<String> = ["name", "run", "script", "env", "timeout", "workdir", "retries", "network", "image", "resources"]
        if allowHook { keys.formUnion(["hook", "secrets"]) }
        let mapping = try node.mapping(allowing: keys)
        for key in ["image", "resources"] where !inContainer {
            if let misplaced = mapping[key] {
                throw misplaced.error("\(key): applies to build and test steps only (hooks and the deploy stage run on the server)")
            }
        }
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
        if let imageNode = mapping["image"] {
            guard !spec.isServerHook else { throw imageNode.error("a hook: step runs on the server: it takes no image") }
            spec.image = try image(imageNode)
        }
        if let resourcesNode = mapping["resources"] {
            let resources = try resourcesNode.mapping(allowing: ["cpu", "memory"])
            func quantity(_ key: String) throws(ConfigError) -> String? {
                guard let node = resources[key] else { return nil }
                let text = try node.string()
                guard StepResources.isQuantity(text) else {
                    throw node.error("'\(text)' is not a Kubernetes quantity (for example \(key == "cpu" ? "500m or 2" : "512Mi or 1Gi"))")
                }
                return text
            }
            spec.resources = StepResources(cpu: try quantity("cpu"), memory: try quantity("memory"))
        }
        return spec
    }

    private static func image(_ node: YAMLNode) throws(ConfigError) -> String {
        let text = try node.string()
        guard ImageReference.isValid(text) else {
            throw node.error("'\(text)' is not an image reference ([registry/]name[:tag][@sha256:digest], lower-case name)")
        }
        return text
    }

    /// A relative path that stays inside the workspace: no absolute paths, no `..`.
    private static func insideWorkspace(_ path: String, _ node: YAMLNode) throws(ConfigError) -> String {
        guard !path.isEmpty, !path.hasPrefix("/"), !path.split(separator: "/").contains("..") else {
            throw node.error("'\(path)' must be a relative path inside the workspace ('..' and absolute paths are refused)")
        }
        return path
    }
}
