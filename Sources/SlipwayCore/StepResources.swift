/// The CPU and memory a step's container asks for on the `kubernetes` executor (`resources:`
/// of a step): both become the container's requests and its limits.
public struct StepResources: Sendable, Hashable {
    /// A Kubernetes quantity: `500m`, `2`.
    public var cpu: String?
    /// A Kubernetes quantity: `1Gi`, `512Mi`.
    public var memory: String?

    public init(cpu: String? = nil, memory: String? = nil) {
        self.cpu = cpu
        self.memory = memory
    }

    /// Whether `text` is a Kubernetes quantity (`resource.Quantity`): a decimal number with a
    /// binary suffix (Ki…Ei), a decimal suffix (n, u, m, k, M, G, T, P, E) or an exponent.
    public static func isQuantity(_ text: String) -> Bool {
        text.wholeMatch(of: #/[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?/#) != nil
    }
}

/// Which machine runs an app's build and test steps (`runner.executor`, `apps[].executor`).
public enum StepExecutorKind: String, Sendable, Hashable, CaseIterable, Codable {
    /// In the sandbox on the machine that runs `slipway serve`.
    case local
    /// As a pod of the cluster `runner.kubernetes` names, each step in its own image.
    case kubernetes
}

/// Container image references, as a container runtime reads them.
public enum ImageReference {
    /// Whether `text` is `[registry[:port]/]path[:tag][@digest]` with the grammar of the
    /// distribution reference (lower-case path components, a tag of at most 128 characters).
    public static func isValid(_ text: String) -> Bool {
        guard text.count <= 255 else { return false }
        return text.wholeMatch(of: #/(([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)(\.([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?))*(:[0-9]+)?/)?[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*(/[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?/#) != nil
    }
}
