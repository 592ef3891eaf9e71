public import SlipwayCore
public import SlipwayKube

/// Compares the cluster with the manifests last applied: a LIST per resource type and
/// namespace (by the ApplySet label) finds the live objects, a server-side dry-run apply of
/// each desired object says what Slipway's apply would make of it, and only the fields
/// Slipway's field manager owns are compared, so defaults, mutating webhooks and other
/// controllers' fields never count as drift.
public struct DriftDetector: Sendable {
    public let client: KubeClient

    public init(client: KubeClient) {
        self.client = client
    }

    /// The overall health of an app from its objects' health (`Missing` when any is gone).
    public enum AppHealth: String, Sendable, Codable {
        case healthy = "Healthy", progressing = "Progressing", degraded = "Degraded", missing = "Missing"
    }

    public func detect(desired manifests: [Manifest], applySetID: String, defaultNamespace: String) async throws(DeployError) -> (DriftReport, AppHealth) {
        let plan = try await Deployer(client: client).plan(manifests, defaultNamespace: defaultNamespace, applySetID: applySetID)
        do {
            return try await compare(plan.all, applySetID: applySetID)
        } catch {
            throw DeployError("\(error)")
        }
    }

    private func compare(_ desired: [Manifest], applySetID: String) async throws(KubeError) -> (DriftReport, AppHealth) {
        var groups: [String: (apiVersion: String, kind: String, namespace: String?)] = [:]
        var desiredByIdentity: [String: Manifest] = [:]
        for manifest in desired {
            desiredByIdentity[manifest.reference.identity] = manifest
            groups["\(manifest.apiVersion)|\(manifest.kind)|\(manifest.namespace ?? "")"] = (manifest.apiVersion, manifest.kind, manifest.namespace)
        }
        // One LIST per resource type and namespace.
        var live: [String: JSONValue] = [:]
        for group in groups.values.sorted(by: { "\($0.apiVersion)\($0.kind)\($0.namespace ?? "")" < "\($1.apiVersion)\($1.kind)\($1.namespace ?? "")" }) {
            for object in try await client.list(apiVersion: group.apiVersion, kind: group.kind, namespace: group.namespace,
                                                labelSelector: "\(Deployer.partOfLabel)=\(applySetID)") {
                let reference = ObjectReference(apiVersion: group.apiVersion, kind: group.kind,
                                                object[path: ["metadata", "namespace"]]?.stringValue, object[path: ["metadata", "name"]]?.stringValue ?? "")
                live[reference.identity] = object
            }
        }
        var drifted: [ObjectDrift] = []
        var health: [String: String] = [:]
        var overall = AppHealth.healthy
        for (identity, manifest) in desiredByIdentity.sorted(by: { $0.key < $1.key }) {
            guard let current = live[identity] else {
                drifted.append(ObjectDrift(object: manifest.reference.description, kind: .missing))
                overall = .missing
                continue
            }
            let dryRun = try await client.apply(manifest.object, fieldManager: Deployer.fieldManager, force: true, dryRun: true)
            let owned = FieldOwnership.ownedPaths(of: dryRun, manager: Deployer.fieldManager)
            let changes = ObjectDiff.changes(live: current, desired: dryRun, only: owned)
            if !changes.isEmpty { drifted.append(ObjectDrift(object: manifest.reference.description, kind: .changed, fields: changes)) }
            switch HealthRules.assess(current) {
            case .healthy:
                health[manifest.reference.description] = "Healthy"
            case .progressing(let why):
                health[manifest.reference.description] = "Progressing: \(why)"
                if overall == .healthy { overall = .progressing }
            case .degraded(let why):
                health[manifest.reference.description] = "Degraded: \(why)"
                if overall != .missing { overall = .degraded }
            }
        }
        for (identity, object) in live.sorted(by: { $0.key < $1.key }) where desiredByIdentity[identity] == nil {
            let reference = ObjectReference(apiVersion: object["apiVersion"]?.stringValue ?? "", kind: object["kind"]?.stringValue ?? "",
                                            namespace: object[path: ["metadata", "namespace"]]?.stringValue, name: object[path: ["metadata", "name"]]?.stringValue ?? "")
            drifted.append(ObjectDrift(object: reference.description, kind: .extra))
        }
        return (DriftReport(drifted: drifted, health: health, objectCount: desiredByIdentity.count), overall)
    }
}

extension ObjectReference {
    init(apiVersion: String, kind: String, _ namespace: String?, _ name: String) {
        self.init(apiVersion: apiVersion, kind: kind, namespace: namespace, name: name)
    }
}
