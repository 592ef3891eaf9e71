/// The stages and hooks an app's repository asks for, from its pipeline file (`.slipway.yaml`).
public struct PipelineSpec: Sendable, Hashable {
    /// Stages in the order they run; a stage the file leaves out is absent.
    public var stages: [Stage]
    public var hooks: [HookPoint: [StepSpec]]
    /// Manifests to apply to the app's cluster, after the deploy stage's steps.
    public var deploy: DeploySpec?
    /// The image of the build and test steps that name none (`image:`), on the `kubernetes` executor.
    public var image: String?
    /// Where `image:` is written, for error messages.
    public var imageLine: Int?

    public init(stages: [Stage], hooks: [HookPoint: [StepSpec]] = [:], deploy: DeploySpec? = nil) {
        self.stages = stages
        self.hooks = hooks
        self.deploy = deploy
    }

    public struct Stage: Sendable, Hashable {
        public var name: StageName
        public var steps: [StepSpec]

        public init(name: StageName, steps: [StepSpec]) {
            self.name = name
            self.steps = steps
        }
    }
}

/// The fixed stages, always run in this order.
public enum StageName: String, Sendable, Hashable, CaseIterable, Codable {
    case build, test, deploy
}

/// Points around the deploy where hooks run, as sync hooks do in a pull deployer.
public enum HookPoint: String, Sendable, Hashable, CaseIterable, Codable {
    /// Before the deploy stage; a failure stops the deploy.
    case preDeploy = "pre-deploy"
    /// After the deploy stage succeeded.
    case postDeploy = "post-deploy"
    /// After any stage or hook failed; runs even though the job has failed.
    case onFailure = "on-failure"
}

/// One step: a shell script or a script file, run as a child process.
public struct StepSpec: Sendable, Hashable {
    public enum Command: Sendable, Hashable {
        /// A script for `/bin/sh -e`.
        case shell(String)
        /// A script file in the app's repository, relative to the workspace.
        case repositoryScript(String)
        /// A script file in the server's hooks/ folder.
        case serverHook(String)
    }

    public var name: String
    public var command: Command
    public var env: [String: String]
    public var timeout: Duration
    /// A directory inside the workspace; nil for the workspace itself.
    public var workdir: String?
    /// How many times to run the step again after it failed.
    public var retries: Int
    /// Where the step is written, for error messages.
    public var line: Int?
    /// Whether the step may use the network (`network: false` gives it none).
    public var network: Bool = true
    /// The app secrets a server hook step gets (`secrets: [NAME]`); other steps get them all.
    public var secretNames: [String] = []
    /// The container image the step runs in (`kubernetes` executor only).
    public var image: String?
    /// CPU and memory for the step's container (`kubernetes` executor only).
    public var resources: StepResources?

    /// Whether the step runs a script of the server's hooks folder (always on the server).
    public var isServerHook: Bool {
        if case .serverHook = command { true } else { false }
    }

    public static let defaultTimeout: Duration = .seconds(30 * 60)

    public init(name: String, command: Command, env: [String: String] = [:], timeout: Duration = StepSpec.defaultTimeout,
                workdir: String? = nil, retries: Int = 0, line: Int? = nil) {
        self.name = name
        self.command = command
        self.env = env
        self.timeout = timeout
        self.workdir = workdir
        self.retries = retries
        self.line = line
    }
}
