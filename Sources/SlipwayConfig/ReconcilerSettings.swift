/// How the reconciler spends its time (`reconciler:` in slipway.yaml).
public struct ReconcilerSettings: Sendable, Equatable {
    /// Apps reconciled at once; the clusters' `max_in_flight` still bounds their requests.
    public var concurrency = 8
    /// How long one read of a repository's branch heads may take before the apps that use it
    /// are told the forge does not answer.
    public var gitTimeout: Duration = .seconds(30)
    /// How long one app's drift check may take against its cluster.
    public var clusterTimeout: Duration = .seconds(60)
    /// Watch each cluster's Slipway objects (one watch per resource type), so a change made
    /// by someone else is checked within seconds rather than at the app's next interval.
    public var watch = true

    public init() {}
}
