/// Deliveries that arrive together are written in one transaction: one commit, one fsync, for
/// the lot, each caller answered when its batch is durable. Nothing waits for company: a lone
/// delivery is written at once, and the ones that arrive while a batch commits make the next
/// batch. A batch holds at most `limit` entries so no answer waits behind a very long one.
///
/// Should a batch of several fail, it is written again one entry at a time (`oneByOne`: a
/// savepoint each), so that an entry fails alone. A lone entry has failed alone already, and a
/// second try would wait as long again (twice the store's timeout with the database away).
actor GroupCommit<Entry: Sendable, Output: Sendable> {
    /// Writes a batch in one transaction; fails when any entry does.
    typealias Together = @Sendable ([Entry]) async throws(StoreError) -> [Output]
    /// Writes a batch so that each entry succeeds or fails on its own.
    typealias OneByOne = @Sendable ([Entry]) async -> [Result<Output, StoreError>]

    private var waiting: [(entry: Entry, answer: CheckedContinuation<Result<Output, StoreError>, Never>)] = []
    private var committing = false
    private let limit: Int
    private let together: Together
    private let oneByOne: OneByOne

    init(limit: Int = 256, together: @escaping Together, oneByOne: @escaping OneByOne) {
        self.limit = limit
        self.together = together
        self.oneByOne = oneByOne
    }

    /// Writes `entry` with whatever else is waiting; returns once that transaction is durable.
    func submit(_ entry: Entry) async -> Result<Output, StoreError> {
        await withCheckedContinuation { answer in
            waiting.append((entry, answer))
            if !committing {
                committing = true
                Task { await self.drain() }
            }
        }
    }

    private func drain() async {
        while !waiting.isEmpty {
            let batch = Array(waiting.prefix(limit))
            waiting.removeFirst(batch.count)
            // The actor is free while the transaction runs: new deliveries queue for the next one.
            let results = await commit(batch.map(\.entry))
            for (index, waiter) in batch.enumerated() {
                waiter.answer.resume(returning: index < results.count ? results[index] : .failure(.unavailable("the batch lost an answer")))
            }
        }
        committing = false
    }

    private nonisolated func commit(_ batch: [Entry]) async -> [Result<Output, StoreError>] {
        do {
            return try await together(batch).map { .success($0) }
        } catch {
            return batch.count == 1 ? [.failure(error)] : await oneByOne(batch)
        }
    }
}
