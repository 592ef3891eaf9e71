public import SlipwayCore

/// Where an app may deploy and what: checked on the plan, before any request, like Argo CD's
/// AppProject destinations and kind lists. Its namespaces (default: its own), the
/// cluster-scoped kinds it may create (none unless listed), kinds it may never create.
public struct TenancyRules: Sendable, Hashable {
    public var app: String
    public var namespaces: [String]
    public var clusterKinds: [String]
    public var deniedKinds: [String]

    public init(app: String, target: DeployTarget) {
        self.app = app
        namespaces = target.namespaces
        clusterKinds = target.allowedClusterKinds
        deniedKinds = target.deniedKinds
    }

    /// Every object of the plan that breaks a rule, naming file, document, kind, namespace and rule.
    public func violations(_ plan: ApplyPlan) -> [String] {
        plan.all.compactMap { manifest in violation(manifest).map { "\(manifest.place): \(manifest.reference): \($0)" } }
    }

    /// The rule a planned object breaks, or nil.
    public func violation(_ manifest: Manifest) -> String? {
        if deniedKinds.contains(manifest.kind) {
            return "kind \(manifest.kind) is denied for app '\(app)' (denied_kinds)"
        }
        guard let namespace = manifest.namespace else {
            guard clusterKinds.contains(manifest.kind) else {
                let allowed = clusterKinds.isEmpty ? "none" : clusterKinds.joined(separator: ", ")
                return "cluster-scoped kind \(manifest.kind) is not allowed for app '\(app)' (allowed_cluster_kinds: \(allowed))"
            }
            return nil
        }
        guard namespaces.contains(namespace) else {
            return "namespace '\(namespace)' is not allowed for app '\(app)' (allowed_namespaces: \(namespaces.joined(separator: ", ")))"
        }
        return nil
    }

    /// Fails with the violations, the first few in the message.
    public func check(_ plan: ApplyPlan) throws(DeployError) {
        let found = violations(plan)
        guard !found.isEmpty else { return }
        let more = found.count > 3 ? "; and \(found.count - 3) more" : ""
        throw DeployError("\(found.count) object(s) break the app's rules; nothing was applied: \(found.prefix(3).joined(separator: "; "))\(more)")
    }
}
