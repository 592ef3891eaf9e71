import Foundation
import SlipwayCore
import SlipwayWebhooks

/// A signed GitHub push to the benchmark's app, as both the Swift client and the wrk script send it.
enum BenchPush {
    static func signed(_ n: Int, commitNumber: Int, deliveryID: String, secret: String) -> (headers: [(name: String, value: String)], body: Data) {
        let commit = String(format: "%040x", commitNumber)  // 0 would mean "branch deleted"
        let body = TestPush.body(forge: .github, repository: "acme/bench", cloneURL: "https://git.example.com/acme/bench.git",
                                 branch: "main", before: String(repeating: "0", count: 40), commit: commit, message: "bench \(n)")
        let headers = GitHubAdapter().signedHeaders(body: body, event: "push", deliveryID: deliveryID, secret: SecretValue(secret), now: Date())
        return (headers, body)
    }
}
