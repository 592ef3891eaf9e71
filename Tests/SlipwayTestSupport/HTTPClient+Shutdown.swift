public import AsyncHTTPClient

extension HTTPClient {
    /// Starts shutting the client down without waiting, for a test's `defer`: a client dropped
    /// while still up stops the whole test process (AsyncHTTPClient's debug check), so a test
    /// that throws before its own `shutdown()` would take every other test's result with it.
    public func shutdownEventually() {
        shutdown { _ in }
    }
}
