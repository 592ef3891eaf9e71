/// One deployable application as the server configuration declares it.
public struct AppConfig: Sendable, Hashable {
    public var name: String
    public var repoURL: String
    public var branch: String
    public var forge: Forge
    /// Every secret currently accepted for this app's webhooks; more than one while rotating.
    public var webhookSecrets: [SecretValue]
    /// Where the pipeline file is in the app's repository.
    public var pipelinePath: String
    /// Given to every step as environment variables, and masked as `***` in logs.
    public var secrets: [String: SecretValue]
    /// Names of the server's environment variables that steps may see (nothing else leaks in).
    public var passEnvironment: [String]
    /// How Slipway authenticates to the repository.
    public var repositoryAuth: RepositoryAuth
    /// Whether a newer push also cancels the app's running job (queued ones are always superseded).
    public var cancelRunningOnPush: Bool
    /// Where and how the pipeline's `deploy:` manifests are applied; nil when the app has no cluster.
    public var target: DeployTarget?
    /// How often the reconciler looks at the app (remote branch head, drift).
    public var reconcileInterval: Duration = .seconds(180)
    /// Whether the app's steps may use the network (each step can still turn it off).
    public var network: Bool = true
    /// Where the app's build and test steps run; nil: `runner.executor`.
    public var executor: StepExecutorKind?
    /// In a monorepo, the files that concern the app: a push that changes none of them makes
    /// no job for it.
    public var paths = PathFilter([])
    /// Apps whose deploy of the same commit must have succeeded (and be healthy) first.
    public var dependsOn: [String] = []
    /// Where each job's state is reported as a commit status; nil: not reported.
    public var forgeAPI: ForgeAPI?
    /// Whether pull requests to the app's branch get a preview job, and which stages it runs.
    public var preview = PreviewSettings()
    /// The metrics provider a rollout's analyses query (`metrics_provider`; resolved when the
    /// configuration is read: the only provider when there is one and the app names none).
    public var metricsProvider: MetricsProvider?

    /// Every secret value of the app (its own and its webhook secrets): masked wherever a job
    /// writes text a user reads.
    public var secretValues: [String] { secrets.values.map(\.value) + webhookSecrets.map(\.value) }

    public init(
        name: String, repoURL: String, branch: String = "main", forge: Forge, webhookSecrets: [SecretValue],
        pipelinePath: String = ".slipway.yaml", secrets: [String: SecretValue] = [:], passEnvironment: [String] = [],
        repositoryAuth: RepositoryAuth = .none, cancelRunningOnPush: Bool = false, target: DeployTarget? = nil
    ) {
        self.target = target
        self.name = name
        self.repoURL = repoURL
        self.branch = branch
        self.forge = forge
        self.webhookSecrets = webhookSecrets
        self.pipelinePath = pipelinePath
        self.secrets = secrets
        self.passEnvironment = passEnvironment
        self.repositoryAuth = repositoryAuth
        self.cancelRunningOnPush = cancelRunningOnPush
    }
}

/// An app's cluster and the rules its deploys follow.
public struct DeployTarget: Sendable, Hashable {
    /// A cluster name from the server configuration.
    public var cluster: String
    /// Namespaced objects without a namespace go here.
    public var namespace: String
    /// Delete objects that left git (only those in the app's inventory).
    public var prune: Bool
    /// Take over fields other field managers set (server-side apply `force`).
    public var force: Bool
    /// On a failed deploy, re-apply the last healthy revision and mark the commit bad.
    public var rollback: Bool
    /// What the reconciler does about drift.
    public var driftPolicy: DriftPolicy
    /// Namespaces the app's objects may be in; empty means its own `namespace` only.
    public var allowedNamespaces: [String] = []
    /// Cluster-scoped kinds the app may deploy (none unless listed: `Namespace`, `CustomResourceDefinition`, …).
    public var allowedClusterKinds: [String] = []
    /// Kinds the app may never deploy, wherever (`ClusterRoleBinding`, …).
    public var deniedKinds: [String] = []
    /// `namespace/name` of the service account every request for the app impersonates, so
    /// the cluster's own RBAC decides what the app may do.
    public var serviceAccount: String?

    /// The namespaces the app may use.
    public var namespaces: [String] { allowedNamespaces.isEmpty ? [namespace] : allowedNamespaces }

    /// `system:serviceaccount:NAMESPACE:NAME` of `serviceAccount`.
    public var impersonatedUser: String? {
        serviceAccount.map { "system:serviceaccount:" + $0.replacingOccurrences(of: "/", with: ":") }
    }

    public init(cluster: String, namespace: String, prune: Bool = true, force: Bool = true, rollback: Bool = false, driftPolicy: DriftPolicy = .report) {
        self.driftPolicy = driftPolicy
        self.cluster = cluster
        self.namespace = namespace
        self.prune = prune
        self.force = force
        self.rollback = rollback
    }
}

/// What to do when the cluster drifts from the last applied revision.
public enum DriftPolicy: String, Sendable, Hashable, CaseIterable {
    /// Show it in the app's status and metrics.
    case report
    /// Re-apply the last applied manifests (a `self-heal` job), backing off when it keeps coming back.
    case correct
}

/// `apps[].preview`: pull requests that target the app's branch get a `preview` job, which
/// dry-runs their head against the cluster (only for apps with a cluster).
public struct PreviewSettings: Sendable, Hashable {
    public var enabled: Bool
    /// Pipeline stages the preview runs before rendering (none by default); never for a
    /// request from a fork.
    public var stages: [StageName]

    public init(enabled: Bool = true, stages: [StageName] = []) {
        self.enabled = enabled
        self.stages = stages
    }
}
