import Foundation
import Hummingbird
import Logging
import NIOCore
import SlipwayConfig
import SlipwayCore
import SlipwayForge
import SlipwayMetrics
import SlipwayStore
import SlipwayWebhooks

/// `POST /hooks/{app}`: verify, decide, commit, and only then answer.
struct WebhookRoutes: Sendable {
    let config: ServerConfig
    let store: any JobStore
    let now: @Sendable () -> Date
    let logger: Logger
    /// Tells the runner a job was queued.
    let jobsChanged: @Sendable () -> Void
    let metrics: SlipwayMetrics?
    let bodyBudget: BodyBudget
    /// Pushes to repositories several apps share, or to apps with path filters.
    let monorepo: MonorepoIntake
    let outbox: StatusOutbox
    /// Bodies smaller than this are read without asking the budget: many small ones together
    /// are little memory, and webhook bodies are mostly a few KiB.
    static let budgetedBodySize = 64 * 1024

    func register(on router: Router<SlipwayRequestContext>) {
        // Forges only POST; other methods get 405 with `Allow: POST` (MethodNotAllowed).
        router.post("/hooks/:app") { request, context in try await receive(request, context: context) }
    }

    /// The answer to a push: written straight from a JSON tree, as it is the one answer sent
    /// thousands of times a second (through `Encodable` it cost 5 % of the server's CPU).
    private static func accepted(_ status: String, job: Int64, base: String) -> JSONValue {
        .object(["status": .string(status), "job": .int(job), "status_url": .string("\(base)/api/v1/jobs/\(job)")])
    }

    private struct Answer: Encodable {
        var status: String
        var delivery: String
        var reason: String?
    }

    func receive(_ request: Request, context: SlipwayRequestContext) async throws -> Response {
        let name = context.parameters.get("app") ?? ""
        guard let app = config.app(named: name) else {
            throw APIError(.notFound, "no app named '\(name)' is configured")
        }
        // Refuse a declared oversize body before reading any of it.
        let announced = request.headers[.contentLength].flatMap(Int.init)
        if let announced, announced > config.maxBodyBytes {
            throw APIError(.contentTooLarge, "the body is larger than the limit of \(config.maxBodyBytes) bytes")
        }
        // A body of unknown length (chunked) may be as large as the limit.
        let budgeted = announced.map { $0 >= Self.budgetedBodySize ? $0 : 0 } ?? config.maxBodyBytes
        if budgeted > 0 {
            guard await bodyBudget.take(budgeted, waitingAtMost: config.storeBusyTimeout) else {
                metrics?.delivery(forge: app.forge.rawValue, result: "unavailable")
                throw APIError(.serviceUnavailable, "too many large deliveries are being read at once; try again later",
                               headers: [.retryAfter: "5"])
            }
        }
        let answer: Result<Response, any Error>
        do {
            answer = .success(try await read(request, announced: announced, context: context, app: app))
        } catch {
            answer = .failure(error)
        }
        if budgeted > 0 { await bodyBudget.give(budgeted) }
        return try answer.get()
    }

    /// Reads the body (its memory budgeted by the caller), decides and records.
    private func read(_ request: Request, announced: Int?, context: SlipwayRequestContext, app: AppConfig) async throws -> Response {
        // One allocation of the announced size (not a buffer that doubles its way up, leaving
        // each smaller copy to the allocator), and no second copy into Data.
        var buffer = ByteBuffer()
        if let announced, announced > 0 { buffer.reserveCapacity(announced) }
        do {
            try await request.body.collect(upTo: config.maxBodyBytes, into: &buffer)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, "the body is larger than the limit of \(config.maxBodyBytes) bytes")
        }
        var delivery = WebhookRequest(
            headers: request.headers.map { (name: $0.name.canonicalName, value: $0.value) },
            body: Data(buffer: buffer, byteTransferStrategy: .noCopy))
        delivery.wantsChangedPaths = monorepo.concerns(app)

        let decision: IntakeDecision
        do {
            decision = try WebhookIntake().decide(delivery, for: app, now: now())
        } catch {
            metrics?.delivery(forge: app.forge.rawValue, result: error == .unauthorized ? "unauthorized" : "bad-request")
            if error == .unauthorized {
                logger.warning("webhook refused: signature", metadata: ["app": "\(app.name)", "forge": "\(app.forge.rawValue)"])
            }
            throw Self.apiError(error)
        }

