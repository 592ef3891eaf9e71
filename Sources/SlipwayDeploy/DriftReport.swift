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
}
