import ArgumentParser
import SlipwayClient

/// `slipway cancel JOB`: stop a queued or running job (admin token).
struct Cancel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Cancel a queued or running job.")

    @OptionGroup var client: ClientOptions
    @Argument(help: "The job id.") var job: Int64

    func run() async throws {
        let api = try client.makeClient()
        let updated = try await api.cancel(job)
        try await api.shutdown()
        print("job \(updated.id): \(updated.status.rawValue)")
    }
}
