import Foundation
import Hummingbird
import Logging
import SlipwayConfig
import SlipwayCore
import SlipwayDeploy
import SlipwayForge
import SlipwayReconciler
import SlipwayRunner
import SlipwayStore

/// `/api/v1/apps…`: status, drift, what a commit would change, refresh and sync.
struct AppRoutes: Sendable {
    let config: ServerConfig
    let store: any JobStore
    let preview: DeployPreview?
    let reconciler: Reconciler?
    let jobsChanged: @Sendable () -> Void
    var overview: AppOverview { AppOverview(config: config, store: store, reconciler: reconciler) }

    func register(on api: RouterGroup<SlipwayRequestContext>) {
        api.get("apps") { _, context in try await list(context: context) }
        api.get("apps/:name") { _, context in try await show(context: context) }
        api.get("apps/:name/diff") { request, context in try await diff(request, context: context) }
        api.post("apps/:name/refresh") { _, context in try await refresh(context: context) }
        api.post("apps/:name/sync") { request, context in try await sync(request, context: context) }
    }

    /// The app the route's `{name}` names (404 when none is configured).
    func app(_ context: SlipwayRequestContext) throws -> AppConfig {
        let name = context.parameters.get("name") ?? ""
        guard let app = config.app(named: name) else { throw APIError(.notFound, "no app named '\(name)' is configured") }
        return app
    }

    func list(context: SlipwayRequestContext) async throws -> Response {
        try context.require(.read)
        return JSONBody.response(.ok, ["apps": .array(await overview.all().map(\.json))] as JSONValue)
    }

    func show(context: SlipwayRequestContext) async throws -> Response {
        try context.require(.read)
        return JSONBody.response(.ok, await overview.status(try app(context)))
    }

    /// Without `commit`: the drift of the deployed revision (checked now). With `commit`: what
    /// deploying that commit would change. JSON, or text with `?format=text`.
    func diff(_ request: Request, context: SlipwayRequestContext) async throws -> Response {
        try context.require(.read)
        let app = try app(context)
        guard app.target != nil else { throw APIError(.conflict, "app '\(app.name)' has no cluster configured") }
        let format = request.uri.queryParameters.get("format").map { String($0) } ?? "json"
        guard ["json", "text"].contains(format) else { throw APIError(.badRequest, "format '\(format)' is not json or text") }
        let text = format == "text"
        guard let commit = request.uri.queryParameters.get("commit") else {
            guard let reconciler, let status = await reconciler.refresh(app.name) else {
                throw APIError(.serviceUnavailable, "the reconciler is not running")
            }
            return text ? Self.text(Self.driftText(status)) : JSONBody.response(.ok, status)
        }
        guard commit.count == 40, commit.allSatisfy(\.isHexDigit) else {
            throw APIError(.badRequest, "commit must be a full 40-character commit id")
        }
        guard let preview else { throw APIError(.serviceUnavailable, "no cluster is configured") }
        let result: DeployPreview.Result
        do {
            result = try await preview.preview(app: app, commit: commit)
        } catch {
            throw APIError(error.isNotFound ? .notFound : .unprocessableContent, "\(error)")
        }
        return text ? Self.text(result.text) : JSONBody.response(.ok, result)
    }

    func refresh(context: SlipwayRequestContext) async throws -> Response {
        try context.require(.admin)
        return JSONBody.response(.ok, try await refreshNow(try app(context)))
    }

    private struct SyncRequest: Decodable { var commit: String? }
    private struct Queued: Encodable {
        var job: Int64
        var commit: String
        var statusURL: String
        enum CodingKeys: String, CodingKey { case job, commit, statusURL = "status_url" }
    }

    /// Deploys again: the deployed commit, or the one given (`{"commit": SHA}` or `?commit=`).
    func sync(_ request: Request, context: SlipwayRequestContext) async throws -> Response {
        try context.require(.admin)
        let app = try app(context)
        var commit: String? = request.uri.queryParameters.get("commit").map { String($0) }
        let body = try await request.body.collect(upTo: 64 * 1024)
        if body.readableBytes > 0 {
            guard let parsed = try? JSONDecoder().decode(SyncRequest.self, from: Data(buffer: body)),
                  (try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any])?["commit"].map({ $0 is String }) ?? true else {
                throw APIError(.badRequest, "the body must be JSON like {\"commit\": \"<40 hex characters>\"}")
            }
            if let given = parsed.commit {
                guard commit == nil || commit == given else { throw APIError(.badRequest, "the query and the body name different commits") }
                commit = given
            }
        }
        let who = context.token?.name ?? "unknown"
        let job = try await queueSync(app, commit: commit, by: who)
        jobsChanged()
        return JSONBody.response(.accepted, Queued(job: job.id, commit: job.commit, statusURL: "\(config.baseURL(for: request))/api/v1/jobs/\(job.id)"))
    }

    /// Queues a manual deploy of `commit`, or of the deployed commit (else the branch head),
    /// unless that commit was rolled back as bad.
    func queueSync(_ app: AppConfig, commit requested: String?, by who: String) async throws -> Job {
        var commit = requested
        if commit == nil { commit = (try? await store.lastDeployment(app: app.name, healthyOnly: true))?.commit }
        if commit == nil { commit = await reconciler?.status(of: app.name)?.branchHead }
        guard let commit else {
            throw APIError(.conflict, "app '\(app.name)' has no deployed commit yet; give one: {\"commit\": \"...\"}")
        }
        guard commit.count == 40, commit.allSatisfy(\.isHexDigit) else { throw APIError(.badRequest, "commit must be a full 40-character commit id") }
        if let bad = try await storeCall({ try await store.badCommit(app: app.name, commit: commit) }) {
            throw APIError(.conflict, "commit \(commit.prefix(12)) was rolled back as bad by job \(bad.jobID): \(bad.reason)")
        }
        let job = try await storeCall { try await store.enqueue(app: app.name, ref: PushEvent.branchPrefix + app.branch, commit: commit, trigger: .manual,
                                                    message: "sync requested by \(who)") }
        await StatusOutbox(config: config, store: store).note(job, .queued)
        jobsChanged()
        return job
    }

    /// Looks again at the app's cluster now.
    func refreshNow(_ app: AppConfig) async throws -> AppStatus {
        guard let reconciler, let status = await reconciler.refresh(app.name) else {
            throw APIError(.serviceUnavailable, "the reconciler is not running")
        }
        return status
    }

    static func text(_ body: String) -> Response {
        Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static func driftText(_ status: AppStatus) -> String {
        var lines = ["\(status.app): \(status.sync.rawValue), \(status.health ?? "health unknown")"
                     + (status.deployedCommit.map { " (deployed \($0.prefix(12)))" } ?? "")]
        if let message = status.message { lines.append("  \(message)") }
        for drift in status.drifted {
            let mark = switch drift.kind { case .changed: "~"; case .missing: "-"; case .extra: "+" }
            lines.append("\(mark) \(drift.object)\(drift.kind == .missing ? " (missing)" : drift.kind == .extra ? " (not in git)" : "")")
            for field in drift.fields {
                lines.append("    \(field.path): live \(field.live ?? "(absent)"), desired \(field.desired ?? "(absent)")")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
