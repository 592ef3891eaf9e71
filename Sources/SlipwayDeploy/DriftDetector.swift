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
        let compared = await Deployer.concurrently(present) { [self] pair -> Result<[FieldChange], KubeError> in
            do throws(KubeError) {
                return .success(try await changes(of: pair.0, live: pair.1))
            } catch {
                return .failure(error)
            }
        }
        var changesByIdentity: [String: [FieldChange]] = [:]
        for ((manifest, _), result) in zip(present, compared) { changesByIdentity[manifest.reference.identity] = try result.get() }
        var drifted: [ObjectDrift] = []
        var health: [String: String] = [:]
        for (identity, manifest) in desiredByIdentity.sorted(by: { $0.key < $1.key }) {
            guard let current = live[identity] else {
                drifted.append(ObjectDrift(object: manifest.reference.description, kind: .missing))
                continue
            }
            let changes = changesByIdentity[identity] ?? []
            if !changes.isEmpty { drifted.append(ObjectDrift(object: manifest.reference.description, kind: .changed, fields: changes)) }
            health[manifest.reference.description] = Self.healthText(current)
        }
        for (identity, object) in live.sorted(by: { $0.key < $1.key }) where desiredByIdentity[identity] == nil {
            let reference = ObjectReference(apiVersion: object["apiVersion"]?.stringValue ?? "", kind: object["kind"]?.stringValue ?? "",
                                            namespace: object[path: ["metadata", "namespace"]]?.stringValue, name: object[path: ["metadata", "name"]]?.stringValue ?? "")
            drifted.append(ObjectDrift(object: reference.description, kind: .extra))
        }
        let report = DriftReport(drifted: drifted, health: health, objectCount: desiredByIdentity.count)
        return (report, report.overallHealth)
    }

    /// A live object that a watch saw change, or (nil) saw deleted.
    public struct Observed: Sendable {
        public var reference: ObjectReference
        public var live: JSONValue?

        public init(reference: ObjectReference, live: JSONValue?) {
            self.reference = reference
            self.live = live
        }
    }

    /// The drift check of a few objects of an app, as `detect` does it for all: a dry-run apply
    /// of each that is both applied and live, nothing for the others. Each result replaces what
    /// the app's report said of that object.
    public func check(_ observed: [Observed], desired manifests: [Manifest], applySetID: String,
                      defaultNamespace: String) async throws(DeployError) -> [DriftReport.ObjectState] {
        let plan = try await Deployer(client: client).plan(manifests, defaultNamespace: defaultNamespace, applySetID: applySetID)
        var desired: [String: Manifest] = [:]
        for manifest in plan.all { desired[manifest.reference.identity] = manifest }
        let results = await Deployer.concurrently(observed) { [self, desired] object -> Result<DriftReport.ObjectState, KubeError> in
            let wanted = desired[object.reference.identity]
            // Named as the full check names it: from the applied manifest when there is one.
            let name = (wanted?.reference ?? object.reference).description
            switch (wanted, object.live) {
            case (nil, nil):
                return .success(DriftReport.ObjectState(object: name, applied: false, drift: nil, health: nil))
            case (nil, .some):
                return .success(DriftReport.ObjectState(object: name, applied: false, drift: ObjectDrift(object: name, kind: .extra), health: nil))
            case (.some, nil):
                return .success(DriftReport.ObjectState(object: name, applied: true, drift: ObjectDrift(object: name, kind: .missing), health: nil))
            case (.some(let manifest), .some(let live)):
                do throws(KubeError) {
                    let changes = try await changes(of: manifest, live: live)
                    return .success(DriftReport.ObjectState(object: name, applied: true,
                                                            drift: changes.isEmpty ? nil : ObjectDrift(object: name, kind: .changed, fields: changes),
                                                            health: Self.healthText(live)))
                } catch {
                    return .failure(error)
                }
            }
        }
        do {
            return try results.map { try $0.get() }
        } catch {
            throw DeployError("\(error)")
        }
    }

    /// The fields Slipway owns that differ between the live object and what Slipway's apply
    /// of `manifest` would make of it (a server-side dry-run).
    private func changes(of manifest: Manifest, live: JSONValue) async throws(KubeError) -> [FieldChange] {
        let dryRun = try await client.apply(manifest.object, fieldManager: Deployer.fieldManager, force: true, dryRun: true)
        let owned = FieldOwnership.ownedPaths(of: dryRun, manager: Deployer.fieldManager)
        return ObjectDiff.changes(live: live, desired: dryRun, only: owned)
    }

    /// `Healthy`, `Progressing: why` or `Degraded: why`, as an app's status shows each object.
    public static func healthText(_ live: JSONValue) -> String {
        switch HealthRules.assess(live) {
        case .healthy: "Healthy"
        case .progressing(let why): "Progressing: \(why)"
        case .degraded(let why): "Degraded: \(why)"
        }
    }
}

extension ObjectReference {
    init(apiVersion: String, kind: String, _ namespace: String?, _ name: String) {
        self.init(apiVersion: apiVersion, kind: kind, namespace: namespace, name: name)
    }
}
