import ArgumentParser
import Foundation
import SlipwayClient

/// `slipway apps`: every app's sync and health status.
struct Apps: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List apps with their sync and health status.")

    @OptionGroup var client: ClientOptions
    @Flag(help: "Print the API's JSON.") var json = false

    private struct Status: Decodable {
        var app: String
        var sync: String
        var health: String?
        var deployed_commit: String?
        var drifted: [Drift]
        var message: String?
        struct Drift: Decodable { var object: String }
    }
    private struct List: Decodable { var apps: [Status] }

    func run() async throws {
        let api = try client.makeClient()
        let (status, body) = try await api.send(.GET, "/api/v1/apps")
        try await api.shutdown()
        guard (200..<300).contains(status) else { throw ClientError.server(status: status, message: APIClient.errorMessage(body)) }
        if json {
            FileHandle.standardOutput.write(body)
            return
        }
        let apps = try JSONDecoder().decode(List.self, from: body).apps
        print(JobTable.pad("APP", 20) + JobTable.pad("SYNC", 11) + JobTable.pad("HEALTH", 13) + JobTable.pad("DEPLOYED", 14) + "NOTE")
        for app in apps {
            print(JobTable.pad(app.app, 20) + JobTable.pad(app.sync, 11) + JobTable.pad(app.health ?? "-", 13)
                  + JobTable.pad(app.deployed_commit.map { String($0.prefix(12)) } ?? "-", 14) + (app.message ?? ""))
        }
    }
}

/// `slipway sync APP [--commit SHA]`: deploy the deployed commit (or the given one) again.
struct Sync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Deploy an app again: its deployed commit, or --commit (admin token).")

    @OptionGroup var client: ClientOptions
    @Argument(help: "The app's name.") var app: String
    @Option(help: "The commit to deploy; by default the deployed one.") var commit: String?

    func run() async throws {
        let api = try client.makeClient()
        let path = "/api/v1/apps/\(app)/sync" + (commit.map { "?commit=\($0)" } ?? "")
        let (status, body) = try await api.send(.POST, path)
        try await api.shutdown()
        guard (200..<300).contains(status) else { throw ClientError.server(status: status, message: APIClient.errorMessage(body)) }
        struct Queued: Decodable { var job: Int64; var commit: String }
        let queued = try JSONDecoder().decode(Queued.self, from: body)
        print("job \(queued.job) queued for \(app) at \(queued.commit.prefix(12)); follow it with: slipway logs \(queued.job) --follow")
    }
}
