import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import SlipwayConfig
import SlipwayCore
import SlipwayReconciler
import SlipwayRunner
import SlipwayStore
import SlipwayWeb

/// The dashboard: server-rendered pages at `/`, signed in with an API token. Pages read what
/// the API reads; their forms (refresh, sync, cancel, sign out) carry the session's CSRF token
/// and do what the API does, then send the browser back to a page (POST, redirect, GET).
struct PageRoutes: Sendable {
    let config: ServerConfig
    let store: any JobStore
    let sessions: WebSessions
    let overview: AppOverview
    let apps: AppRoutes
    let jobs: JobRoutes
    let preview: DeployPreview?
    let logger: Logger
    let renderer = PageRenderer()
    /// Lines of a log shown in the page; the raw log has all of them.
    static let shownLogLines = 5000

    func register(on router: Router<SlipwayRequestContext>) {
        router.get("/") { _, _ in Self.redirect("/apps") }
        router.get("/assets/:file") { request, _ in
            guard let asset = WebAsset.all.first(where: { $0.path == request.uri.path }) else {
                throw APIError(.notFound, "no such file")
            }
            return Response(status: .ok, headers: [.contentType: asset.contentType, .cacheControl: "public, max-age=31536000, immutable",
                                                   HTTPField.Name("X-Content-Type-Options")!: "nosniff"],
                            body: .init(byteBuffer: ByteBuffer(data: asset.bytes)))
        }
        router.get("/login") { request, _ in try await loginPage(request) }
        router.post("/login") { request, _ in try await signIn(request) }
        router.post("/logout") { request, context in try await page(request, context, form: true) { _, _ in
            var response = Self.redirect("/login")
            response.setCookie(try await sessions.signOut(request))
            return response
        } }
        router.get("/apps") { request, context in try await page(request, context) { _, who in try await appsPage(who) } }
        router.get("/apps/:name") { request, context in try await page(request, context) { _, who in try await appPage(request, context, who) } }
        router.post("/apps/:name/refresh") { request, context in try await page(request, context, form: true, role: .admin) { _, _ in
            let app = try apps.app(context)
            _ = try await apps.refreshNow(app)
            return Self.redirect("/apps/\(Self.pathComponent(app.name))")
        } }
        router.post("/apps/:name/sync") { request, context in try await page(request, context, form: true, role: .admin) { form, who in
            let commit = form["commit"].flatMap { $0.isEmpty ? nil : $0.trimmingCharacters(in: .whitespaces) }
            let job = try await apps.queueSync(try apps.app(context), commit: commit, by: who.token.name)
            return Self.redirect("/jobs/\(job.id)")
        } }
        for action in RolloutAction.allCases {
            router.post("/apps/:name/rollout/\(action.rawValue)") { request, context in try await page(request, context, form: true, role: .admin) { _, who in
                let app = try apps.app(context)
                _ = try await RolloutRoutes(apps: apps).request(action, app: app, by: who.token.name)
                return Self.redirect("/apps/\(Self.pathComponent(app.name))")
            } }
        }
        router.get("/jobs") { request, context in try await page(request, context) { _, who in try await jobsPage(request, who) } }
        router.get("/jobs/:id") { request, context in try await page(request, context) { _, who in try await jobPage(context, who) } }
        router.post("/jobs/:id/cancel") { request, context in try await page(request, context, form: true, role: .admin) { _, who in
            let job = try await jobs.job(context)
            _ = try await jobs.requestCancel(job, by: who.token.name)
            return Self.redirect("/jobs/\(job.id)")
        } }
    }

    /// The signed-in caller of a page.
    struct Viewer {
        var token: APIToken
        var session: WebSession
        var chrome: PageChrome { PageChrome(user: token.name, role: token.role.rawValue, csrfToken: session.csrfToken) }
        var isAdmin: Bool { token.role >= .admin }
    }

    /// Runs a page's handler for a signed-in browser: without a session, GETs go to sign-in
    /// and POSTs get 401; a form must carry the CSRF token (403 otherwise), an admin action
    /// an admin token (403). Errors become a page with the API's message and status.
    private func page(_ request: Request, _ context: SlipwayRequestContext, form: Bool = false, role: APIRole = .read,
                      _ body: ([String: String], Viewer) async throws -> Response) async throws -> Response {
        var chrome = PageChrome()
        do {
            guard let (token, session) = try await sessions.current(request) else {
                if request.method == .get {
                    return Self.redirect("/login?next=\(Self.queryValue(request.uri.description))")
                }
                throw APIError(.unauthorized, "sign in first")
            }
            let viewer = Viewer(token: token, session: session)
            chrome = viewer.chrome
            var fields: [String: String] = [:]
            if form {
                fields = try await Self.formFields(request)
                try WebSessions.checkCSRF(fields[WebSessions.csrfField], session: session)
                guard token.role >= role else {
                    throw APIError(.forbidden, "token '\(token.name)' has role \(token.role.rawValue); this needs \(role.rawValue)")
                }
            }
            return try await body(fields, viewer)
        } catch let error as APIError {
            return Self.html(renderer.render(MessagePage(chrome: chrome, heading: error.status.reasonPhrase, text: error.message)), status: error.status)
        }
    }

