import Foundation
public import SlipwayCore
public import SlipwayKube

/// Runs resource hooks the way Argo CD does: each run creates the hook afresh (a name from
/// `generateName`, or the old object deleted first under `BeforeHookCreation`), waits for it
/// (a Job until Complete or Failed, a Pod until Succeeded or Failed, anything else until
/// healthy), writes its pods' final state to the log, and deletes it as its policy says.
public struct HookRunner: Sendable {
    public let client: KubeClient
    public var pollInterval: Duration

    public init(client: KubeClient, pollInterval: Duration = .seconds(1)) {
        self.client = client
        self.pollInterval = pollInterval
    }

    public typealias Log = @Sendable (String) async -> Void

    /// Runs the hooks in order; the first that fails stops the rest and is thrown.
    public func run(_ hooks: [SyncSet.Hook], phase: HookPhase, defaultNamespace: String, timeout: Duration, log: Log) async throws(DeployError) {
        guard !hooks.isEmpty else { return }
        await log("\(phase.rawValue) hooks: \(hooks.count)")
        for hook in hooks {
            try await run(hook, phase: phase, defaultNamespace: defaultNamespace, timeout: timeout, log: log)
        }
    }

    private func run(_ hook: SyncSet.Hook, phase: HookPhase, defaultNamespace: String, timeout: Duration, log: Log) async throws(DeployError) {
        var object = hook.manifest.object
        let kind = hook.manifest.kind
        let apiVersion = hook.manifest.apiVersion
        let place = hook.manifest.place
        // The namespace, as for any object; a name, when the hook asks for a generated one.
        let namespaced: Bool
        do {
            namespaced = try await client.resource(apiVersion: apiVersion, kind: kind).namespaced
        } catch {
            throw DeployError("\(place): \(phase.rawValue) hook \(kind): \(error)")
        }
        if namespaced, hook.manifest.namespace == nil { object["metadata"]?["namespace"] = .string(defaultNamespace) }
        if !namespaced { object["metadata"]?["namespace"] = nil }
        if hook.manifest.name.isEmpty {
            guard let prefix = object[path: ["metadata", "generateName"]]?.stringValue, !prefix.isEmpty else {
                throw DeployError("\(place): a \(phase.rawValue) hook needs metadata.name or metadata.generateName")
            }
            // Server-side apply needs a name: the suffix is chosen here as the API server would.
            object["metadata"]?["name"] = .string(prefix + Self.suffix())
        }
        object["metadata"]?["generateName"] = nil
        let manifest = Manifest(object: object, source: hook.manifest.source, index: hook.manifest.index, line: hook.manifest.line)
        let reference = manifest.reference

        if hook.annotations.deletePolicies.contains(.beforeHookCreation) {
            try await deleteAndWait(reference, timeout: timeout, log: log)
        }
        do {
            _ = try await client.apply(manifest.object, fieldManager: Deployer.fieldManager, force: true)
        } catch {
            throw DeployError("\(place): creating the \(phase.rawValue) hook \(reference) failed: \(error)")
        }
        await log("\(phase.rawValue) hook \(reference) created; waiting for it to finish")

        let outcome = await wait(for: reference, timeout: timeout)
        for line in await finalState(reference, live: outcome.live) { await log("  \(line)") }
        let succeeded: Bool
        switch outcome.result {
        case .succeeded:
            succeeded = true
            await log("\(phase.rawValue) hook \(reference) succeeded")
        case .failed(let why):
            succeeded = false
            await log("\(phase.rawValue) hook \(reference) failed: \(why)")
        }
        let policies = hook.annotations.deletePolicies
        if (succeeded && policies.contains(.hookSucceeded)) || (!succeeded && policies.contains(.hookFailed)) {
            do {
                _ = try await client.delete(apiVersion: reference.apiVersion, kind: reference.kind, namespace: reference.namespace, name: reference.name)
                await log("\(phase.rawValue) hook \(reference) deleted (\(succeeded ? "HookSucceeded" : "HookFailed"))")
            } catch {
                await log("\(phase.rawValue) hook \(reference) could not be deleted: \(error)")
            }
        }
        if case .failed(let why) = outcome.result {
            throw DeployError("\(phase.rawValue) hook \(reference) failed: \(why)")
        }
    }

