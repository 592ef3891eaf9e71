/// Polls `condition` until it holds or `timeout` passes (then throws): for waiting on
/// another process or a background task, never as a timing assertion.
public func waitFor(timeout: Duration = .seconds(30), every interval: Duration = .milliseconds(50),
                    _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: interval)
    }
    throw WaitTimeout(timeout: timeout)
}

public struct WaitTimeout: Error, CustomStringConvertible {
    public var timeout: Duration
    public var description: String { "condition not met within \(timeout)" }
}