    // MARK: Sign-in

    private func loginPage(_ request: Request) async throws -> Response {
        let next = Self.safeNext(request.uri.queryParameters.get("next").map { String($0) })
        if try await sessions.current(request) != nil { return Self.redirect(next) }
        return Self.html(renderer.render(LoginPage(next: next)))
    }

    private func signIn(_ request: Request) async throws -> Response {
        // A login form posted from another site would sign this browser in to the attacker's
        // token: only this origin may post it.
        if let origin = request.headers[.origin], !Self.isOwnOrigin(origin, request: request, publicURL: config.publicURL) {
            return Self.html(renderer.render(MessagePage(chrome: PageChrome(), heading: "Forbidden", text: "sign-in is only accepted from this site's own page")),
                             status: .forbidden)
        }
        let fields: [String: String]
        do { fields = try await Self.formFields(request) } catch let error as APIError {
            return Self.html(renderer.render(LoginPage(error: error.message)), status: error.status)
        }
        let next = Self.safeNext(fields["next"])
        guard let secret = fields["token"], !secret.isEmpty, let (_, cookie) = try await sessions.signIn(secret: secret) else {
            logger.warning("dashboard sign-in refused")
            return Self.html(renderer.render(LoginPage(error: "That token is not one of this server's API tokens.", next: next)), status: .unauthorized)
        }
        var response = Self.redirect(next)
        response.setCookie(cookie)
        return response
    }

    /// Whether a browser's `Origin` is this server: the authority it was asked at, or the
    /// configured public URL (behind a proxy).
    static func isOwnOrigin(_ origin: String, request: Request, publicURL: String?) -> Bool {
        guard let url = URL(string: origin), let host = url.host else { return false }
        let authorities = [host, "\(host):\(url.port ?? (url.scheme == "http" ? 80 : 443))"]
        if let authority = request.head.authority, authorities.contains(authority) { return true }
        if let publicURL, let own = URL(string: publicURL), own.scheme == url.scheme, own.host == host, own.port == url.port { return true }
        return false
    }

    /// Only a path on this site (never `//elsewhere` or a URL) may be where sign-in leads.
    static func safeNext(_ next: String?) -> String {
        guard let next, next.hasPrefix("/"), !next.hasPrefix("//"), !next.hasPrefix("/\\"), !next.contains("\r"), !next.contains("\n") else { return "/apps" }
        return next
    }

    // MARK: Pages

    private func appsPage(_ viewer: Viewer) async throws -> Response {
        var rows: [AppRow] = []
        for status in await overview.all() { rows.append(await row(status)) }
        return Self.html(renderer.render(AppsPage(chrome: viewer.chrome, apps: rows)))
    }

    private func row(_ status: AppStatus) async -> AppRow {
        var deployed: CommitSummary?
        if let commit = status.deployedCommit {
            let record = try? await store.lastDeployment(app: status.app, healthyOnly: true)
            var job: Job?
            if let record { job = try? await store.job(id: record.jobID) }
            deployed = CommitSummary(commit: commit, message: job?.message, author: job?.author, when: record?.createdAt)
        }
        return AppRow(name: status.app, sync: status.sync.rawValue, health: status.health, deployed: deployed,
                      lastJob: status.lastJob.map { JobLink(id: $0, status: status.lastJobStatus ?? "queued") },
                      drifted: status.drifted.count, reconciledAt: status.reconciledAt, message: status.message)
    }

    private func appPage(_ request: Request, _ context: SlipwayRequestContext, _ viewer: Viewer) async throws -> Response {
        let app = try apps.app(context)
        let status = await overview.status(app)
        let drift = status.drifted.map { drift in
            ObjectRow(object: drift.object, kind: drift.kind.rawValue, fields: drift.fields.map { FieldRow(path: $0.path, live: $0.live, desired: $0.desired) })
        }
        let recent = try await storeCall { try await store.jobs(JobQuery(app: app.name, limit: 20)) }
        var history: [JobRow] = []
        var badness: [String: BadCommit?] = [:]
        for job in recent {
            if badness[job.commit] == nil { badness[job.commit] = try await storeCall { try await store.badCommit(app: app.name, commit: job.commit) } }
            let bad = badness[job.commit] ?? nil
            let note: String? = if let bad, bad.jobID == job.id { "rolled back; commit marked bad" } else if bad != nil { "commit marked bad" } else { nil }
            history.append(JobRow(job, note: note))
        }
        var shown: PreviewView?
        if let commit = request.uri.queryParameters.get("commit").map({ String($0).trimmingCharacters(in: .whitespaces) }) {
            shown = await previewView(app, commit: commit)
        }
        let rollout = try await storeCall { try await store.rollout(app: app.name) }.map {
            RolloutView($0.state, promoteRequestedBy: $0.promoteRequestedBy, abortRequestedBy: $0.abortRequestedBy)
        }
        return Self.html(renderer.render(AppPage(chrome: viewer.chrome, app: await row(status), canAdmin: viewer.isAdmin,
                                                 drift: drift, history: history, preview: shown, rollout: rollout)))
    }

