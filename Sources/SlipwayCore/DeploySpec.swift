/// The `deploy:` block of a pipeline file: what to render and apply to the cluster.
public struct DeploySpec: Sendable, Hashable {
    /// A folder (or file) in the repository with .yaml, .yml or .json manifests, read recursively.
    public var manifests: String?
    /// A command whose standard output is YAML (`kustomize build`, `helm template`, ...).
    public var render: String?
    /// Values for `${NAME}` in manifests; they may use `${SLIPWAY_COMMIT_SHORT}` and friends.
    public var variables: [String: String]
    /// How long the applied objects may take to become healthy.
    public var wait: Duration
    /// DaemonSets roll out node by node and get their own, usually longer, timeout.
    public var daemonSetWait: Duration?
    /// One Deployment rolled out progressively (canary steps), when the pipeline asks for it.
    public var rollout: RolloutSpec?

    public static let defaultWait: Duration = .seconds(300)

    public init(manifests: String? = nil, render: String? = nil, variables: [String: String] = [:], wait: Duration = DeploySpec.defaultWait,
                daemonSetWait: Duration? = nil, rollout: RolloutSpec? = nil) {
        self.rollout = rollout
        self.daemonSetWait = daemonSetWait
        self.manifests = manifests
        self.render = render
        self.variables = variables
        self.wait = wait
    }
}
