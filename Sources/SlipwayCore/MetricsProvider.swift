/// Where a rollout's analyses are measured: a Prometheus HTTP API (`metrics_providers`).
public struct MetricsProvider: Sendable, Hashable {
    public var name: String
    /// The Prometheus base URL, `http://prometheus.monitoring:9090` (queries go to `/api/v1/query`).
    public var url: String
    /// Sent as a bearer token, when given.
    public var token: SecretValue?

    public init(name: String, url: String, token: SecretValue? = nil) {
        self.name = name
        self.url = url
        self.token = token
    }
}