    private func previewView(_ app: AppConfig, commit: String) async -> PreviewView {
        guard commit.count == 40, commit.allSatisfy(\.isHexDigit) else {
            return PreviewView(commit: commit, error: "commit must be a full 40-character commit id")
        }
        guard app.target != nil, let preview else { return PreviewView(commit: commit, error: "app '\(app.name)' has no cluster configured") }
        do {
            let result = try await preview.preview(app: app, commit: commit)
            let changed = result.objects.filter { $0.action != .unchanged }
            let count = { (action: DeployPreview.ObjectChange.Action) in result.objects.filter { $0.action == action }.count }
            let summary = "\(count(.create)) to create, \(count(.update)) to change, \(count(.prune)) to prune, \(count(.unchanged)) unchanged"
            return PreviewView(commit: commit, summary: summary, objects: changed.map { object in
                ObjectRow(object: object.object, kind: object.action.rawValue, fields: object.changes.map { FieldRow(path: $0.path, live: $0.live, desired: $0.desired) })
            })
        } catch {
            return PreviewView(commit: commit, error: "\(error)")
        }
    }

    private func jobsPage(_ request: Request, _ viewer: Viewer) async throws -> Response {
        let parameters = request.uri.queryParameters
        var query = JobQuery(limit: 50)
        let app = parameters.get("app").map { String($0) }.flatMap { $0.isEmpty ? nil : $0 }
        let status = parameters.get("status").map { String($0) }.flatMap { $0.isEmpty ? nil : $0 }
        query.app = app
        if let status {
            guard let value = JobStatus(rawValue: status) else { throw APIError(.badRequest, "status '\(status)' is not a job status") }
            query.status = value
        }
        if let before = parameters.get("before").map({ String($0) }), !before.isEmpty {
            guard let value = Int64(before) else { throw APIError(.badRequest, "before must be a job id") }
            query.before = value
        }
        let found = try await storeCall { try await store.jobs(query) }
        let page = JobsPage(chrome: viewer.chrome, appNames: config.apps.map(\.name), filterApp: app, filterStatus: status,
                            jobs: found.map { JobRow($0) }, firstPage: query.before == nil,
                            nextBefore: found.count == query.limit ? found.last?.id : nil)
        return Self.html(renderer.render(page))
    }

    private func jobPage(_ context: SlipwayRequestContext, _ viewer: Viewer) async throws -> Response {
        let job = try await jobs.job(context)
        let steps = try await storeCall { try await store.steps(job.id) }
        let (text, seq) = try await jobs.storedLog(of: job.id)
        var lines = LogLineView.lines(of: text)
        var truncated: String?
        if lines.count > Self.shownLogLines {
            truncated = "The first \(lines.count - Self.shownLogLines) lines are not shown here; the raw log has them all."
            lines.removeFirst(lines.count - Self.shownLogLines)
        }
        let page = JobPage(chrome: viewer.chrome, job: JobRow(job), canCancel: viewer.isAdmin && !job.status.isFinal,
                           steps: steps.map { StepRow($0) }, lines: lines, lastSeq: seq, live: !job.status.isFinal, truncated: truncated)
        return Self.html(renderer.render(page))
    }

    // MARK: Helpers

    static func formFields(_ request: Request) async throws -> [String: String] {
        guard request.headers[.contentType]?.lowercased().hasPrefix("application/x-www-form-urlencoded") ?? false else {
            throw APIError(.unsupportedMediaType, "a form (application/x-www-form-urlencoded) is expected")
        }
        let body = try await request.body.collect(upTo: 64 * 1024)
        do {
            return try URLEncodedFormDecoder().decode([String: String].self, from: String(buffer: body))
        } catch {
            throw APIError(.badRequest, "the form cannot be read: \(error)")
        }
    }

    static let pageHeaders: HTTPFields = [
        .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
        .contentSecurityPolicy: WebAsset.contentSecurityPolicy,
        HTTPField.Name("X-Content-Type-Options")!: "nosniff", HTTPField.Name("X-Frame-Options")!: "DENY",
        HTTPField.Name("Referrer-Policy")!: "same-origin",
    ]

    static func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: pageHeaders, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
    }

    static func pathComponent(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? text
    }

    static func queryValue(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~/"))) ?? "/apps"
    }
}
