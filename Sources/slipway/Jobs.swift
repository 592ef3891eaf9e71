import ArgumentParser
import Foundation
import SlipwayClient
import SlipwayCore

/// `slipway jobs`: the newest jobs, one line each.
struct Jobs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List jobs, newest first.")

    @OptionGroup var client: ClientOptions
    @Option(help: "Only jobs of this app.") var app: String?
    @Option(help: "Only jobs with this status.") var status: String?
    @Option(help: "How many jobs to show (1-500).") var limit: Int = 20
    @Flag(help: "Print the API's JSON.") var json = false

    func validate() throws {
        if let status, JobStatus(rawValue: status) == nil {
            throw ValidationError("--status must be one of: \(JobStatus.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() async throws {
        let status = status.flatMap(JobStatus.init(rawValue:))
        let api = try client.makeClient()
        let jobs = try await api.jobs(app: app, status: status, limit: limit)
        try await api.shutdown()
        if json {
            print(String(decoding: try SlipwayJSON.prettyData(jobs), as: UTF8.self), terminator: "")
            return
        }
        print(JobTable.header)
        for job in jobs { print(JobTable.row(job)) }
    }
}

/// Fixed-width lines for `slipway jobs`.
enum JobTable {
    static let header = pad("ID", 7) + pad("APP", 20) + pad("STATUS", 12) + pad("TRIGGER", 10) + pad("COMMIT", 10) + "CREATED"

    static func row(_ job: Job) -> String {
        let created = ISO8601DateFormatter().string(from: job.createdAt)
        return pad(String(job.id), 7) + pad(job.app, 20) + pad(job.status.rawValue, 12) + pad(job.trigger.rawValue, 10)
            + pad(String(job.commit.prefix(8)), 10) + created
    }

    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? String(text.prefix(width - 1)) + " " : text + String(repeating: " ", count: width - text.count)
    }
}
