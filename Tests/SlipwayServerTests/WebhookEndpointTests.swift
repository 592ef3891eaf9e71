import Foundation
import SlipwayClient
import SlipwayCore
import SlipwayStore
import SlipwayTestSupport
import Testing

/// The real server over TLS on loopback, fed the recorded forge deliveries.
@Suite struct WebhookEndpointTests {
    struct Answer: Decodable {
        var status: String
        var job: Int64?
        var statusUrl: String?
        var reason: String?
        var error: String?
    }

    static func decode(_ body: Data) throws -> Answer {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        struct ErrorOnly: Decodable { var error: String }
        if let error = try? decoder.decode(ErrorOnly.self, from: body) {
            return Answer(status: "error", error: error.error)
        }
        return try decoder.decode(Answer.self, from: body)
    }

    static func post(_ server: LiveServer, app: String, fixture: String) async throws -> (status: Int, answer: Answer) {
        let (headers, body) = try WebhookFixture.load(fixture)
        let client = try server.client(token: nil)
        let (status, data) = try await client.send(.POST, "/hooks/\(app)", headers: headers.map { ($0.name, $0.value) }, body: body)
        try await client.shutdown()
        return (status, try decode(data))
    }

    /// The README's table. `sameCommitAs`: the fixture repeats an earlier fixture's commit for
    /// the same app, so it maps to that job instead of creating one.
    static let expectations: [(fixture: String, app: String, status: Int, job: Bool, sameCommitAs: String?)] = [
        ("github-push", "github", 202, true, nil),
        ("github-push-form", "github", 200, true, "github-push"),
        ("github-push-other-branch", "github", 200, false, nil),
        ("github-push-tag", "github", 200, false, nil),
        ("github-push-branch-deleted", "github", 200, false, nil),
        ("github-ping", "github", 200, false, nil),
        ("gitlab-push", "gitlab", 202, true, nil),
        ("gitlab-push-signed", "gitlab", 200, true, "gitlab-push"),
        ("gitea-push", "gitea", 202, true, nil),
        ("forgejo-push", "forgejo", 202, true, nil),
        ("bitbucket-cloud-push", "bitbucket-cloud", 202, true, nil),
        ("bitbucket-server-refs-changed", "bitbucket-server", 202, true, nil),
    ]

    @Test func everyFixtureGetsItsExpectedAnswer() async throws {
        try await withLiveServer(now: { WebhookFixture.gitlabSignedAt }) { server in
            var jobOf: [String: Int64] = [:]
            for expected in Self.expectations {
                let (status, answer) = try await Self.post(server, app: expected.app, fixture: expected.fixture)
                #expect(status == expected.status, "\(expected.fixture): \(answer)")
                guard expected.job else {
                    #expect(answer.job == nil, "\(expected.fixture)")
                    #expect(answer.reason != nil || answer.status == "pong", "\(expected.fixture)")
                    continue
                }
                let id = try #require(answer.job, "\(expected.fixture)")
                jobOf[expected.fixture] = id
                if let earlier = expected.sameCommitAs {
                    #expect(answer.status == "duplicate")
                    #expect(id == jobOf[earlier])
                }
                #expect(answer.statusUrl == "\(server.baseURL)/api/v1/jobs/\(id)")
                let job = try #require(try await server.store.job(id: id))
                #expect(job.status == .queued)
                #expect(job.commit == "5f2e8a7d0c1b3e4f6a9d8c7b2e1f0a3d4c5b6e7f")
                #expect(job.app == expected.app)
            }
            #expect(try await server.store.jobs(JobQuery()).count == 6)
        }
    }

