public import SlipwayCore

/// How build and test steps run as pods (`runner.kubernetes` in slipway.yaml).
public struct KubernetesExecutorSettings: Sendable, Equatable {
    /// One of `clusters[]`.
    public var cluster: String
    public var namespace: String
    /// The pods' service account; nil: the namespace's default, with no API token mounted.
    public var serviceAccount: String?
    /// For steps that name no image and a pipeline with no `image:`.
    public var defaultImage = "debian:12"
    public var imagePullPolicy = "IfNotPresent"
    /// Jobs running as pods at once, apart from `workers` (the local executor's).
    public var maxPods = 20
    /// PodSpec fields merged into every job pod (nodeSelector, tolerations, …).
    public var podTemplate: JSONValue = [:]
    /// How pods reach Slipway for the job's workspace; nil: `public_url`.
    public var serverURL: String?
    /// The first container of every job pod: fetches the workspace (needs `sh`, `curl`, `tar`).
    public var fetchImage = "curlimages/curl:8.10.1"

    public init(cluster: String, namespace: String) {
        self.cluster = cluster
        self.namespace = namespace
    }

    /// PodSpec fields (Kubernetes v1.28) `pod_template` may set.
    public static let podTemplateFields: Set<String> = [
        "affinity", "dnsConfig", "dnsPolicy", "enableServiceLinks", "hostAliases", "hostIPC", "hostNetwork", "hostPID", "hostUsers",
        "hostname", "imagePullSecrets", "nodeName", "nodeSelector", "os", "overhead", "preemptionPolicy", "priority", "priorityClassName",
        "readinessGates", "resourceClaims", "runtimeClassName", "schedulerName", "schedulingGates", "securityContext",
        "setHostnameAsFQDN", "shareProcessNamespace", "subdomain", "tolerations", "topologySpreadConstraints",
    ]

    /// PodSpec fields Slipway sets itself, and the setting that governs each.
    public static let ownedPodFields: [String: String] = [
        "containers": "the pipeline's steps", "initContainers": "the pipeline's steps", "ephemeralContainers": "the pipeline's steps",
        "volumes": "the job's workspace", "restartPolicy": "Never, always", "serviceAccount": "runner.kubernetes.service_account",
        "serviceAccountName": "runner.kubernetes.service_account", "automountServiceAccountToken": "runner.kubernetes.service_account",
        "activeDeadlineSeconds": "the steps' timeouts", "terminationGracePeriodSeconds": "runner.kill_grace",
    ]

    /// `pod_template` fields that take a pod below the Pod Security Standard "baseline".
    public var baselineLoosening: [String] {
        ["hostNetwork", "hostPID", "hostIPC"].filter { podTemplate[$0] == true }
    }
}
