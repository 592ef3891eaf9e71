import ArgumentParser
import Foundation
import SlipwayClient
import SlipwayConfig
import SlipwayCore
import SlipwayGit
import SlipwayWebhooks

/// `slipway send-test-hook APP`: sign a push exactly as the app's forge would and send it,
/// to check URL, secret and branch before the first real push.
struct SendTestHook: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Send a signed test push for an app, as its forge would.")

    @OptionGroup var client: ClientOptions
    @Argument(help: "The app's name in the server configuration.") var app: String
    @Option(help: "The commit to announce; by default the branch head on the remote.") var commit: String?
    @Option(help: "Which of the app's webhook secrets to sign with (0 = first).") var secretIndex: Int = 0
    @Option(help: "The head commit's message in the payload.") var message: String = "Slipway test push"

    func run() async throws {
        let serverConfig: ServerConfig
        do {
            serverConfig = try ServerConfig.load(path: client.config)
        } catch {
            throw CommandFailure("send-test-hook reads the app and its secret from the server configuration: \(error)")
        }
        guard let app = serverConfig.app(named: app) else {
            throw CommandFailure("no app named '\(app)' in \(client.config)")
        }
        guard app.webhookSecrets.indices.contains(secretIndex) else {
            throw ValidationError("--secret-index \(secretIndex) is out of range: app '\(app.name)' has \(app.webhookSecrets.count) webhook secret(s)")
        }
        let commit: String
        if let given = self.commit {
            commit = given
        } else {
            do {
                // Reads the remote's branch list only (like `git ls-remote`); nothing is cloned.
                commit = try await MirrorCache(root: NSTemporaryDirectory()).remoteHead(of: app.branch, in: app.repoURL, credentials: app.repositoryAuth)
            } catch {
                throw CommandFailure("cannot read the head of \(app.branch) from \(app.repoURL) (\(error)); give --commit")
            }
        }
        guard commit.count == 40, commit.allSatisfy(\.isHexDigit) else {
            throw ValidationError("'\(commit)' is not a full 40-character commit id")
        }
        let body = TestPush.body(forge: app.forge, repository: Self.repositoryName(app.repoURL), cloneURL: app.repoURL,
                                 branch: app.branch, before: PushEvent.zeroCommit.replacingOccurrences(of: "0", with: "1"),
                                 commit: commit, message: message)
        let delivery = UUID().uuidString.lowercased()
        let headers = app.forge.adapter.signedHeaders(body: body, event: "push", deliveryID: delivery,
                                                      secret: app.webhookSecrets[secretIndex], now: Date())
        let api = try client.makeClient()
        let (status, answer) = try await api.send(.POST, "/hooks/\(app.name)", headers: headers.map { ($0.name, $0.value) },
                                                  body: body, authorized: false)
        try await api.shutdown()
        print("POST /hooks/\(app.name) -> \(status)")
        print(String(decoding: answer, as: UTF8.self), terminator: "")
        guard (200..<300).contains(status) else { throw ExitCode.failure }
    }

    /// `owner/name` from a clone URL, as forges name repositories in payloads.
    static func repositoryName(_ url: String) -> String {
        var path = url
        if let scheme = path.range(of: "://") { path = String(path[scheme.upperBound...]) }
        if let colon = path.firstIndex(of: ":"), !path[..<colon].contains("/") { path = String(path[path.index(after: colon)...]) }
        let parts = path.split(separator: "/")
        let tail = parts.suffix(2).joined(separator: "/")
        return tail.hasSuffix(".git") ? String(tail.dropLast(4)) : tail
    }
}