    /// The signed GitLab fixture on its own, since it shares gitlab-push's commit.
    @Test func gitlabSignedPushAloneQueuesAJob() async throws {
        try await withLiveServer(now: { WebhookFixture.gitlabSignedAt.addingTimeInterval(60) }) { server in
            let (status, answer) = try await Self.post(server, app: "gitlab", fixture: "gitlab-push-signed")
            #expect(status == 202)
            #expect(answer.job != nil)
        }
        // Replayed a day later, the same signed delivery is refused.
        try await withLiveServer(now: { WebhookFixture.gitlabSignedAt.addingTimeInterval(86400) }) { server in
            let replay = try await Self.post(server, app: "gitlab", fixture: "gitlab-push-signed")
            #expect(replay.status == 401)
        }
    }

    /// Answers are written like everything Slipway writes: a URL is a URL, not `https:\/\/`.
    @Test func theAnswerWritesURLsAsTheyAre() async throws {
        try await withLiveServer { server in
            let (headers, body) = try WebhookFixture.load("github-push")
            let client = try server.client(token: nil)
            let (status, data) = try await client.send(.POST, "/hooks/github", headers: headers.map { ($0.name, $0.value) }, body: body)
            try await client.shutdown()
            #expect(status == 202)
            let text = String(decoding: data, as: UTF8.self)
            #expect(text.contains(#""status_url":"https://"#), "\(text)")
            #expect(!text.contains(#"\/"#), "\(text)")
        }
    }

    @Test func formEncodedPushAloneQueuesAJob() async throws {
        try await withLiveServer { server in
            let (status, answer) = try await Self.post(server, app: "github", fixture: "github-push-form")
            #expect(status == 202)
            #expect(answer.job != nil)
        }
    }

    @Test func redeliveryGetsTheSameJob() async throws {
        try await withLiveServer { server in
            let first = try await Self.post(server, app: "github", fixture: "github-push")
            let again = try await Self.post(server, app: "github", fixture: "github-push")
            #expect(first.status == 202)
            #expect(again.status == 200)
            #expect(again.answer.status == "duplicate")
            #expect(again.answer.job == first.answer.job)
            #expect(try await server.store.jobs(JobQuery()).count == 1)
        }
    }

    @Test func everySignatureFailureLooksTheSame() async throws {
        try await withLiveServer { server in
            let (headers, body) = try WebhookFixture.load("github-push")
            let client = try server.client(token: nil)
            var tampered = body
            tampered[tampered.startIndex + 10] ^= 0x01
            let pairs: [(String, String)] = headers.map { ($0.name, $0.value) }
            let noSignature = pairs.filter { !$0.0.hasPrefix("X-Hub-Signature") }
            let wrongSignature = pairs.map { $0.0 == "X-Hub-Signature-256" ? ($0.0, "sha256=" + String(repeating: "0", count: 64)) : $0 }
            let garbage = pairs.map { $0.0 == "X-Hub-Signature-256" ? ($0.0, "nonsense") : $0 }
            var answers: [Data] = []
            for (h, b) in [(noSignature, body), (wrongSignature, body), (garbage, body), (pairs, tampered)] {
                let (status, data) = try await client.send(.POST, "/hooks/github", headers: h, body: b)
                #expect(status == 401)
                answers.append(data)
            }
            #expect(Set(answers).count == 1)
            #expect(String(decoding: answers[0], as: UTF8.self) == "{\"error\":\"unauthorized\"}\n")
            // A GitLab hook with a GitHub-signed body is refused too (its adapter never reads GitHub headers).
            let (status, _) = try await client.send(.POST, "/hooks/gitlab", headers: headers.map { ($0.name, $0.value) }, body: body)
            #expect(status == 401)
            #expect(try await server.store.jobs(JobQuery()).isEmpty)
            try await client.shutdown()
        }
    }

