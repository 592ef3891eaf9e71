import ArgumentParser
import Foundation
import SlipwayClient

/// `slipway diff APP`: how the cluster drifted from the deployed revision;
/// `slipway diff APP --commit SHA`: what deploying that commit would change.
struct Diff: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show drift from the deployed revision, or with --commit what deploying a commit would change (server dry-run against live).")

    @OptionGroup var client: ClientOptions
    @Argument(help: "The app's name.") var app: String
    @Option(help: "A commit to preview instead of showing drift.") var commit: String?

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
