import ArgumentParser
import Foundation
import SlipwayClient

/// `slipway diff APP [--commit SHA]`: what deploying a commit would change in the cluster.
struct Diff: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show what deploying a commit would change in the app's cluster (server dry-run against live).")

    @OptionGroup var client: ClientOptions
    @Argument(help: "The app's name.") var app: String
    @Option(help: "The commit to compare; by default the branch head.") var commit: String?

    func run() async throws {
        let api = try client.makeClient()
        var path = "/api/v1/apps/\(app)/diff?format=text"
        if let commit { path += "&commit=\(commit)" }
        let (status, body) = try await api.send(.GET, path)
        try await api.shutdown()
        guard (200..<300).contains(status) else {
            throw ClientError.server(status: status, message: APIClient.errorMessage(body))
        }
        FileHandle.standardOutput.write(body)
    }
}
