import ArgumentParser
import Foundation
import SlipwayClient
import SlipwayCore

/// `slipway rollout status|promote|abort APP`: where an app's progressive rollout stands,
/// and a person's decision on it.
struct Rollout: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show, promote or abort an app's progressive rollout.",
        subcommands: [Status.self, Promote.self, Abort.self], defaultSubcommand: Status.self)

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show where the app's rollout stands: its steps, its tracks and the analyses' measurements.")

        @OptionGroup var client: ClientOptions
        @Argument(help: "The app's name.") var app: String
        @Flag(help: "Print the API's JSON.") var json = false

        func run() async throws {
            let body = try await Rollout.call(app: app, action: nil, client: client)
            if json {
                FileHandle.standardOutput.write(body)
                return
            }
            print(try Rollout.describe(body))
        }
    }

    struct Promote: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "End the rollout's current pause now (admin token); at the last step, the rollout is promoted.")

        @OptionGroup var client: ClientOptions
        @Argument(help: "The app's name.") var app: String

        func run() async throws {
            let body = try await Rollout.call(app: app, action: .promote, client: client)
            let state = try Rollout.decode(body)
            print("promotion of \(app)'s rollout asked (step \(min(state.step + 1, state.steps.count))/\(state.steps.count), \(state.phase.rawValue)); the job's log says when it is taken")
        }
    }

    struct Abort: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Abort the rollout (admin token): the canary is deleted, the stable pods stay, the commit is marked bad.")

        @OptionGroup var client: ClientOptions
        @Argument(help: "The app's name.") var app: String

        func run() async throws {
            let body = try await Rollout.call(app: app, action: .abort, client: client)
            let state = try Rollout.decode(body)
            print("abort of \(app)'s rollout asked (job \(state.jobID), step \(min(state.step + 1, state.steps.count))/\(state.steps.count)); follow it with: slipway logs \(state.jobID) --follow")
        }
    }

    /// GET of the rollout, or (with an action) the POST that asks for it.
    static func call(app: String, action: RolloutAction?, client: ClientOptions) async throws -> Data {
        let api = try client.makeClient()
        let path = "/api/v1/apps/\(app)/rollout" + (action.map { "/\($0.rawValue)" } ?? "")
        let (status, body) = try await (action == nil ? api.send(.GET, path) : api.send(.POST, path))
        try await api.shutdown()
        guard (200..<300).contains(status) else { throw ClientError.server(status: status, message: APIClient.errorMessage(body)) }
        return body
    }

    static func decode(_ body: Data) throws -> RolloutState {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(RolloutState.self, from: body)
    }

    /// A few lines: the phase, the steps with the current one marked, the tracks, the measurements.
    static func describe(_ body: Data) throws -> String {
        let state = try decode(body)
        var lines = ["rollout of \(state.target) at \(state.commit.prefix(12)) (job \(state.jobID)): \(state.phase.rawValue)"
                     + (state.message.map { " — \($0)" } ?? "")]
        for (index, step) in state.steps.enumerated() {
            let mark = index < state.step || state.phase == .promoted ? "✓" : index == state.step && state.isActive ? "▶" : " "
            lines.append("  \(mark) \(index + 1). \(step)")
        }
        lines.append("canary \(state.weight)%: \(state.canaryReplicas) canary pod(s), \(state.stableReplicas) stable pod(s) of \(state.replicas)")
        for measurement in state.measurements {
            lines.append("  \(measurement.time.formatted(.iso8601)) \(measurement.analysis): \(measurement.value.map(DurationText.number) ?? "no value") "
                         + "\(measurement.result.rawValue)" + (measurement.note.map { " (\($0))" } ?? ""))
        }
        return lines.joined(separator: "\n")
    }
}
