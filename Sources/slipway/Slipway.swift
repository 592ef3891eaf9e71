import ArgumentParser
import SlipwayMetrics

/// `slipway`: the server and the command-line client of its API.
@main
struct Slipway: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slipway",
        abstract: "A webhook-driven, push-model deployer for Kubernetes.",
        version: "\(BuildInfo.version) (\(BuildInfo.commit))",
        subcommands: [Serve.self, Jobs.self, Logs.self, Cancel.self, Apps.self, Diff.self, Sync.self, SendTestHook.self]
    )
}
