import SlipwayCore
import SlipwayDeploy

/// What the reconciler keeps of each object a watch has seen: enough to tell whether a later
/// event is someone else's change (a field manager other than Slipway's wrote since), never
/// the object itself. About 200 bytes an object with its key.
struct WatchedObject: Sendable, Equatable {
    /// The ApplySet the object belongs to (its app's).
    var applySetID: String
    var resourceVersion: String
    /// The other field managers' entries on the object itself, as they were last seen.
    var othersWriting: Int
    /// Their entries on its status (controllers' writes: a health change, not drift).
    var othersReporting: Int
    /// Slipway's own entries.
    var own: Int

    init?(_ object: JSONValue) {
        guard let applySetID = object[path: ["metadata", "labels", Deployer.partOfLabel]]?.stringValue else { return nil }
        self.applySetID = applySetID
        resourceVersion = object[path: ["metadata", "resourceVersion"]]?.stringValue ?? ""
        var writing = Hasher()
        var reporting = Hasher()
        var own = Hasher()
        for entry in object[path: ["metadata", "managedFields"]]?.arrayValue ?? [] {
            // What changes when the manager writes again: its time (and what it owns).
            let mark = [entry["manager"], entry["operation"], entry["time"], entry["fieldsV1"]].map { $0.map { "\($0)" } ?? "" }
            if entry["manager"]?.stringValue == Deployer.fieldManager {
                own.combine(mark)
            } else if entry["subresource"]?.stringValue == "status" {
                reporting.combine(mark)
            } else {
                writing.combine(mark)
            }
        }
        othersWriting = writing.finalize()
        othersReporting = reporting.finalize()
        self.own = own.finalize()
    }

    /// What an event means for the app.
    enum Change: Sendable, Equatable {
        /// Only Slipway wrote (its own apply), or nothing that matters changed.
        case none
        /// Only a controller's status changed: the object's health, no dry-run needed.
        case health
        /// Someone else wrote the object, or it is new or gone: check it for drift.
        case drift
    }

    /// What changed from `earlier` (nil: the object was not known) to this.
    func change(since earlier: WatchedObject?) -> Change {
        guard let earlier else {
            // A new object: Slipway's own create has no other writer yet.
            return othersWriting == WatchedObject.nobody ? .none : .drift
        }
        if earlier.applySetID != applySetID || earlier.othersWriting != othersWriting { return .drift }
        if earlier.othersReporting != othersReporting { return .health }
        if earlier.resourceVersion == resourceVersion || earlier.own != own { return .none }
        // Written, but no entry says by whom: managedFields keep whole seconds, so a second
        // write by the same manager in the same second looks the same. Check it.
        return .drift
    }

    /// `othersWriting` of an object only Slipway wrote.
    static let nobody: Int = Hasher().finalize()
}
