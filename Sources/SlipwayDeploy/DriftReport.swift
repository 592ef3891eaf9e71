public import SlipwayCore

/// How one object differs from what was last applied.
public struct ObjectDrift: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Codable {
        /// A field Slipway applied has another value live.
        case changed
        /// The object is gone from the cluster.
        case missing
        /// The object carries the app's ApplySet label but is not in the applied set.
        case extra
    }

    /// `Deployment shop/web`
    public var object: String
    public var kind: Kind
    public var fields: [FieldChange]

    public init(object: String, kind: Kind, fields: [FieldChange] = []) {
        self.object = object
        self.kind = kind
        self.fields = fields
    }
}

/// The result of comparing an app's cluster with its last applied revision.
public struct DriftReport: Sendable, Hashable, Codable {
    public var drifted: [ObjectDrift]
    /// Health of the applied objects that exist.
    public var health: [String: String]
    public var objectCount: Int

    public var inSync: Bool { drifted.isEmpty }

    public init(drifted: [ObjectDrift], health: [String: String], objectCount: Int) {
        self.drifted = drifted
        self.health = health
        self.objectCount = objectCount
    }

    /// The app's health from its objects': `Missing` when any applied object is gone, else the
    /// worst of theirs.
    public var overallHealth: DriftDetector.AppHealth {
        if drifted.contains(where: { $0.kind == .missing }) { return .missing }
        if health.values.contains(where: { $0.hasPrefix("Degraded") }) { return .degraded }
        if health.values.contains(where: { $0.hasPrefix("Progressing") }) { return .progressing }
        return .healthy
    }

    /// What a check of one object found: its drift (nil: none) and health (nil: not live).
    public struct ObjectState: Sendable, Hashable {
        /// `Deployment shop/web`, as in `drifted` and `health`.
        public var object: String
        /// Whether the object is one of the applied ones (else it can only be extra).
        public var applied: Bool
        public var drift: ObjectDrift?
        public var health: String?

        public init(object: String, applied: Bool, drift: ObjectDrift?, health: String?) {
            self.object = object
            self.applied = applied
            self.drift = drift
            self.health = health
        }
    }

    /// This report with what later checks of single objects found in place of what it said of them.
    public func updating(_ states: [ObjectState]) -> DriftReport {
        var report = self
        for state in states {
            report.drifted.removeAll { $0.object == state.object }
            if let drift = state.drift { report.drifted.append(drift) }
            report.health[state.object] = state.health
        }
        report.drifted.sort { $0.object < $1.object }
        return report
    }
}

extension DriftReport {
    /// The report without what a running progressive rollout changes on purpose: the target's
    /// `spec.replicas` (its canary is outside the app's set and never listed).
    public func ignoringRollout(of target: String) -> DriftReport {
        var report = self
        report.drifted = drifted.compactMap { drift in
            guard drift.object == target, drift.kind == .changed else { return drift }
            var kept = drift
            kept.fields = drift.fields.filter { $0.path != "spec.replicas" }
            return kept.fields.isEmpty ? nil : kept
        }
        return report
    }
}