    /// Deletes the previous run's object (if any) and waits until it is gone.
    private func deleteAndWait(_ reference: ObjectReference, timeout: Duration, log: Log) async throws(DeployError) {
        do {
            guard try await client.get(apiVersion: reference.apiVersion, kind: reference.kind, namespace: reference.namespace, name: reference.name) != nil else { return }
            _ = try await client.delete(apiVersion: reference.apiVersion, kind: reference.kind, namespace: reference.namespace, name: reference.name)
            await log("deleted the previous \(reference) (BeforeHookCreation)")
            let deadline = ContinuousClock.now + timeout
            while try await client.get(apiVersion: reference.apiVersion, kind: reference.kind, namespace: reference.namespace, name: reference.name) != nil {
                guard ContinuousClock.now < deadline else { throw DeployError("the previous \(reference) was still being deleted after \(timeout)") }
                try? await Task.sleep(for: pollInterval)
            }
        } catch let error as DeployError {
            throw error
        } catch {
            throw DeployError("deleting the previous \(reference) failed: \(error)")
        }
    }

    enum Result: Equatable { case succeeded, failed(String) }

    /// Reads the hook until it has finished, failed, or the time is up.
    private func wait(for reference: ObjectReference, timeout: Duration) async -> (result: Result, live: JSONValue?) {
        let deadline = ContinuousClock.now + timeout
        var last: JSONValue?
        var failures = 0
        while ContinuousClock.now < deadline {
            do {
                guard let live = try await client.get(apiVersion: reference.apiVersion, kind: reference.kind, namespace: reference.namespace, name: reference.name) else {
                    return (.failed("it is gone from the cluster"), nil)
                }
                last = live
                if let result = Self.finished(live) { return (result, live) }
            } catch {
                failures += 1
                if failures >= 5 { return (.failed("it could not be read: \(error)"), last) }
            }
            try? await Task.sleep(for: pollInterval)
        }
        return (.failed("it did not finish within \(timeout)"), last)
    }

    /// Whether a hook has finished: Jobs and Pods by completion, other kinds by health.
    static func finished(_ live: JSONValue) -> Result? {
        switch live["kind"]?.stringValue {
        case "Job":
            let conditions = live[path: ["status", "conditions"]]?.arrayValue ?? []
            func condition(_ type: String) -> JSONValue? {
                conditions.first { $0["type"]?.stringValue == type && $0["status"]?.stringValue == "True" }
            }
            if let failed = condition("Failed") {
                return .failed([failed["reason"]?.stringValue, failed["message"]?.stringValue].compactMap { $0 }.joined(separator: ": "))
            }
            return condition("Complete") == nil ? nil : .succeeded
        case "Pod":
            switch live[path: ["status", "phase"]]?.stringValue {
            case "Succeeded": return .succeeded
            case "Failed": return .failed("the pod failed" + (live[path: ["status", "message"]]?.stringValue.map { ": \($0)" } ?? ""))
            default: return nil
            }
        default:
            switch HealthRules.assess(live) {
            case .healthy: return .succeeded
            case .degraded(let why): return .failed(why)
            case .progressing: return nil
            }
        }
    }

    /// For Jobs and Pods: each pod's phase and how its containers ended.
    private func finalState(_ reference: ObjectReference, live: JSONValue?) async -> [String] {
        var pods: [JSONValue] = []
        switch reference.kind {
        case "Pod":
            if let live { pods = [live] }
        case "Job":
            pods = (try? await client.list(apiVersion: "v1", kind: "Pod", namespace: reference.namespace, labelSelector: "job-name=\(reference.name)")) ?? []
        default:
            return []
        }
        return pods.map(Self.describe)
    }

    /// `pod migrate-x7k2p Succeeded; container migrate terminated Completed (exit 0)`.
    static func describe(_ pod: JSONValue) -> String {
        var parts = ["pod \(pod[path: ["metadata", "name"]]?.stringValue ?? "?") \(pod[path: ["status", "phase"]]?.stringValue ?? "Unknown")"]
        for status in pod[path: ["status", "containerStatuses"]]?.arrayValue ?? [] {
            let name = status["name"]?.stringValue ?? "?"
            if let terminated = status[path: ["state", "terminated"]] {
                let reason = terminated["reason"]?.stringValue ?? "terminated"
                let code = terminated["exitCode"]?.intValue.map { " (exit \($0))" } ?? ""
                let message = terminated["message"]?.stringValue.map { ": \($0)" } ?? ""
                parts.append("container \(name) \(reason)\(code)\(message)")
            } else if let waiting = status[path: ["state", "waiting"]] {
                parts.append("container \(name) waiting: \(waiting["reason"]?.stringValue ?? "?")")
            } else {
                parts.append("container \(name) running")
            }
        }
        return parts.joined(separator: "; ")
    }

    /// Five characters as the API server picks them for `generateName` (no vowels, no
    /// look-alikes).
    static func suffix() -> String {
        let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")
        return String((0..<5).map { _ in alphabet.randomElement()! })
    }
}
