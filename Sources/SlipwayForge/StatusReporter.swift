public import AsyncHTTPClient
public import Foundation
public import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
public import ServiceLifecycle
public import SlipwayConfig
import SlipwayCore
public import SlipwayStore

/// Sends the outbox's commit statuses and pull-request comments to the forges. A status that cannot go now (429, 5xx, no
/// connection) is tried again with back-off, honouring `Retry-After` and the rate-limit reset;
/// one the forge refuses (401, 403, 404, 422) is written to the job's log once, with the
/// forge's message, and not tried again. Rows are leased, so replicas never send one twice,
/// and stay in the store until sent, so a restart loses none.
public struct StatusReporter: Service {
    let config: ServerConfig
    let store: any JobStore
    let logger: Logger
    let interval: Duration
    let now: @Sendable () -> Date

    public init(config: ServerConfig, store: any JobStore, logger: Logger, interval: Duration = .seconds(1), now: @escaping @Sendable () -> Date = { Date() }) {
        self.config = config
        self.store = store
        self.logger = logger
        self.interval = interval
        self.now = now
    }

    /// Whether any app reports statuses (the service has nothing to do otherwise).
    public var isNeeded: Bool { config.apps.contains { $0.forgeAPI != nil } }

    public func run() async throws {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(10), read: .seconds(30))
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await deliverDue(http)
            try? await Task.sleep(for: interval)
        }
        try? await http.shutdown()
    }

    /// Sends what is due now (statuses, then pull-request comments); returns how many went out.
    @discardableResult
    public func deliverDue(_ http: HTTPClient) async -> Int {
        var sent = 0
        do {
            for record in try await store.claimCommitStatuses(now: now(), leaseUntil: now().addingTimeInterval(60), limit: 20) {
                if await deliver(record, http) { sent += 1 }
            }
        } catch {
            logger.warning("cannot read the commit status outbox", metadata: ["error": "\(error)"])
        }
        do {
            for record in try await store.claimPreviewComments(now: now(), leaseUntil: now().addingTimeInterval(60), limit: 10) {
                if await deliver(record, http) { sent += 1 }
            }
        } catch {
            logger.warning("cannot read the pull-request comment outbox", metadata: ["error": "\(error)"])
        }
        return sent
    }

    /// One answer of a forge.
    private struct Answer {
        var code: Int
        var headers: HTTPHeaders
        var body: String
    }

    private func send(_ request: ForgeRequest, _ http: HTTPClient) async throws -> Answer {
        var outgoing = HTTPClientRequest(url: request.url)
        outgoing.method = HTTPMethod(rawValue: request.method)
        outgoing.headers.add(name: "User-Agent", value: "slipway")
        outgoing.headers.add(name: "Content-Type", value: "application/json")
        for (name, value) in request.headers { outgoing.headers.add(name: name, value: value) }
        outgoing.body = .bytes(ByteBuffer(data: request.body))
        let response = try await http.execute(outgoing, timeout: .seconds(30))
        let text = String(buffer: try await response.body.collect(upTo: 256 * 1024))
        return Answer(code: Int(response.status.code), headers: response.headers, body: text)
    }

    private func deliver(_ record: CommitStatusRecord, _ http: HTTPClient) async -> Bool {
        guard let app = config.app(named: record.app), let api = app.forgeAPI else {
            try? await store.commitStatusRefused(record.id, error: "app '\(record.app)' no longer reports to a forge", now: now())
            return false
        }
        let link = "\(config.baseURL)/jobs/\(record.jobID)"
        let request = CommitStatusRequest.make(forge: app.forge, api: api, app: app.name, preview: record.isPreview, commit: record.commit,
                                               state: record.state, reason: record.description, link: link)
        do {
            let answer = try await send(request, http)
            switch Self.verdict(code: answer.code, headers: answer.headers, attempts: record.attempts, now: now()) {
            case .sent:
                try await store.commitStatusSent(record.id, now: now())
                logger.debug("commit status sent", metadata: ["app": "\(app.name)", "job-id": "\(record.jobID)", "state": "\(record.state.rawValue)"])
                return true
            case .retry(let at):
                try await store.commitStatusRetry(record.id, retryAt: at, error: "\(answer.code) \(Self.message(answer.body))")
                logger.notice("commit status postponed", metadata: ["app": "\(app.name)", "status": "\(answer.code)", "retry-at": "\(at)"])
            case .refused:
                let message = "the forge refused the commit status '\(record.state.rawValue)' for \(record.commit.prefix(12)): \(answer.code) \(Self.message(answer.body)); "
                    + "check apps[].forge_api of '\(app.name)' (no more statuses are sent for this job)"
                try await store.commitStatusRefused(record.id, error: message, now: now())
                try await store.appendNote(jobID: record.jobID, text: "\(LogLine.timestamp(now())) [forge] \(message)\n", now: now())
                logger.warning("commit status refused", metadata: ["app": "\(app.name)", "status": "\(answer.code)"])
            }
        } catch {
            let at = now().addingTimeInterval(Self.backoff(attempts: record.attempts))
            try? await store.commitStatusRetry(record.id, retryAt: at, error: "\(error)")
            logger.notice("commit status postponed", metadata: ["app": "\(app.name)", "error": "\(error)"])
        }
        return false
    }

    /// Creates the app's comment on the pull request, or edits it; a comment someone deleted
    /// is created again.
    private func deliver(_ record: PreviewCommentRecord, _ http: HTTPClient) async -> Bool {
        guard let app = config.app(named: record.app), let api = app.forgeAPI else {
            try? await store.previewCommentRefused(record, error: "app '\(record.app)' no longer reports to a forge", now: now())
            return false
        }
        let request = PreviewCommentRequest.make(forge: app.forge, api: api, pullRequest: record.pullRequest, commentID: record.commentID,
                                                 commentVersion: record.commentVersion, text: record.body)
        let what = "the comment on pull request #\(record.pullRequest)"
        do {
            let answer = try await send(request, http)
            if let commentID = record.commentID, answer.code == 409, app.forge == .bitbucketServer {
                // Someone edited it on Data Center: the edit must name its current version.
                let read = try await send(PreviewCommentRequest.current(api: api, pullRequest: record.pullRequest, commentID: commentID), http)
                let version = read.code == 200 ? PreviewCommentRequest.created(from: Data(read.body.utf8))?.version : nil
                let settled = version != nil || read.code == 404
                try await store.previewCommentRetry(record, retryAt: settled ? now() : now().addingTimeInterval(Self.backoff(attempts: record.attempts)),
                                                    error: "\(answer.code) \(Self.message(answer.body))",
                                                    forgetComment: read.code == 404, commentVersion: version)
                return false
            }
            if record.commentID != nil, answer.code == 404 {
                // Deleted by someone: a new comment.
                try await store.previewCommentRetry(record, retryAt: now(), error: "\(answer.code) \(Self.message(answer.body))", forgetComment: true,
                                                    commentVersion: nil)
                logger.notice("pull-request comment is created again", metadata: ["app": "\(app.name)", "status": "\(answer.code)"])
                return false
            }
            switch Self.verdict(code: answer.code, headers: answer.headers, attempts: record.attempts, now: now()) {
            case .sent:
                let created = PreviewCommentRequest.created(from: Data(answer.body.utf8))
                guard let id = created?.id ?? record.commentID else {
                    try await store.previewCommentRetry(record, retryAt: now().addingTimeInterval(Self.backoff(attempts: record.attempts)),
                                                        error: "the forge's answer has no comment id")
                    return false
                }
                try await store.previewCommentSent(record, commentID: id, commentVersion: created?.version, now: now())
                logger.debug("pull-request comment sent", metadata: ["app": "\(app.name)", "pull-request": "\(record.pullRequest)"])
                return true
            case .retry(let at):
                try await store.previewCommentRetry(record, retryAt: at, error: "\(answer.code) \(Self.message(answer.body))")
                logger.notice("pull-request comment postponed", metadata: ["app": "\(app.name)", "status": "\(answer.code)", "retry-at": "\(at)"])
            case .refused:
                let message = "the forge refused \(what): \(answer.code) \(Self.message(answer.body)); check apps[].forge_api of '\(app.name)'"
                try await store.previewCommentRefused(record, error: message, now: now())
                try await store.appendNote(jobID: record.jobID, text: "\(LogLine.timestamp(now())) [forge] \(message)\n", now: now())
                logger.warning("pull-request comment refused", metadata: ["app": "\(app.name)", "status": "\(answer.code)"])
            }
        } catch {
            let at = now().addingTimeInterval(Self.backoff(attempts: record.attempts))
            try? await store.previewCommentRetry(record, retryAt: at, error: "\(error)")
            logger.notice("pull-request comment postponed", metadata: ["app": "\(app.name)", "error": "\(error)"])
        }
        return false
    }

    enum Verdict: Equatable {
        case sent
        case retry(Date)
        case refused
    }

    /// What an answer means for the status: 2xx sent; 429, 5xx and a spent rate limit (GitHub
    /// answers 403 with `X-RateLimit-Remaining: 0`) later; other 4xx never.
    static func verdict(code: Int, headers: HTTPHeaders, attempts: Int, now: Date) -> Verdict {
        if (200..<300).contains(code) { return .sent }
        let rateLimited = headers.first(name: "X-RateLimit-Remaining") == "0" || headers.first(name: "RateLimit-Remaining") == "0"
        guard code == 429 || code >= 500 || (code == 403 && rateLimited) else { return .refused }
        if let seconds = headers.first(name: "Retry-After").flatMap(Double.init) {
            return .retry(now.addingTimeInterval(max(1, seconds)))
        }
        if rateLimited, let reset = (headers.first(name: "X-RateLimit-Reset") ?? headers.first(name: "RateLimit-Reset")).flatMap(Double.init) {
            // GitHub and GitLab: epoch seconds.
            return .retry(Date(timeIntervalSince1970: max(reset, now.timeIntervalSince1970 + 1)))
        }
        return .retry(now.addingTimeInterval(backoff(attempts: attempts)))
    }

    /// 2, 4, 8 … seconds, at most 5 minutes.
    static func backoff(attempts: Int) -> Double {
        min(300, pow(2, Double(min(attempts, 12) + 1)))
    }

    /// The forge's own message from a JSON error (`message`, `error`, `errors`), else the text.
    static func message(_ body: String) -> String {
        if let object = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] {
            if let text = object["message"] as? String { return text }
            if let text = object["error"] as? String { return text }
            if let error = object["error"] as? [String: Any], let text = error["message"] as? String { return text }
        }
        return String(body.prefix(300))
    }
}
