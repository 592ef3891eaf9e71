import ArgumentParser
import Foundation
import SlipwayClient
import SlipwayCore

/// `slipway logs JOB [--follow]`: print a job's log, optionally until the job ends.
struct Logs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a job's log.")

    @OptionGroup var client: ClientOptions
    @Argument(help: "The job id.") var job: Int64
    @Flag(name: .shortAndLong, help: "Keep printing new lines until the job ends.") var follow = false

    func run() async throws {
        let api = try client.makeClient()
        let path = "/api/v1/jobs/\(job)/log" + (follow ? "?follow=1" : "")
        try await api.stream(path) { data in
            FileHandle.standardOutput.write(data)
        }
        try await api.shutdown()
    }
}
