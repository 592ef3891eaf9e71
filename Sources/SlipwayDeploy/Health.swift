import Foundation
public import SlipwayCore

/// How a live object is doing, as Slipway judges it after an apply.
public enum Health: Sendable, Equatable {
    case healthy
    /// Still converging; the message says what it waits for.
    case progressing(String)
    /// Will not get better by waiting (ProgressDeadlineExceeded, a failed Job, Stalled).
    case degraded(String)

    public var isHealthy: Bool { self == .healthy }
}

/// Health rules per kind, as pure functions of the live object.
public enum HealthRules {
    /// How `object` is doing. Nothing is judged on what a controller wrote before it saw the object's current spec:
    /// a status whose `observedGeneration` lags `metadata.generation` (any kind that reports
    /// it; workloads always do), and a failure condition written before Slipway's last apply
    /// (see `isBeforeApply`) are waited through, not reported.
    public static func assess(_ object: JSONValue) -> Health {
        let kind = object["kind"]?.stringValue ?? ""
        let generation = object[path: ["metadata", "generation"]]?.intValue
        let observed = object[path: ["status", "observedGeneration"]]?.intValue
        if let generation, (observed ?? 0) < generation, observed != nil || ["Deployment", "StatefulSet", "DaemonSet"].contains(kind) {
            return .progressing("waiting for the controller to observe generation \(generation)")
        }
        switch kind {
        case "Deployment": return deployment(object)
        case "StatefulSet": return statefulSet(object)
        case "DaemonSet": return daemonSet(object)
        case "Job": return job(object)
        case "CustomResourceDefinition":
            return condition(object, "Established") == "True" ? .healthy : .progressing("waiting for the CRD to be Established")
        case "Namespace":
            let phase = object[path: ["status", "phase"]]?.stringValue
            return phase == nil || phase == "Active" ? .healthy : .progressing("namespace is \(phase ?? "?")")
        default:
            return generic(object)
        }
    }

    /// The ReplicaSet a Deployment's `Progressing=False ProgressDeadlineExceeded` names
    /// (`ReplicaSet "api-7f6494d877" has timed out progressing.`), when that is its condition.
    public static func deadlineReplicaSet(_ deployment: JSONValue) -> String? {
        let progressing = conditionReason(deployment, "Progressing")
        guard progressing.reason == "ProgressDeadlineExceeded", let message = progressing.message,
              let open = message.firstIndex(of: "\""), let close = message[message.index(after: open)...].firstIndex(of: "\"")
        else { return nil }
        return String(message[message.index(after: open)..<close])
    }

    /// When Slipway last changed the object: the time of its `Apply` entry in managedFields
    /// (the API server moves it only when an apply changed something).
    static func appliedAt(_ object: JSONValue) -> Date? {
        let entry = object[path: ["metadata", "managedFields"]]?.arrayValue?.first {
            $0["manager"]?.stringValue == Deployer.fieldManager && $0["operation"]?.stringValue == "Apply" && $0["subresource"] == nil
        }
        return entry?["time"]?.stringValue.flatMap(timestamp)
    }

    /// Whether the condition of `type` was written before Slipway's last apply, so it is about
    /// an earlier spec (times are whole seconds: one written in the same second is not).
    static func isBeforeApply(_ object: JSONValue, _ type: String) -> Bool {
        guard let applied = appliedAt(object),
              let entry = object[path: ["status", "conditions"]]?.arrayValue?.first(where: { $0["type"]?.stringValue == type }),
              let written = (entry["lastUpdateTime"] ?? entry["lastTransitionTime"])?.stringValue.flatMap(timestamp)
        else { return false }
        return written < applied
    }

    private static func timestamp(_ text: String) -> Date? {
        ISO8601DateFormatter().date(from: text)
    }

    static func condition(_ object: JSONValue, _ type: String) -> String? {
        object[path: ["status", "conditions"]]?.arrayValue?.first { $0["type"]?.stringValue == type }?["status"]?.stringValue
    }

