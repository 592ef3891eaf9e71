public import SlipwayCore

/// What a rollout asks of the rest of Slipway while it runs: where its state is kept, and
/// what a person (or a newer push) wants of it.
public struct RolloutControl: Sendable {
    /// What was asked of a rollout, as one look at the store finds it.
    public struct Requests: Sendable, Equatable {
        /// Why the rollout must stop now: an abort asked for, a newer push, a cancel.
        public var stop: String?
        /// Who promoted it, when a promotion waits to be used.
        public var promotedBy: String?

        public init(stop: String? = nil, promotedBy: String? = nil) {
            self.stop = stop
            self.promotedBy = promotedBy
        }
    }

    /// Writes the state (every change: a replica that takes the job over continues from it).
    public var save: @Sendable (RolloutState) async -> Void
    /// One look at what was asked (the rollout looks about once per poll interval).
    public var requests: @Sendable () async -> Requests
    /// Uses a promotion up: it ended a pause, the next pause waits for another.
    public var usePromotion: @Sendable () async -> Void
    /// Told of every measurement (for metrics).
    public var measured: @Sendable (AnalysisMeasurement) async -> Void

    public init(save: @escaping @Sendable (RolloutState) async -> Void, requests: @escaping @Sendable () async -> Requests,
                usePromotion: @escaping @Sendable () async -> Void, measured: @escaping @Sendable (AnalysisMeasurement) async -> Void = { _ in }) {
        self.save = save
        self.requests = requests
        self.usePromotion = usePromotion
        self.measured = measured
    }
}
