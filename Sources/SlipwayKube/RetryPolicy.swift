/// When and how long to wait before sending a request again.
public struct RetryPolicy: Sendable {
    public var attempts: Int
    public var baseDelay: Duration
    public var maxDelay: Duration

    public init(attempts: Int = 5, baseDelay: Duration = .milliseconds(200), maxDelay: Duration = .seconds(10)) {
        self.attempts = attempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    public static let `default` = RetryPolicy()

    /// Whether an answer with this status code is worth another try.
    public static func isRetryable(status: Int) -> Bool {
        status == 429 || status == 500 || status == 502 || status == 503 || status == 504
    }

    /// The wait before try number `attempt` (1 = the first retry): the server's Retry-After
    /// when it sent one, else exponential back-off; never more than `maxDelay`.
    public func delay(attempt: Int, retryAfterSeconds: Int?) -> Duration {
        if let retryAfterSeconds { return min(.seconds(max(0, retryAfterSeconds)), maxDelay) }
        let factor = 1 << min(max(attempt - 1, 0), 16)
        return min(baseDelay * factor, maxDelay)
    }
}
