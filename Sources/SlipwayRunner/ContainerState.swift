import SlipwayCore

/// One container of a job's pod as the kubelet reports it (`status.initContainerStatuses`,
/// `status.containerStatuses`), read as what it means for the step: the recordings
/// (workloads 110–144) show that the container states, not the pod's phase, say first
/// that a container ended.
enum ContainerState: Equatable {
    /// Not started; `reason` as the kubelet gives it (ContainerCreating, PodInitializing, …).
    case waiting(reason: String?, message: String?)
    case running
    case terminated(exitCode: Int, reason: String?, message: String?)

    /// The named container's state in a pod; nil when the pod reports none yet.
    static func of(_ container: String, in pod: JSONValue) -> ContainerState? {
        let statuses = (pod[path: ["status", "initContainerStatuses"]]?.arrayValue ?? []) + (pod[path: ["status", "containerStatuses"]]?.arrayValue ?? [])
        guard let state = statuses.first(where: { $0["name"]?.stringValue == container })?["state"] else { return nil }
        if let terminated = state["terminated"] {
            return .terminated(exitCode: Int(terminated["exitCode"]?.intValue ?? -1), reason: terminated["reason"]?.stringValue,
                               message: terminated["message"]?.stringValue)
        }
        if state["running"] != nil { return .running }
        return .waiting(reason: state[path: ["waiting", "reason"]]?.stringValue, message: state[path: ["waiting", "message"]]?.stringValue)
    }

    var hasStarted: Bool {
        if case .waiting = self { false } else { true }
    }

    /// Why a container that waits will never start, in words: an image that cannot be had,
    /// a container the runtime cannot create. Nil while waiting is normal.
    func startFailure(image: String) -> String? {
        guard case .waiting(let reason?, let message) = self else { return nil }
        let detail = message.map { ": \($0)" } ?? ""
        switch reason {
        case "ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName", "RegistryUnavailable":
            return "image \(image) could not be pulled (\(reason))\(detail)"
        case "CreateContainerConfigError", "CreateContainerError", "RunContainerError":
            return "the container could not be created (\(reason))\(detail)"
        default:
            return nil
        }
    }

    /// Why an ended container ended, when its exit code does not say it all.
    func endMessage(memoryLimit: String?) -> String? {
        guard case .terminated(let code, let reason, let message) = self else { return nil }
        switch reason {
        case "OOMKilled":
            return "killed: out of memory (limit \(memoryLimit ?? "set by the cluster"))"
        case "Completed", "Error", nil:
            return code == 137 ? "killed (SIGKILL, exit code 137)" : nil
        case let other?:
            return "\(other)\(message.map { ": \($0)" } ?? "") (exit code \(code))"
        }
    }

    /// Why the pod is going away though no step asked it to: deleted (by someone, a drain,
    /// the API's eviction) or evicted by its node. Nil for a pod that is not.
    static func podTakenAway(_ pod: JSONValue) -> String? {
        if pod[path: ["metadata", "deletionTimestamp"]] != nil { return "was deleted (by someone else, or its node was drained)" }
        if pod[path: ["status", "phase"]] == "Failed", pod[path: ["status", "reason"]] == "Evicted" {
            return "was evicted by its node" + (pod[path: ["status", "message"]]?.stringValue.map { ": \($0)" } ?? "")
        }
        return nil
    }

    /// Why the whole pod ended before this container did: past its deadline, or failed.
    static func podFailure(_ pod: JSONValue) -> String? {
        guard pod[path: ["status", "phase"]] == "Failed" else { return nil }
        let message = pod[path: ["status", "message"]]?.stringValue
        switch pod[path: ["status", "reason"]]?.stringValue {
        case "DeadlineExceeded": return "the pod ran past its activeDeadlineSeconds\(message.map { ": \($0)" } ?? "")"
        case let reason?: return "the pod failed (\(reason))\(message.map { ": \($0)" } ?? "")"
        case nil: return nil
        }
    }

    /// The scheduler's word on a pod no node takes (`PodScheduled=False`), if any.
    static func unschedulable(_ pod: JSONValue) -> String? {
        let condition = (pod[path: ["status", "conditions"]]?.arrayValue ?? []).first { $0["type"] == "PodScheduled" }
        guard condition?["status"] == "False" else { return nil }
        return condition?["message"]?.stringValue ?? condition?["reason"]?.stringValue
    }
}