        do {
            let (response, result) = try await record(decision, app: app, base: config.baseURL(for: request))
            metrics?.delivery(forge: app.forge.rawValue, result: result)
            return response
        } catch {
            metrics?.delivery(forge: app.forge.rawValue, result: "unavailable")
            logger.error("webhook not stored", metadata: ["app": "\(app.name)", "error": "\(error)"])
            // The forge may retry; nothing was acknowledged, so nothing is lost.
            throw APIError(.serviceUnavailable, "the job store is unavailable; try again later", headers: [.retryAfter: "5"])
        }
    }

    /// Commits what the decision asks for; the answer is built only after the commit.
    /// Also returns what became of the delivery, for the metrics (one of `SlipwayMetrics.deliveryResults`).
    private func record(_ decision: IntakeDecision, app: AppConfig, base: String) async throws(StoreError) -> (Response, String) {
        switch decision {
        case .enqueue(let push) where monorepo.concerns(app):
            return try await fanOut(try await monorepo.enqueue(push, receivedBy: app, now: now()), delivery: push.deliveryID, app: app, base: base)
        case .preview(let pullRequest) where monorepo.concerns(app):
            return try await fanOut(try await monorepo.enqueue(pullRequest, receivedBy: app, now: now()), delivery: pullRequest.deliveryID,
                                    app: app, base: base)
        case .enqueue(let push):
            return await answer(try await store.enqueue(push: push, app: app.name, now: now()), delivery: push.deliveryID, base: base)
        case .preview(let pullRequest):
            return await answer(try await store.enqueue(preview: pullRequest, app: app.name, now: now()), delivery: pullRequest.deliveryID,
                                base: base)
        case .ping(let id):
            try await store.recordIgnoredDelivery(app: app.name, forge: app.forge, deliveryID: id, outcome: "ping", now: now())
            return (JSONBody.response(.ok, Answer(status: "pong", delivery: id)), "ping")
        case .ignore(let id, let reason):
            try await store.recordIgnoredDelivery(app: app.name, forge: app.forge, deliveryID: id, outcome: "ignored", now: now())
            return (JSONBody.response(.ok, Answer(status: "ignored", delivery: id, reason: reason)), "ignored")
        }
    }

    /// A job queued (202) or found already queued for the same delivery or revision (200).
    private func answer(_ result: EnqueueResult, delivery: String, base: String) async -> (Response, String) {
        switch result {
        case .created(let job, let superseded):
            await queued(job, superseded: superseded, delivery: delivery)
            jobsChanged()
            return (JSONBody.response(.accepted, Self.accepted("queued", job: job.id, base: base)), "queued")
        case .existing(let job):
            return (JSONBody.response(.ok, Self.accepted("duplicate", job: job.id, base: base)), "duplicate")
        }
    }

    /// Tells the forge (where the app reports) that `job` is queued and the jobs it superseded
    /// are not, and logs it.
    private func queued(_ job: Job, superseded: [Job], delivery: String) async {
        for older in superseded { await outbox.note(older, .cancelled, reason: older.reason, now: now()) }
        await outbox.note(job, .queued, now: now())
        logger.info("job queued", metadata: ["app": "\(job.app)", "job-id": "\(job.id)", "trigger": "\(job.trigger.rawValue)",
                                             "commit": "\(job.commit)", "delivery": "\(delivery)"])
    }

    /// A push or pull request several apps share (or filtered by paths): the answer names every
    /// job and every app the delivery did not concern; it is 202 when a job was queued.
    private func fanOut(_ outcome: MonorepoIntake.Outcome, delivery: String, app: AppConfig, base: String) async throws(StoreError) -> (Response, String) {
        var anyCreated = false
        var jobs: [JSONValue] = []
        for (name, result) in outcome.queued {
            if case .created(let job, let superseded) = result {
                anyCreated = true
                await queued(job, superseded: superseded, delivery: delivery)
            }
            jobs.append(.object(["app": .string(name), "job": .int(result.job.id), "status": .string(Self.isNew(result) ? "queued" : "duplicate"),
                                 "status_url": .string("\(base)/api/v1/jobs/\(result.job.id)")]))
        }
        if anyCreated { jobsChanged() }
        let skipped = JSONValue.array(outcome.skipped.map { .object(["app": .string($0.app), "reason": .string($0.reason)]) })
        guard let primary = outcome.queued.first(where: { $0.app == app.name }) ?? outcome.queued.first else {
            let reason = outcome.skipped.map(\.reason).joined(separator: "; ")
            return (JSONBody.response(.ok, .object(["status": "ignored", "delivery": .string(delivery), "reason": .string(reason), "skipped": skipped])),
                    "ignored")
        }
        var answer = Self.accepted(anyCreated ? "queued" : "duplicate", job: primary.result.job.id, base: base)
        answer["jobs"] = .array(jobs)
        answer["skipped"] = skipped
        return (JSONBody.response(anyCreated ? .accepted : .ok, answer), anyCreated ? "queued" : "duplicate")
    }

    private static func isNew(_ result: EnqueueResult) -> Bool {
        if case .created = result { return true }
        return false
    }

    static func apiError(_ error: WebhookError) -> APIError {
        switch error {
        case .unauthorized:
            // Same answer whatever failed, so a caller without the secret learns nothing.
            APIError(.unauthorized, "unauthorized")
        case .unsupportedMediaType:
            APIError(.unsupportedMediaType, error.description)
        case .malformedPayload:
            APIError(.badRequest, error.description)
        }
    }


}
