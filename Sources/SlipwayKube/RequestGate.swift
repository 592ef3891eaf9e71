/// Bounds the requests in flight to one cluster (`clusters[].max_in_flight`): the API server
/// gets many requests at once without an unbounded burst, and callers wait their turn.
actor RequestGate {
    private let limit: Int
    private var inFlight = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// Runs `body` once fewer than `limit` others are running.
    nonisolated func run<T: Sendable, E: Error>(_ body: () async throws(E) -> T) async throws(E) -> T {
        await enter()
        do {
            let result = try await body()
            await leave()
            return result
        } catch {
            await leave()
            throw error
        }
    }

    private func enter() async {
        if inFlight < limit {
            inFlight += 1
            return
        }
        // The slot is handed over by `leave`, so `inFlight` stays counted for us.
        await withCheckedContinuation { waiting.append($0) }
    }

    private func leave() {
        if waiting.isEmpty {
            inFlight -= 1
        } else {
            waiting.removeFirst().resume()
        }
    }
}
