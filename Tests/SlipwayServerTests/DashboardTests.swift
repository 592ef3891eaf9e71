import Foundation
import SlipwayCore
import SlipwayStore
import SlipwayTestSupport
import Testing

/// The dashboard as a browser without JavaScript sees it: sign-in and its cookie, pages,
/// escaping, CSRF on every form and on the API with a cookie, roles, logout; and the live
/// streams the page's script reads.
@Suite struct DashboardTests {
    static func push(_ n: Int, message: String? = nil) -> PushEvent {
        PushEvent(forge: .github, deliveryID: "d\(n)", repository: "acme/shop", ref: "refs/heads/main",
                  before: String(repeating: "0", count: 40), after: String(format: "%040d", n),
                  headCommitMessage: message, headCommitAuthor: "Mallory <m@example.com>")
    }

    static func browser(_ server: LiveServer) throws -> FormBrowser {
        try FormBrowser(baseURL: server.baseURL, certificatePath: server.certificatePath)
    }

    @Test func signInSessionCookieAndLogout() async throws {
        try await withLiveServer { server in
            let browser = try Self.browser(server)
            let away = try await browser.get("/apps")
            #expect(away.status == 303)
            #expect(away.header("Location") == "/login?next=/apps")

            let login = try await browser.get("/login?next=/jobs")
            #expect(login.status == 200)
            #expect(login.header("Content-Security-Policy")?.contains("script-src 'self'") == true)
            #expect(login.body.contains(#"name="next" value="/jobs""#))

            let wrong = try await browser.signIn(token: "not-a-token")
            #expect(wrong.status == 401)
            #expect(wrong.body.contains("not one of this server"))
            #expect(browser.cookies.isEmpty)

            browser.origin = "https://evil.example"
            #expect(try await browser.signIn(token: LiveServer.adminToken).status == 403, "a sign-in posted from another site")
            browser.origin = server.baseURL
            #expect(try await browser.post("/login", form: [("token", LiveServer.adminToken), ("next", "//evil.example/x")]).header("Location") == "/apps")

            let signedIn = try await browser.signIn(token: LiveServer.adminToken)
            #expect(signedIn.status == 303)
            #expect(signedIn.header("Location") == "/apps")
            let cookie = try #require(signedIn.header("Set-Cookie"))
            #expect(cookie.hasPrefix("__Host-slipway-session="))
            for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
                #expect(cookie.contains(attribute), "\(attribute) in \(cookie)")
            }
            let stolen = browser.cookies

            let apps = try await browser.get("/apps")
            #expect(apps.status == 200)
            #expect(apps.body.contains(#"<a href="/apps/github">github</a>"#))
            #expect(apps.body.contains("admin <small>(admin)</small>"))

            // Signing out needs the CSRF token too; then the session is gone everywhere.
            #expect(try await browser.post("/logout", form: []).status == 403)
            let out = try await browser.post("/logout", form: [("csrf_token", try #require(apps.csrfToken))])
            #expect(out.status == 303)
            #expect(out.header("Location") == "/login")
            #expect(browser.cookies.isEmpty)
            #expect(try await browser.get("/apps").status == 303)
            let replay = try Self.browser(server)
            #expect(try await replay.get("/apps", headers: [("Cookie", stolen.map { "\($0.key)=\($0.value)" }.joined())]).status == 303,
                    "the old cookie is worth nothing after logout")
            try await browser.shutdown()
            try await replay.shutdown()
        }
    }

    @Test func pagesEscapeWhatTheyShowAndFormsNeedCSRFAndTheRole() async throws {
        try await withLiveServer { server in
            let hostile = "<script>alert('commit')</script>"
            let queued = try await server.store.enqueue(push: Self.push(1, message: hostile), app: "github").job
            let running = try await server.store.enqueue(push: Self.push(2), app: "gitlab").job
            #expect(try await server.store.start(running.id))
            try await server.store.appendLog(jobID: running.id, text: "2026-11-28T10:00:00Z [build] \u{1B}[1;31m<img src=x onerror=alert(1)>\u{1B}[0m done\n")

            let admin = try Self.browser(server)
            _ = try await admin.signIn(token: LiveServer.adminToken)
            let jobs = try await admin.get("/jobs")
            #expect(jobs.status == 200)
            #expect(!jobs.body.contains(hostile))
            #expect(jobs.body.contains("&lt;script&gt;alert(&#39;commit&#39;)&lt;/script&gt;"))
            #expect(jobs.body.contains(#"<tr data-job="\#(queued.id)">"#))
            for page in [jobs.body] {
                // The only script is the embedded file; nothing inline.
                #expect(page.components(separatedBy: "<script").count == 2)
                #expect(page.contains(#"<script src="/assets/dashboard."#))
            }
            #expect(try await admin.get("/jobs?app=gitlab").body.contains(#"data-job="\#(running.id)""#))
            #expect(!(try await admin.get("/jobs?app=gitlab").body.contains(#"data-job="\#(queued.id)""#)))
            #expect(try await admin.get("/jobs?status=bogus").status == 400)

            let page = try await admin.get("/jobs/\(running.id)")
            #expect(page.status == 200)
            #expect(page.body.contains(#"<span class="a-b a-31">&lt;img src=x onerror=alert(1)&gt;</span> done"#), "\(page.body)")
            #expect(page.body.contains(#"id="L1""#))
            #expect(page.body.contains("<time>2026-11-28T10:00:00Z</time>"))
            #expect(page.body.contains(#"data-live="log""#))
            #expect(page.body.contains("Cancel job"))
            #expect(try await admin.get("/jobs/999").status == 404)

            // Forms: without the CSRF token, refused; with it, done.
            let csrf = try #require(page.csrfToken)
            #expect(try await admin.post("/jobs/\(queued.id)/cancel", form: []).status == 403)
            #expect(try await admin.post("/jobs/\(queued.id)/cancel", form: [("csrf_token", "forged")]).status == 403)
            #expect(try await server.store.job(id: queued.id)?.status == .queued)
            let cancelled = try await admin.post("/jobs/\(queued.id)/cancel", form: [("csrf_token", csrf)])
            #expect(cancelled.status == 303)
            #expect(cancelled.header("Location") == "/jobs/\(queued.id)")
            #expect(try await server.store.job(id: queued.id)?.status == .cancelled)
            #expect(!(try await admin.get("/jobs/\(queued.id)").body.contains("Cancel job")), "an ended job has no Cancel")

            // A read token sees everything, is offered nothing, and its forged POST is refused.
            let reader = try Self.browser(server)
            _ = try await reader.signIn(token: LiveServer.readToken)
            let readerPage = try await reader.get("/jobs/\(running.id)")
            #expect(readerPage.status == 200)
            #expect(!readerPage.body.contains("Cancel job"))
            #expect(!(try await reader.get("/apps/github").body.contains(">Sync</button>")))
            #expect(try await admin.get("/apps/github").body.contains(">Sync</button>"))
            let forged = try await reader.post("/jobs/\(running.id)/cancel", form: [("csrf_token", try #require(readerPage.csrfToken))])
            #expect(forged.status == 403)
            #expect(try await !server.store.isCancelRequested(running.id))

            // The API takes the session cookie; changes need the CSRF header.
            let api = try await admin.get("/api/v1/jobs/\(running.id)")
            #expect(api.status == 200)
            #expect(try await admin.send(.POST, "/api/v1/jobs/\(running.id)/cancel", headers: [], body: nil).status == 403)
            #expect(try await admin.send(.POST, "/api/v1/jobs/\(running.id)/cancel", headers: [("X-CSRF-Token", csrf)], body: nil).status == 202)
            #expect(try await server.store.isCancelRequested(running.id))
            for browser in [admin, reader] { try await browser.shutdown() }
        }
    }

    @Test func assetsAreServedByHashAndCachedForAYear() async throws {
        try await withLiveServer { server in
            let browser = try Self.browser(server)
            let login = try await browser.get("/login")
            for kind in ["css", "js"] {
                let path = try #require(login.body.range(of: #"/assets/dashboard\.[0-9a-f]{12}\.\#(kind)"#, options: .regularExpression).map { String(login.body[$0]) })
                let asset = try await browser.get(path)
                #expect(asset.status == 200)
                #expect(asset.header("Cache-Control")?.contains("immutable") == true)
                #expect(asset.body.count > 1000)
            }
            #expect(try await browser.get("/assets/dashboard.000000000000.js").status == 404)
            try await browser.shutdown()
        }
    }

    @Test func theLogStreamsAsEventsAndResumesAfterTheLastOne() async throws {
        try await withLiveServer { server in
            let job = try await server.store.enqueue(push: Self.push(1), app: "github").job
            #expect(try await server.store.start(job.id))
            try await server.store.appendLog(jobID: job.id, text: "one\n")
            try await server.store.appendLog(jobID: job.id, text: "two\nthree\n")
            let store = server.store
            let writer = Task {
                try await Task.sleep(for: .milliseconds(500))
                try await store.appendLog(jobID: job.id, text: "four\n")
                try await store.finish(job.id, status: .succeeded, reason: nil)
            }
            let browser = try Self.browser(server)
            let stream = try await browser.get("/api/v1/jobs/\(job.id)/log",
                                               headers: [("Authorization", "Bearer \(LiveServer.readToken)"), ("Accept", "text/event-stream"), ("Last-Event-ID", "1")])
            try await writer.value
            #expect(stream.status == 200)
            #expect(stream.header("Content-Type")?.hasPrefix("text/event-stream") == true)
            #expect(stream.body == "retry: 2000\n\nevent: log\nid: 2\ndata: two\ndata: three\n\nevent: log\nid: 3\ndata: four\n\nevent: end\ndata: {\"status\":\"succeeded\"}\n\n",
                    "\(stream.body)")
            let bad = try await browser.get("/api/v1/jobs/\(job.id)/log?after=x", headers: [("Authorization", "Bearer \(LiveServer.readToken)"), ("Accept", "text/event-stream")])
            #expect(bad.status == 400)
            try await browser.shutdown()
        }
    }

    @Test func theEventStreamTellsOfNewJobsAndApps() async throws {
        try await withLiveServer { server in
            let request = "GET /api/v1/events HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \(LiveServer.readToken)\r\nAccept: text/event-stream\r\n\r\n"
            let store = server.store
            let pusher = Task {
                try await Task.sleep(for: .milliseconds(700))
                return try await store.enqueue(push: Self.push(7, message: "seven"), app: "gitlab").job.id
            }
            let outcome = try await RawHTTP.exchange(port: server.port, certificatePath: server.certificatePath, parts: [Data(request.utf8)],
                                                     wait: .seconds(60), stopReading: { $0.contains(#""message":"seven""#) })
            let id = try await pusher.value
            #expect(outcome.response.hasPrefix("HTTP/1.1 200"))
            #expect(outcome.response.contains("event: app\n"), "the current state first")
            #expect(outcome.response.contains(#""app":"github""#))
            #expect(outcome.response.contains("event: job\n"))
            #expect(outcome.response.contains(#""id":\#(id)"#))
        }
    }

    /// A running rollout on the App page: its steps as a progress bar, the tracks, the
    /// measurements as a table and a chart; Promote and Abort for admins only, with the CSRF token.
    @Test func theAppPageShowsARolloutAndAdminsPromoteIt() async throws {
        try await withLiveServer { server in
            var state = RolloutState(app: "github", jobID: 9, commit: String(repeating: "d", count: 40), target: "Deployment/web", namespace: "shop",
                                     steps: ["weight 20%", "analysis success-rate", "pause until promoted", "weight 100%"], replicas: 5, now: Date())
            state.step = 2
            state.phase = .paused
            state.weight = 20
            state.canaryReplicas = 1
            state.stableReplicas = 4
            state.message = "paused until promoted (slipway rollout promote github)"
            state.analyses = ["success-rate": ">= 0.99"]
            state.measurements = [
                AnalysisMeasurement(analysis: "success-rate", step: 1, time: Date(timeIntervalSince1970: 1_800_000_000), value: 0.995, result: .successful),
                AnalysisMeasurement(analysis: "success-rate", step: 1, time: Date(timeIntervalSince1970: 1_800_000_030), value: nil, result: .error,
                                    note: "Prometheus at http://p:9090 did not answer within 30s <timeout>"),
            ]
            try await server.store.saveRollout(state)

            let admin = try Self.browser(server)
            _ = try await admin.signIn(token: LiveServer.adminToken)
            let page = try await admin.get("/apps/github")
            #expect(page.status == 200)
            #expect(page.body.contains(#"<section aria-labelledby="rollout-h" class="rollout" data-rollout-phase="paused">"#), "\(page.body)")
            #expect(page.body.contains(#"<progress max="100" value="50" aria-label="Rollout progress">50 %</progress>"#))
            #expect(page.body.contains(#"<li class="done"><span class="sr-only">done: </span>weight 20%</li>"#))
            #expect(page.body.contains(#"<li class="current" aria-current="step"><span class="sr-only">current: </span>pause until promoted</li>"#))
            #expect(page.body.contains("1 canary pod(s), 4 stable pod(s)"))
            #expect(page.body.contains(#"<circle class="successful""#) && page.body.contains(#"<circle class="error""#))
            #expect(page.body.contains(#"<line class="threshold""#))
            #expect(page.body.contains("did not answer within 30s &lt;timeout&gt;"))
            #expect(page.body.contains(">Promote</button>") && page.body.contains(">Abort</button>"))

            let reader = try Self.browser(server)
            _ = try await reader.signIn(token: LiveServer.readToken)
            let readerPage = try await reader.get("/apps/github")
            #expect(readerPage.body.contains("pause until promoted") && !readerPage.body.contains(">Promote</button>"))
            #expect(try await reader.post("/apps/github/rollout/promote", form: [("csrf_token", try #require(readerPage.csrfToken))]).status == 403)
            #expect(try await admin.post("/apps/github/rollout/promote", form: [("csrf_token", "forged")]).status == 403)
            #expect(try await server.store.rollout(app: "github")?.promoteRequestedBy == nil)

            let promoted = try await admin.post("/apps/github/rollout/promote", form: [("csrf_token", try #require(page.csrfToken))])
            #expect(promoted.status == 303 && promoted.header("Location") == "/apps/github")
            #expect(try await server.store.rollout(app: "github")?.promoteRequestedBy == "test-admin")
            #expect(try await admin.get("/apps/github").body.contains("Promotion asked by test-admin."))
            // Ended: no buttons, and a late promote is refused.
            state.phase = .promoted
            try await server.store.saveRollout(state)
            let ended = try await admin.get("/apps/github")
            #expect(!ended.body.contains(">Promote</button>"))
            #expect(try await admin.post("/apps/github/rollout/promote", form: [("csrf_token", try #require(ended.csrfToken))]).status == 409)
        }
    }
}
