import ArgumentParser
import SlipwayMetrics

/// `slipway`: the server and the command-line client of its API.
@main
struct Slipway: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slipway",
        abstract: "A webhook-driven, push-model deployer for Kubernetes.",
        version: "\(BuildInfo.version) (\(BuildInfo.commit))",
        subcommands: [Serve.self, Jobs.self, Logs.self, Cancel.self, Apps.self, Diff.self, Sync.self, Rollout.self, SendTestHook.self]
    )
}

/// A command that failed for a reason other than how it was called: ArgumentParser prints it
/// as one line (`Error: …`) with exit status 1 and no usage text, which it keeps for usage
/// mistakes (`ValidationError`, exit status 64).
struct CommandFailure: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
