public import SlipwayCore

/// When a hook runs, as Argo CD names the phases.
public enum HookPhase: String, Sendable, Hashable, CaseIterable {
    case preSync = "PreSync", sync = "Sync", postSync = "PostSync", syncFail = "SyncFail"
}

/// When a hook object is deleted.
public enum HookDeletePolicy: String, Sendable, Hashable, CaseIterable {
    /// Delete the previous run's object before creating the new one (the default).
    case beforeHookCreation = "BeforeHookCreation"
    case hookSucceeded = "HookSucceeded"
    case hookFailed = "HookFailed"
}

/// A manifest's place in a sync, from its annotations: Slipway's own (`slipway.dev/…`) or
/// Argo CD's (`argocd.argoproj.io/…`), so manifests written for Argo CD work unchanged.
public struct SyncAnnotations: Sendable, Hashable {
    public static let prefixes = ["slipway.dev/", "argocd.argoproj.io/"]

    /// Applied wave by wave, lowest first.
    public var wave: Int
    /// Empty: an ordinary object of the app. Otherwise the phases it runs in as a hook.
    public var hookPhases: Set<HookPhase>
    /// `Skip`: never applied.
    public var skip: Bool
    public var deletePolicies: Set<HookDeletePolicy>

    public var isHook: Bool { !hookPhases.isEmpty }

    /// Reads the annotations; a value Slipway does not know fails with the manifest's place.
    public static func of(_ manifest: Manifest) throws(DeployError) -> SyncAnnotations {
        let annotations = manifest.object[path: ["metadata", "annotations"]]?.objectValue ?? [:]
        func value(_ name: String) -> (key: String, text: String)? {
            for prefix in prefixes {
                if let text = annotations[prefix + name]?.stringValue { return (prefix + name, text) }
            }
            return nil
        }
        var result = SyncAnnotations(wave: 0, hookPhases: [], skip: false, deletePolicies: [])
        if let (key, text) = value("sync-wave") {
            guard let wave = Int(text.trimmingCharacters(in: .whitespaces)) else {
                throw DeployError("\(manifest.place): \(manifest.reference): \(key) '\(text)' is not an integer")
            }
            result.wave = wave
        }
        if let (key, text) = value("hook") {
            for word in Self.words(text) {
                if word == "Skip" {
                    result.skip = true
                } else if let phase = HookPhase(rawValue: word) {
                    result.hookPhases.insert(phase)
                } else {
                    throw DeployError("\(manifest.place): \(manifest.reference): \(key) '\(word)' is not one of PreSync, Sync, PostSync, SyncFail, Skip")
                }
            }
        }
        if let (key, text) = value("hook-delete-policy") {
            for word in Self.words(text) {
                guard let policy = HookDeletePolicy(rawValue: word) else {
                    throw DeployError("\(manifest.place): \(manifest.reference): \(key) '\(word)' is not one of BeforeHookCreation, HookSucceeded, HookFailed")
                }
                result.deletePolicies.insert(policy)
            }
        }
        if result.isHook && result.deletePolicies.isEmpty { result.deletePolicies = [.beforeHookCreation] }
        return result
    }

    private static func words(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}

/// A commit's manifests split for a sync: the app's objects (its inventory, applied in waves)
/// and its hooks (run around them, never part of the inventory, never pruned as such).
public struct SyncSet: Sendable {
    public var resources: [Manifest]
    public var hooks: [Hook]
    /// Objects annotated `hook: Skip`.
    public var skipped: [Manifest]

    public struct Hook: Sendable, Hashable {
        public var manifest: Manifest
        public var annotations: SyncAnnotations
    }

    public static func split(_ manifests: [Manifest]) throws(DeployError) -> SyncSet {
        var set = SyncSet(resources: [], hooks: [], skipped: [])
        for manifest in manifests {
            let annotations = try SyncAnnotations.of(manifest)
            if annotations.skip && !annotations.isHook {
                set.skipped.append(manifest)
            } else if annotations.isHook {
                set.hooks.append(Hook(manifest: manifest, annotations: annotations))
            } else {
                set.resources.append(manifest)
            }
        }
        return set
    }

    /// The hooks of one phase, by wave then in the order they were written.
    public func hooks(_ phase: HookPhase) -> [Hook] {
        Self.hooks(hooks, phase)
    }

    static func hooks(_ hooks: [Hook], _ phase: HookPhase) -> [Hook] {
        hooks.enumerated().filter { $0.element.annotations.hookPhases.contains(phase) }
            .sorted { ($0.element.annotations.wave, $0.offset) < ($1.element.annotations.wave, $1.offset) }.map(\.element)
    }

    public var isEmpty: Bool { hooks.isEmpty }
}
