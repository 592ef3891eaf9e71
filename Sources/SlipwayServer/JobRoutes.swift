import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import SlipwayCore
import SlipwayStore

/// `/api/v1/jobs…`: list, show, log (optionally followed), cancel.
struct JobRoutes: Sendable {
    let store: any JobStore
    let logger: Logger
    /// How often a followed log looks for new chunks.
    let followInterval: Duration
    /// Tells the runner a job was cancelled.
    let jobsChanged: @Sendable () -> Void

    func register(on api: RouterGroup<SlipwayRequestContext>) {
        api.get("jobs") { request, context in try await list(request, context: context) }
        api.get("jobs/:id") { request, context in try await show(request, context: context) }
        api.get("jobs/:id/log") { request, context in try await log(request, context: context) }
        api.post("jobs/:id/cancel") { request, context in try await cancel(request, context: context) }
    }

    private struct JobList: Encodable {
        var jobs: [Job]
        /// Pass as `before` to get the next page; absent on the last page.
        var nextBefore: Int64?

        enum CodingKeys: String, CodingKey {
            case jobs
            case nextBefore = "next_before"
        }
    }

    func list(_ request: Request, context: SlipwayRequestContext) async throws -> Response {
        try context.require(.read)
        let parameters = request.uri.queryParameters
        var query = JobQuery()
        query.app = parameters.get("app")
        if let status = parameters.get("status") {
            guard let value = JobStatus(rawValue: status) else {
                throw APIError(.badRequest, "status '\(status)' is not one of: \(JobStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            query.status = value
        }
        if let before = parameters.get("before") {
            guard let value = Int64(before) else { throw APIError(.badRequest, "before must be a job id") }
            query.before = value
        }
        if let limit = parameters.get("limit") {
            guard let value = Int(limit), (1...500).contains(value) else { throw APIError(.badRequest, "limit must be a number from 1 to 500") }
            query.limit = value
        }
        let jobs = try await storeCall { try await store.jobs(query) }
        let next = jobs.count == query.limit ? jobs.last?.id : nil
        return JSONBody.response(.ok, JobList(jobs: jobs, nextBefore: next))
    }

    /// A job with its steps: the job's fields, plus `steps`.
    private struct JobDetail: Encodable {
        var job: Job
        var steps: [StepRecord]

        enum CodingKeys: String, CodingKey { case steps }

        func encode(to encoder: any Encoder) throws {
            try job.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(steps, forKey: .steps)
        }
    }

    func show(_ request: Request, context: SlipwayRequestContext) async throws -> Response {
        try context.require(.read)
        let job = try await job(request, context)
        let steps = try await storeCall { try await store.steps(job.id) }
        return JSONBody.response(.ok, JobDetail(job: job, steps: steps))
    }

    func cancel(_ request: Request, context: SlipwayRequestContext) async throws -> Response {
        try context.require(.admin)
        let current = try await job(request, context)
        guard !current.status.isFinal else {
            throw APIError(.conflict, "job \(current.id) already ended as \(current.status.rawValue)")
        }
        let who = context.token?.name ?? "unknown"
        guard let updated = try await storeCall({ try await store.requestCancel(id: current.id, by: who) }) else {
            throw APIError(.notFound, "no job with id \(current.id)")
        }
        logger.info("job cancel requested", metadata: ["job-id": "\(updated.id)", "by": "\(who)"])
        jobsChanged()
        return JSONBody.response(.accepted, updated)
    }

    func log(_ request: Request, context: SlipwayRequestContext) async throws -> Response {
        try context.require(.read)
        let job = try await job(request, context)
        let follow = ["1", "true", "yes"].contains(request.uri.queryParameters.get("follow") ?? "")
        let headers: HTTPFields = [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-store"]
        guard follow else {
            var text = ""
            var seq: Int64 = 0
            while true {
                let chunks = try await storeCall { try await store.logChunks(jobID: job.id, after: seq) }
                guard let last = chunks.last else { break }
                text += chunks.map { $0.text }.joined()
                seq = last.seq
            }
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        let interval = followInterval
        let logStore = store
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            var seq: Int64 = 0
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                let chunks = try await logStore.logChunks(jobID: job.id, after: seq)
                if let last = chunks.last {
                    try await writer.write(ByteBuffer(string: chunks.map(\.text).joined()))
                    seq = last.seq
                    continue
                }
                // The job may have written its last lines between the two reads: read once more after it ended.
                if try await logStore.job(id: job.id)?.status.isFinal ?? true {
                    let rest = try await logStore.logChunks(jobID: job.id, after: seq, limit: Int.max)
                    if !rest.isEmpty { try await writer.write(ByteBuffer(string: rest.map(\.text).joined())) }
                    break
                }
                try await Task.sleep(for: interval)
            }
            try await writer.finish(nil)
        })
    }

    private func job(_ request: Request, _ context: SlipwayRequestContext) async throws -> Job {
        let raw = context.parameters.get("id") ?? ""
        guard let id = Int64(raw) else { throw APIError(.badRequest, "job id '\(raw)' is not a number") }
        guard let job = try await storeCall({ try await store.job(id: id) }) else { throw APIError(.notFound, "no job with id \(id)") }
        return job
    }
}

/// Runs a store call, answering 503 (with Retry-After) when the store cannot.
func storeCall<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as StoreError {
        throw APIError(.serviceUnavailable, "the job store is unavailable: \(error)", headers: [.retryAfter: "5"])
    }
}
