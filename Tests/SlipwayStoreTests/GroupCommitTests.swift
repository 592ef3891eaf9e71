@testable import SlipwayStore
import Testing

/// Deliveries that arrive while a transaction commits share the next one; each caller gets its
/// own answer; a lone delivery does not wait for company.
@Suite struct GroupCommitTests {
    actor Batches {
        var sizes: [Int] = []
        func record(_ size: Int) { sizes.append(size) }
    }

    @Test func concurrentEntriesShareTransactionsAndGetTheirOwnAnswers() async throws {
        let batches = Batches()
        let group = GroupCommit<Int, Int>(limit: 16, together: { entries async throws(StoreError) in
            await batches.record(entries.count)
            try? await Task.sleep(for: .milliseconds(5))
            // A batch with an odd entry fails as a whole...
            if let odd = entries.first(where: { $0 % 2 == 1 }) { throw .unavailable("odd \(odd)") }
            return entries.map { $0 * 2 }
        }, oneByOne: { entries in
            // ...and is written again one by one: odd entries fail alone, even ones come back doubled.
            entries.map { $0 % 2 == 0 ? .success($0 * 2) : .failure(.unavailable("odd \($0)")) }
        })
        // A lone entry is written at once, in a batch of its own.
        #expect(try await group.submit(2).get() == 4)
        #expect(await batches.sizes == [1])

        let results = await withTaskGroup(of: (Int, Result<Int, StoreError>).self) { tasks in
            for n in 0..<100 { tasks.addTask { (n, await group.submit(n)) } }
            var all: [Int: Result<Int, StoreError>] = [:]
            for await (n, result) in tasks { all[n] = result }
            return all
        }
        for n in 0..<100 {
            switch results[n] {
            case .success(let value)?: #expect(n % 2 == 0 && value == n * 2)
            case .failure(let error)?: #expect(n % 2 == 1 && "\(error)".contains("odd \(n)"))
            case nil: Issue.record("no answer for \(n)")
            }
        }
        let sizes = await batches.sizes.dropFirst()
        #expect(sizes.reduce(0, +) == 100)
        #expect(sizes.allSatisfy { $0 <= 16 }, "no batch over the limit: \(sizes)")
        #expect(sizes.count < 100, "entries shared transactions: \(sizes)")
    }
}
