public import Foundation

/// When each app is reconciled next, and when drift may be corrected again: pure decisions
/// with the clock and the randomness passed in, so they are tested without waiting.
public struct ReconcileSchedule: Sendable {
    struct AppState: Sendable {
        var interval: Duration
        var nextDue: Date
        var corrections = 0
        var nextCorrectionAllowed: Date?
    }

    private var apps: [String: AppState] = [:]
    /// Each interval is stretched by up to this fraction, so apps do not all tick together.
    public let jitter: Double
    public let correctionBackoff: Duration
    public let maxCorrectionBackoff: Duration

    public init(jitter: Double = 0.1, correctionBackoff: Duration = .seconds(30), maxCorrectionBackoff: Duration = .seconds(3600)) {
        self.jitter = jitter
        self.correctionBackoff = correctionBackoff
        self.maxCorrectionBackoff = maxCorrectionBackoff
    }

    /// Adds an app; its first reconcile is spread over its first interval.
    public mutating func register(_ app: String, interval: Duration, now: Date, random: Double) {
        apps[app] = AppState(interval: interval, nextDue: now.addingTimeInterval(interval.seconds * random * jitter))
    }

    /// Apps whose time has come, oldest due first.
    public func due(now: Date) -> [String] {
        apps.filter { $0.value.nextDue <= now }.sorted { $0.value.nextDue < $1.value.nextDue }.map(\.key)
    }

    /// The earliest moment any app is due.
    public var nextDue: Date? { apps.values.map(\.nextDue).min() }

    /// An app was reconciled: next time is one interval (plus jitter) from now.
    public mutating func reconciled(_ app: String, now: Date, random: Double) {
        guard var state = apps[app] else { return }
        state.nextDue = now.addingTimeInterval(state.interval.seconds * (1 + random * jitter))
        apps[app] = state
    }

    /// Someone asked for a refresh: due now.
    public mutating func refresh(_ app: String, now: Date) {
        apps[app]?.nextDue = now
    }

    /// Whether to start a drift correction now. Each correction that does not make the drift
    /// go away doubles the wait before the next one (up to the maximum), so a fight with
    /// another controller never loops hot; being in sync again resets it.
    public mutating func shouldCorrect(_ app: String, drifted: Bool, now: Date) -> Bool {
        guard var state = apps[app] else { return false }
        defer { apps[app] = state }
        guard drifted else {
            state.corrections = 0
            state.nextCorrectionAllowed = nil
            return false
        }
        if let allowed = state.nextCorrectionAllowed, now < allowed { return false }
        state.corrections += 1
        let factor = Double(1 << min(state.corrections - 1, 20))
        let wait = min(correctionBackoff.seconds * factor, maxCorrectionBackoff.seconds)
        state.nextCorrectionAllowed = now.addingTimeInterval(wait)
        return true
    }

    /// An app's correction back-off, to keep in the store.
    public func corrections(_ app: String) -> (count: Int, nextAllowed: Date?) {
        (apps[app]?.corrections ?? 0, apps[app]?.nextCorrectionAllowed)
    }

    /// Takes an app's correction back-off from the store (another replica, or before a restart).
    public mutating func restoreCorrections(_ app: String, count: Int, nextAllowed: Date?) {
        apps[app]?.corrections = count
        apps[app]?.nextCorrectionAllowed = nextAllowed
    }

    /// When the next correction of an app may start, if one is being held back.
    public func nextCorrection(_ app: String) -> Date? { apps[app]?.nextCorrectionAllowed }
}
