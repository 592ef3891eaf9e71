public import SlipwayCore

/// What a rollout asks of the rest of Slipway while it runs: where its state is kept, and
/// whether a person (or a newer push) wants it promoted or stopped.
public struct RolloutControl: Sendable {
    /// Writes the state (every change: a replica that takes the job over continues from it).
    public var save: @Sendable (RolloutState) async -> Void
    /// Why the rollout must stop now, if it must: an abort asked for, a newer push, a cancel.
    public var abortReason: @Sendable () async -> String?
    /// Who promoted the rollout, if someone did since the last call (the promotion is used up).
    public var takePromotion: @Sendable () async -> String?
    /// Told of every measurement (for metrics).
    public var measured: @Sendable (AnalysisMeasurement) async -> Void

    public init(save: @escaping @Sendable (RolloutState) async -> Void, abortReason: @escaping @Sendable () async -> String?,
                takePromotion: @escaping @Sendable () async -> String?, measured: @escaping @Sendable (AnalysisMeasurement) async -> Void = { _ in }) {
        self.save = save
        self.abortReason = abortReason
        self.takePromotion = takePromotion
        self.measured = measured
    }
}
