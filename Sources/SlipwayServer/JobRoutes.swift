import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import SlipwayCore
import SlipwayForge
import SlipwayStore

/// `/api/v1/jobs…`: list, show, log (optionally followed), cancel.
struct JobRoutes: Sendable {
    let store: any JobStore
    let logger: Logger
    /// How often a followed log looks for new chunks.
    let followInterval: Duration
    /// Tells the runner a job was cancelled.
    let jobsChanged: @Sendable () -> Void
    /// Job and app changes for `/api/v1/events`.
    let feed: StatusFeed
    let outbox: StatusOutbox

    func register(on api: RouterGroup<SlipwayRequestContext>) {
        api.get("jobs") { request, context in try await list(request, context: context) }
        api.get("jobs/:id") { request, context in try await show(request, context: context) }
        api.get("jobs/:id/log") { request, context in try await log(request, context: context) }
        api.post("jobs/:id/cancel") { request, context in try await cancel(request, context: context) }
        api.get("events") { _, context in try await events(context: context) }
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
        let job = try await job(context)
        let steps = try await storeCall { try await store.steps(job.id) }
        return JSONBody.response(.ok, JobDetail(job: job, steps: steps))
    }

    func cancel(_ request: Request, context: SlipwayRequestContext) async throws -> Response {
        try context.require(.admin)
        let updated = try await requestCancel(try await job(context), by: context.token?.name ?? "unknown")
        return JSONBody.response(.accepted, updated)
    }

    /// The job's log: all of it as text; followed until the job ends with `?follow=1`; or as
    /// Server-Sent Events (`Accept: text/event-stream`), one `log` event per stored chunk with
    /// its sequence number as id (resumed after `Last-Event-ID` or `?after=`), then an `end`
    /// event with the job's final status.
    func log(_ request: Request, context: SlipwayRequestContext) async throws -> Response {
        try context.require(.read)
        let job = try await job(context)
        let follow: Bool
        switch request.uri.queryParameters.get("follow").map({ String($0) }) {
        case nil, "0", "false", "no": follow = false
        case "1", "true", "yes": follow = true
        case let other?: throw APIError(.badRequest, "follow '\(other)' is not one of 1, true, yes, 0, false, no")
        }
        let logStore = store
        let interval = followInterval
        var resumeAfter: Int64 = 0
        if let raw = ServerSentEvent.lastEventID(of: request) {
            guard let value = Int64(raw), value >= 0 else { throw APIError(.badRequest, "Last-Event-ID (or after) must be a log sequence number") }
            resumeAfter = value
        }
        let after = resumeAfter
        if ServerSentEvent.isWanted(by: request) {
            return Response(status: .ok, headers: ServerSentEvent.headers, body: ResponseBody { writer in
                try await writer.write(ByteBuffer(string: ServerSentEvent.retry))
                var quiet = ContinuousClock.now
                let status = try await Self.follow(store: logStore, jobID: job.id, after: after, interval: interval) { chunks in
                    if let chunks {
                        for chunk in chunks {
                            try await writer.write(ServerSentEvent(id: "\(chunk.seq)", event: "log", data: String(chunk.text.dropLast(chunk.text.hasSuffix("\n") ? 1 : 0))))
                        }
                        quiet = .now
                    } else if ContinuousClock.now - quiet > .seconds(15) {
                        try await writer.write(ByteBuffer(string: ServerSentEvent.keepAlive))
                        quiet = .now
                    }
                }
                if let status {
                    try await writer.write(ServerSentEvent(event: "end", data: #"{"status":"\#(status.rawValue)"}"#))
                }
                try await writer.finish(nil)
            })
        }
        let headers: HTTPFields = [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-store"]
        guard follow else {
            let text = try await storedLog(of: job.id, after: after).text
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            _ = try await Self.follow(store: logStore, jobID: job.id, after: after, interval: interval) { chunks in
                if let chunks { try await writer.write(ByteBuffer(string: chunks.map(\.text).joined())) }
            }
            try await writer.finish(nil)
        })
    }

    /// The log as stored now, after chunk `seq`, and the last chunk's number.
    func storedLog(of jobID: JobID, after seq: Int64 = 0) async throws -> (text: String, lastSeq: Int64) {
        var text = ""
        var seq = seq
        while true {
            let chunks = try await storeCall { try await store.logChunks(jobID: jobID, after: seq) }
            guard let last = chunks.last else { break }
            text += chunks.map(\.text).joined()
            seq = last.seq
        }
        return (text, seq)
    }

    /// Hands `write` each run of new chunks after `seq` (and nil when there was none this
    /// time) until the job has ended and all of its log is written; returns the job's final
    /// status, or nil when the server is shutting down first.
    static func follow(store: any JobStore, jobID: JobID, after seq: Int64, interval: Duration,
                       write: ([LogChunk]?) async throws -> Void) async throws -> JobStatus? {
        var seq = seq
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let chunks = try await store.logChunks(jobID: jobID, after: seq)
            if let last = chunks.last {
                try await write(chunks)
                seq = last.seq
                continue
            }
            // The job may have written its last lines between the two reads: read once more after it ended.
            let status = try await store.job(id: jobID)?.status ?? .cancelled
            if status.isFinal {
                let rest = try await store.logChunks(jobID: jobID, after: seq, limit: Int.max)
                if !rest.isEmpty { try await write(rest) }
                return status
            }
            try await write(nil)
            try await Task.sleep(for: interval)
        }
        return nil
    }

    /// Asks the runner to stop a job that has not ended.
    func requestCancel(_ current: Job, by who: String) async throws -> Job {
        guard !current.status.isFinal else {
            throw APIError(.conflict, "job \(current.id) already ended as \(current.status.rawValue)")
        }
        guard let updated = try await storeCall({ try await store.requestCancel(id: current.id, by: who) }) else {
            throw APIError(.notFound, "no job with id \(current.id)")
        }
        logger.info("job cancel requested", metadata: ["job-id": "\(updated.id)", "by": "\(who)"])
        if updated.status == .cancelled { await outbox.note(updated, .cancelled, reason: "cancelled by \(who)") }
        jobsChanged()
        return updated
    }

    /// Job and app status changes as Server-Sent Events (`job` and `app` events carrying the
    /// same JSON as `/jobs/{id}` and `/apps/{name}`), starting with the current state.
    func events(context: SlipwayRequestContext) async throws -> Response {
        try context.require(.read)
        let stream = await feed.subscribe()
        return Response(status: .ok, headers: ServerSentEvent.headers, body: ResponseBody { writer in
            try await writer.write(ByteBuffer(string: ServerSentEvent.retry))
            try await withGracefulShutdownHandler {
                var number = 0
                for await change in stream {
                    number += 1
                    switch change {
                    case .job(let job):
                        try await writer.write(ServerSentEvent(id: "\(number)", event: "job", data: String(decoding: try SlipwayJSON.data(job), as: UTF8.self)))
                    case .app(let status):
                        try await writer.write(ServerSentEvent(id: "\(number)", event: "app", data: String(decoding: try SlipwayJSON.data(status), as: UTF8.self)))
                    case .keepAlive:
                        try await writer.write(ByteBuffer(string: ServerSentEvent.keepAlive))
                    }
                }
            } onGracefulShutdown: {
                Task { await feed.finishAll() }
            }
            try await writer.finish(nil)
        })
    }

    /// The job the route's `{id}` names (400 when it is no number, 404 when there is none).
    func job(_ context: SlipwayRequestContext) async throws -> Job {
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
