/// Bytes that webhook bodies being read may hold together (`limits.body_memory`).
///
/// Sixteen 4 MiB deliveries at once otherwise hold 64 MiB plus their buffers; with a budget
/// the later ones wait for the earlier ones, first come first served, and while a request
/// waits its connection is not read (TCP pushes back on the sender).
actor BodyBudget {
    let capacity: Int
    private var inUse = 0
    private var waiting: [(id: Int, bytes: Int, continuation: CheckedContinuation<Bool, Never>)] = []
    private var nextID = 0

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// Takes `bytes` (at most the capacity) from the budget, waiting up to `timeout` for them.
    /// Returns false when the wait timed out; the caller then takes nothing and must not `give`.
    func take(_ bytes: Int, waitingAtMost timeout: Duration) async -> Bool {
        let bytes = min(bytes, capacity)
        if waiting.isEmpty && inUse + bytes <= capacity {
            inUse += bytes
            return true
        }
        let id = nextID
        nextID += 1
        let timer = Task { [weak self] in
            try await Task.sleep(for: timeout)
            await self?.giveUp(id)
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { continuation in
            waiting.append((id, bytes, continuation))
        }
    }

    /// Returns bytes taken with `take`, letting waiting requests in, in order.
    func give(_ bytes: Int) {
        inUse -= min(bytes, capacity)
        admit()
    }

    private func giveUp(_ id: Int) {
        guard let index = waiting.firstIndex(where: { $0.id == id }) else { return }
        waiting.remove(at: index).continuation.resume(returning: false)
        admit()
    }

    private func admit() {
        // First come, first served: a large body at the head is not overtaken by small ones.
        while let first = waiting.first, inUse + first.bytes <= capacity {
            waiting.removeFirst()
            inUse += first.bytes
            first.continuation.resume(returning: true)
        }
    }
}
