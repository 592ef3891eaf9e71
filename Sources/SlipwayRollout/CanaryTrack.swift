public import SlipwayCore
public import SlipwayDeploy

/// The two tracks of a progressive rollout, as objects.
///
/// The canary is a second Deployment, `NAME-canary`, made from the new manifest with the
/// label `track: canary` added to its selector and pod template: a Deployment's selector is
/// immutable, and the stable pods keep their template (relabelling them would restart them).
/// A Service that selects the app's pods reaches both tracks, each by its share of pods. No
/// controller adopts the other's pods: each ReplicaSet selects its own `pod-template-hash`
/// and is owned by its own Deployment. The canary carries no ApplySet label: it is not part of
/// the app's inventory, so neither prune nor drift checks see it; Slipway deletes it when the
/// rollout ends.
public enum CanaryTrack {
    public static let trackLabel = "track"
    public static let canaryValue = "canary"
    /// Names the Deployment a canary belongs to (its health wait selects by it).
    public static let canaryOfLabel = "slipway.dev/canary-of"
    /// The field manager of the replica changes a rollout makes to the stable Deployment.
    public static let fieldManager = "slipway-rollout"

    public static func canaryName(of target: String) -> String { "\(target)-canary" }

    /// The canary Deployment for `target` (the new manifest, as planned) at `replicas`.
    public static func canary(of target: Manifest, replicas: Int) -> JSONValue {
        var object = target.object
        let name = canaryName(of: target.name)
        object["metadata"]?["name"] = .string(name)
        var labels = object[path: ["metadata", "labels"]]?.objectValue ?? [:]
        labels[Deployer.partOfLabel] = nil
        labels[trackLabel] = .string(canaryValue)
        labels[canaryOfLabel] = .string(target.name)
        object["metadata"]?["labels"] = .object(labels)
        object["spec"]?["replicas"] = .int(Int64(replicas))
        var matchLabels = object[path: ["spec", "selector", "matchLabels"]]?.objectValue ?? [:]
        matchLabels[trackLabel] = .string(canaryValue)
        if object[path: ["spec", "selector"]] == nil { object["spec"]?["selector"] = [:] }
        object["spec"]?["selector"]?["matchLabels"] = .object(matchLabels)
        var podLabels = object[path: ["spec", "template", "metadata", "labels"]]?.objectValue ?? [:]
        podLabels[trackLabel] = .string(canaryValue)
        if object[path: ["spec", "template", "metadata"]] == nil { object["spec"]?["template"]?["metadata"] = [:] }
        object["spec"]?["template"]?["metadata"]?["labels"] = .object(podLabels)
        return object
    }

    /// The replicas the target's manifest asks for (Kubernetes' default: 1).
    public static func replicas(of target: Manifest) -> Int {
        Int(target.object[path: ["spec", "replicas"]]?.intValue ?? 1)
    }

    /// Why requests may not reach the canary, judged from the Services among `manifests`
    /// in the target's namespace; nil when a Service selects both tracks' pods.
    public static func serviceWarning(target: Manifest, manifests: [Manifest]) -> String? {
        let stable = target.object[path: ["spec", "template", "metadata", "labels"]]?.objectValue ?? [:]
        var canary = stable
        canary[trackLabel] = .string(canaryValue)
        func selects(_ selector: [String: JSONValue], _ labels: [String: JSONValue]) -> Bool {
            !selector.isEmpty && selector.allSatisfy { labels[$0.key] == $0.value }
        }
        let services = manifests.filter { $0.kind == "Service" && $0.namespace == target.namespace }
        let selectors = services.map { ($0, $0.object[path: ["spec", "selector"]]?.objectValue ?? [:]) }
        let stableServices = selectors.filter { selects($0.1, stable) }
        if stableServices.isEmpty {
            return "no Service in the app's manifests selects \(target.reference)'s pods: requests reach the canary only as far as whatever routes them selects its pods (labels \(render(canary)))"
        }
        let missing = stableServices.filter { !selects($0.1, canary) }
        if !missing.isEmpty {
            return "Service \(missing.map(\.0.name).joined(separator: ", ")) selects \(target.reference)'s stable pods but not the canary's (its selector \(render(missing[0].1)), the canary's pods \(render(canary))): the canary gets no requests through it"
        }
        return nil
    }

    private static func render(_ labels: [String: JSONValue]) -> String {
        labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.stringValue ?? "?")" }.joined(separator: ",")
    }
}
