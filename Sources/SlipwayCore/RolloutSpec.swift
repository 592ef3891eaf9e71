import Foundation

/// `deploy.rollout`: one Deployment rolled out progressively. Its new pod template first runs
/// as a canary beside the stable pods, step by step, gated by pauses and metric analyses.
public struct RolloutSpec: Sendable, Hashable {
    /// The kind of the target (only `Deployment` is rolled out progressively).
    public var targetKind: String
    public var targetName: String
    public var steps: [RolloutStep]
    /// Analyses by name, as the steps name them.
    public var analyses: [String: AnalysisSpec]
    /// The line of `rollout:` in the pipeline file.
    public var line: Int?

    public init(targetKind: String = "Deployment", targetName: String, steps: [RolloutStep], analyses: [String: AnalysisSpec] = [:], line: Int? = nil) {
        self.targetKind = targetKind
        self.targetName = targetName
        self.steps = steps
        self.analyses = analyses
        self.line = line
    }

    /// `Deployment/web`.
    public var target: String { "\(targetKind)/\(targetName)" }

    /// How many of `replicas` pods run the canary at `weight` percent: `ceil(replicas × weight / 100)`.
    public static func canaryReplicas(of replicas: Int, weight: Int) -> Int {
        guard replicas > 0, weight > 0 else { return 0 }
        return min(replicas, (replicas * weight + 99) / 100)
    }
}

/// One step of a rollout.
public enum RolloutStep: Sendable, Hashable, CustomStringConvertible {
    /// The canary gets this share (1–100) of the target's replicas.
    case weight(Int)
    /// Wait this long (a promotion ends the wait early).
    case pause(Duration)
    /// Wait until someone promotes the rollout.
    case pauseUntilPromoted
    /// Run the named analysis; a failed analysis aborts the rollout.
    case analysis(String)

    public var description: String {
        switch self {
        case .weight(let weight): "weight \(weight)%"
        case .pause(let duration): "pause \(DurationText.short(duration))"
        case .pauseUntilPromoted: "pause until promoted"
        case .analysis(let name): "analysis \(name)"
        }
    }
}

/// A query measured again and again against the app's metrics provider.
public struct AnalysisSpec: Sendable, Hashable {
    public var name: String
    /// A PromQL query whose result is one value.
    public var query: String
    public var success: SuccessCondition
    public var interval: Duration
    /// How many measurements are taken.
    public var count: Int
    /// How many failed measurements are tolerated.
    public var failureLimit: Int
    public var line: Int?

    public init(name: String, query: String, success: SuccessCondition, interval: Duration = .seconds(30), count: Int = 1, failureLimit: Int = 0,
                line: Int? = nil) {
        self.name = name
        self.query = query
        self.success = success
        self.interval = interval
        self.count = count
        self.failureLimit = failureLimit
        self.line = line
    }
}

/// `">= 0.99"`: how a measured value is judged.
public struct SuccessCondition: Sendable, Hashable, CustomStringConvertible {
    public enum Comparison: String, Sendable, CaseIterable {
        // Two-character operators first, so `>=` is not read as `>`.
        case atLeast = ">=", atMost = "<=", equal = "==", notEqual = "!=", greater = ">", less = "<"
    }

    public var comparison: Comparison
    public var threshold: Double

    public init(_ comparison: Comparison, _ threshold: Double) {
        self.comparison = comparison
        self.threshold = threshold
    }

    /// Reads `>= 0.99`, `< 500`, `== 1`; nil when it is not an operator and a finite number.
    public init?(parsing text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let comparison = Comparison.allCases.first(where: { trimmed.hasPrefix($0.rawValue) }) else { return nil }
        let number = trimmed.dropFirst(comparison.rawValue.count).trimmingCharacters(in: .whitespaces)
        guard let threshold = Double(number), threshold.isFinite else { return nil }
        self.init(comparison, threshold)
    }

    public func holds(for value: Double) -> Bool {
        guard !value.isNaN else { return false }
        switch comparison {
        case .atLeast: return value >= threshold
        case .atMost: return value <= threshold
        case .equal: return value == threshold
        case .notEqual: return value != threshold
        case .greater: return value > threshold
        case .less: return value < threshold
        }
    }

    public var description: String { "\(comparison.rawValue) \(DurationText.number(threshold))" }
}

/// Short texts for durations and numbers, as logs and pages show them.
public enum DurationText {
    /// `2m`, `30s`, `1h30m`, `1.5s`.
    public static func short(_ duration: Duration) -> String {
        let seconds = duration.seconds
        if seconds < 1 { return "\(Int((seconds * 1000).rounded()))ms" }
        if seconds != seconds.rounded() { return "\(number(seconds))s" }
        var rest = Int(seconds)
        var text = ""
        for (unit, size) in [("h", 3600), ("m", 60)] where rest >= size {
            text += "\(rest / size)\(unit)"
            rest %= size
        }
        if rest > 0 || text.isEmpty { text += "\(rest)s" }
        return text
    }

    /// `0.99`, `12`, `0.000123` (no trailing zeros).
    public static func number(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(format: "%.6g", value)
    }
}
