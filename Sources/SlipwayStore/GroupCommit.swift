/// Deliveries that arrive together are written in one transaction: one commit, one fsync, for
/// the lot, each caller answered when its batch is durable. Nothing waits for company: a lone
/// delivery is written at once, and the ones that arrive while a batch commits make the next
/// batch. A batch holds at most `limit` entries so no answer waits behind a very long one.
actor GroupCommit<Entry: Sendable, Output: Sendable> {
    typealias Commit = @Sendable ([Entry]) async -> [Result<Output, StoreError>]

    private var waiting: [(entry: Entry, answer: CheckedContinuation<Result<Output, StoreError>, Never>)] = []
    private var committing = false
    private let limit: Int
    private let commit: Commit

    init(limit: Int = 256, commit: @escaping Commit) {
        self.limit = limit
        self.commit = commit
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
}