    static func conditionReason(_ object: JSONValue, _ type: String) -> (reason: String?, message: String?) {
        let entry = object[path: ["status", "conditions"]]?.arrayValue?.first { $0["type"]?.stringValue == type }
        return (entry?["reason"]?.stringValue, entry?["message"]?.stringValue)
    }

    static func deployment(_ object: JSONValue) -> Health {
        let progressing = conditionReason(object, "Progressing")
        if progressing.reason == "ProgressDeadlineExceeded" {
            // The controller copies the last rollout's conditions into its first status for a
            // new generation and replaces them a pass later (recorded: workloads/066).
            if isBeforeApply(object, "Progressing") {
                return .progressing("the Progressing condition ProgressDeadlineExceeded is from before this apply; waiting for the controller to replace it")
            }
            return .degraded("ProgressDeadlineExceeded: \(progressing.message ?? "the rollout made no progress")")
        }
        let wanted = object[path: ["spec", "replicas"]]?.intValue ?? 1
        let status = object["status"] ?? [:]
        let updated = status["updatedReplicas"]?.intValue ?? 0
        let total = status["replicas"]?.intValue ?? 0
        let available = status["availableReplicas"]?.intValue ?? 0
        if updated < wanted { return .progressing("\(updated) of \(wanted) replicas updated") }
        if total > updated { return .progressing("\(total - updated) old replicas are still terminating") }
        if available < updated { return .progressing("\(available) of \(updated) updated replicas available") }
        return .healthy
    }

    static func statefulSet(_ object: JSONValue) -> Health {
        let wanted = object[path: ["spec", "replicas"]]?.intValue ?? 1
        let status = object["status"] ?? [:]
        let ready = status["readyReplicas"]?.intValue ?? 0
        let updated = status["updatedReplicas"]?.intValue ?? 0
        if updated < wanted { return .progressing("\(updated) of \(wanted) replicas updated") }
        if ready < wanted { return .progressing("\(ready) of \(wanted) replicas ready") }
        if let current = status["currentRevision"]?.stringValue, let update = status["updateRevision"]?.stringValue, current != update {
            return .progressing("rolling out revision \(update)")
        }
        return .healthy
    }

    static func daemonSet(_ object: JSONValue) -> Health {
        let status = object["status"] ?? [:]
        let desired = status["desiredNumberScheduled"]?.intValue ?? 0
        let updated = status["updatedNumberScheduled"]?.intValue ?? 0
        let available = status["numberAvailable"]?.intValue ?? 0
        if updated < desired { return .progressing("\(updated) of \(desired) pods updated") }
        if available < desired { return .progressing("\(available) of \(desired) pods available") }
        return .healthy
    }

    static func job(_ object: JSONValue) -> Health {
        if condition(object, "Failed") == "True" {
            let failed = conditionReason(object, "Failed")
            return .degraded("job failed: \(failed.reason ?? "") \(failed.message ?? "")".trimmingCharacters(in: .whitespaces))
        }
        return condition(object, "Complete") == "True" ? .healthy : .progressing("waiting for the job to complete")
    }

    /// Any other object: Ready / Stalled conditions when it has them, healthy otherwise.
    static func generic(_ object: JSONValue) -> Health {
        if condition(object, "Stalled") == "True" {
            // A condition that says which generation it is about is judged by that; one that
            // does not, by when it was written.
            let entry = object[path: ["status", "conditions"]]?.arrayValue?.first { $0["type"]?.stringValue == "Stalled" }
            let generation = object[path: ["metadata", "generation"]]?.intValue
            let stale = if let about = entry?["observedGeneration"]?.intValue, let generation {
                about < generation
            } else {
                object[path: ["status", "observedGeneration"]] == nil && isBeforeApply(object, "Stalled")
            }
            if stale { return .progressing("the Stalled condition is from before this apply; waiting for the controller to replace it") }
            return .degraded("Stalled: \(conditionReason(object, "Stalled").message ?? "")")
        }
        switch condition(object, "Ready") {
        case "False", "Unknown": return .progressing("Ready is \(condition(object, "Ready") ?? "")")
        default: return .healthy
        }
    }
}