    @Test func badRequestsGetClearAnswers() async throws {
        try await withLiveServer(configure: { $0.maxBodyBytes = 64 * 1024 }) { server in
            let client = try server.client(token: nil)
            let secret = WebhookFixture.secret

            let (unknown, unknownBody) = try await client.send(.POST, "/hooks/nope", body: Data("{}".utf8))
            #expect(unknown == 404)
            #expect(try Self.decode(unknownBody).error == "no app named 'nope' is configured")

            let (method, _) = try await client.send(.GET, "/hooks/github")
            #expect(method == 405)

            // Signed correctly but not JSON: 415 (only after the signature checked out).
            let text = Data("ref=main".utf8)
            var headers = GitHubSigning.headers(body: text, secret: secret)
            headers = headers.map { $0.0 == "Content-Type" ? ($0.0, "text/plain") : $0 }
            let (media, mediaBody) = try await client.send(.POST, "/hooks/github", headers: headers, body: text)
            #expect(media == 415)
            #expect(try Self.decode(mediaBody).error?.contains("text/plain") == true)

            // Signed correctly, broken JSON: 400 naming the problem.
            let broken = Data("{\"ref\": \"refs/heads/main\", ".utf8)
            let (bad, badBody) = try await client.send(.POST, "/hooks/github", headers: GitHubSigning.headers(body: broken, secret: secret), body: broken)
            #expect(bad == 400)
            #expect(try Self.decode(badBody).error?.contains("invalid JSON") == true)

            // Over the limit: refused with 413, declared length or not.
            let big = Data(repeating: UInt8(ascii: " "), count: 200 * 1024)
            let (tooLarge, _) = try await client.send(.POST, "/hooks/github", headers: GitHubSigning.headers(body: big, secret: secret), body: big)
            #expect(tooLarge == 413)
            let streamed = try await RawHTTP.postChunked(server.port, certificatePath: server.certificatePath, path: "/hooks/github", chunk: Data(repeating: 32, count: 16 * 1024), count: 16)
            #expect(streamed.hasPrefix("HTTP/1.1 413"), "\(streamed)")

            // An event that is not a push: 2xx so forges keep the hook enabled, and no job.
            let issue = Data("{}".utf8)
            let issueHeaders = GitHubSigning.headers(body: issue, secret: secret, event: "issues")
            let (ignored, ignoredBody) = try await client.send(.POST, "/hooks/github", headers: issueHeaders, body: issue)
            #expect(ignored == 200)
            #expect(try Self.decode(ignoredBody).reason == "event 'issues' does not trigger deployments")
            #expect(try await server.store.jobs(JobQuery()).isEmpty)
            try await client.shutdown()
        }
    }

    @Test func rotatedSecretsBothWorkAndRemovedOnesDoNot() async throws {
        try await withLiveServer(configure: { config in
            config.apps[0].webhookSecrets = [SecretValue("new-secret"), SecretValue(WebhookFixture.secret)]
            config.apps[1].webhookSecrets = [SecretValue("new-secret")]
            config.apps[1].forge = .github
        }) { server in
            #expect(try await Self.post(server, app: "github", fixture: "github-push").status == 202)
            let app1 = server.config.apps[1].name
            #expect(try await Self.post(server, app: app1, fixture: "github-push").status == 401)
            let body = Data(#"{"ref":"refs/heads/main","before":"1111111111111111111111111111111111111111","after":"2222222222222222222222222222222222222222","repository":{"full_name":"a/b"}}"#.utf8)
            let client = try server.client(token: nil)
            let (status, _) = try await client.send(.POST, "/hooks/github", headers: GitHubSigning.headers(body: body, secret: "new-secret"), body: body)
            try await client.shutdown()
            #expect(status == 202)
        }
    }

    @Test func storeUnavailableAnswers503AndKeepsNothingHalfDone() async throws {
        try await withLiveServer { server in
            // Another process holds the write lock longer than the store waits for it.
            let lock = try SQLiteLock(path: server.config.databasePath)
            let (status, answer) = try await Self.post(server, app: "github", fixture: "github-push")
            #expect(status == 503)
            #expect(answer.error?.contains("unavailable") == true)
            lock.release()
            // The forge's retry then succeeds.
            let retry = try await Self.post(server, app: "github", fixture: "github-push")
            #expect(retry.status == 202)
        }
    }
}
