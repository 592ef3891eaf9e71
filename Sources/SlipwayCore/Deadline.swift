/// An operation took longer than it was given.
public struct DeadlinePassed: Error, Sendable, CustomStringConvertible {
    public let limit: Duration
    public var description: String { "no answer within \(limit)" }
}

/// Runs `operation` for at most `limit`. When the limit passes first, the operation is
/// cancelled and `DeadlinePassed` thrown at once, without waiting for the operation to notice
/// (a blocking libgit2 read may not): the caller is free, whatever the operation does.
public func withDeadline<T: Sendable>(_ limit: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    let race = DeadlineRace<T>()
    let work = Task { await race.finish(with: await Result(catching: operation)) }
    let timer = Task {
        try await Task.sleep(for: limit)
        await race.finish(with: .failure(DeadlinePassed(limit: limit)))
    }
    defer {
        work.cancel()
        timer.cancel()
    }
    return try await withTaskCancellationHandler {
        try await race.outcome()
    } onCancel: {
        work.cancel()
        Task { await race.finish(with: .failure(CancellationError())) }
    }
}

/// The first of the operation and the timer to finish decides.
private actor DeadlineRace<T: Sendable> {
    private var result: Result<T, any Error>?
    private var waiter: CheckedContinuation<T, any Error>?

    func finish(with outcome: Result<T, any Error>) {
        guard result == nil else { return }
        result = outcome
        waiter?.resume(with: outcome)
        waiter = nil
    }

    func outcome() async throws -> T {
        if let result { return try result.get() }
        return try await withCheckedThrowingContinuation { waiter = $0 }
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do {
            self = .success(try await body())
        } catch {
            self = .failure(error)
        }
    }
}

extension Duration {
    /// The duration in seconds (a `TimeInterval`, for dates and Foundation's timers).
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
