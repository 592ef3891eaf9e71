import Foundation

/// Runs blocking work (a child process waited for, a pipe read to its end) on a thread of its
/// own. Swift's cooperative pool has one thread per core, two on CI: a test that blocks them
/// can stall servers running in this very process, and with them every other test.
func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try work() }) }
    }
}
