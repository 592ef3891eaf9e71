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
        // One LIST per resource type and namespace, all at once (the client bounds how many).
        let client = self.client
        let selector = "\(Deployer.partOfLabel)=\(applySetID)"
        let kinds = Array(groups.values)
        let listed = await Deployer.concurrently(kinds) { group -> Result<[JSONValue], KubeError> in
            do throws(KubeError) {
                return .success(try await client.list(apiVersion: group.apiVersion, kind: group.kind, namespace: group.namespace, labelSelector: selector))
            } catch {
                return .failure(error)
            }
        }
        var live: [String: JSONValue] = [:]
        for (group, result) in zip(kinds, listed) {
            for object in try result.get() {
                let reference = ObjectReference(apiVersion: group.apiVersion, kind: group.kind,
                                                object[path: ["metadata", "namespace"]]?.stringValue, object[path: ["metadata", "name"]]?.stringValue ?? "")
                live[reference.identity] = object
            }
        }
        // What Slipway's apply would make of each live desired object: a dry-run each, at once,
        // compared as it comes back, so only the differences are kept (not 1000 answers).
        let present = desiredByIdentity.sorted { $0.key < $1.key }.compactMap { entry in live[entry.key].map { (entry.value, $0) } }
        let compared = await Deployer.concurrently(present.map(\.0)) { [live] manifest -> Result<[FieldChange], KubeError> in
            do throws(KubeError) {
                let dryRun = try await client.apply(manifest.object, fieldManager: Deployer.fieldManager, force: true, dryRun: true)
                let owned = FieldOwnership.ownedPaths(of: dryRun, manager: Deployer.fieldManager)
                return .success(ObjectDiff.changes(live: live[manifest.reference.identity], desired: dryRun, only: owned))
            } catch {
                return .failure(error)
            }
        }
        var changesByIdentity: [String: [FieldChange]] = [:]
        for ((manifest, _), result) in zip(present, compared) { changesByIdentity[manifest.reference.identity] = try result.get() }
        var drifted: [ObjectDrift] = []
        var health: [String: String] = [:]
        var overall = AppHealth.healthy
        for (identity, manifest) in desiredByIdentity.sorted(by: { $0.key < $1.key }) {
            guard let current = live[identity] else {
                drifted.append(ObjectDrift(object: manifest.reference.description, kind: .missing))
                overall = .missing
                continue
            }
            let changes = changesByIdentity[identity] ?? []
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
