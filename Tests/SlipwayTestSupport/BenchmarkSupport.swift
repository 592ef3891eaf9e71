public import Foundation
public import SlipwayClient
public import SlipwayCore
import SlipwayWebhooks

/// What the benchmarks share: a signed push through a client, a report line written at once.
public enum Bench {
    /// Sends a push of `commit` to `app`'s hook, signed as GitHub would with `secret`; the job
    /// it was queued as.
    public static func push(_ client: APIClient, app: String, commit: String, secret: String) async throws -> JobID {
        let body = TestPush.body(forge: .github, repository: "acme/\(app)", cloneURL: "file:///dev/null", branch: "main",
                                 before: String(repeating: "0", count: 40), commit: commit, message: "bench")
        let (status, answer) = try await client.send(.POST, "/hooks/\(app)", headers: GitHubSigning.headers(body: body, secret: secret), body: body,
                                                     authorized: false)
        struct Accepted: Decodable { var job: Int64 }
        guard (200..<300).contains(status), let accepted = try? JSONDecoder().decode(Accepted.self, from: answer) else {
            throw Failure("push to \(app) answered \(status): \(String(decoding: answer, as: UTF8.self))")
        }
        return accepted.job
    }

    /// A line to standard output at once (print's buffer would hold it until the end).
    public static func report(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }
}
