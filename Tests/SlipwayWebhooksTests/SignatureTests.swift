import Foundation
import SlipwayCore
import SlipwayTestSupport
import SlipwayWebhooks
import Testing

@Suite struct SignatureTests {
    /// GitHub's published example: secret "It's a Secret to Everybody", body "Hello, World!".
    @Test func githubPublishedTestVector() throws {
        let request = WebhookRequest(
            headers: [("X-Hub-Signature-256", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")],
            body: Data("Hello, World!".utf8))
        try GitHubAdapter().verify(request, secrets: [SecretValue("It's a Secret to Everybody")], now: Date())
        #expect(throws: WebhookError.unauthorized) {
            try GitHubAdapter().verify(request, secrets: [SecretValue("It's a secret to everybody")], now: Date())
        }
    }

    @Test func githubRefusesTheLegacySHA1HeaderAlone() throws {
        let (headers, body) = try WebhookFixture.load("github-push")
        let sha1Only = headers.filter { $0.name != "X-Hub-Signature-256" }
        #expect(throws: WebhookError.unauthorized) {
            try GitHubAdapter().verify(WebhookRequest(headers: sha1Only, body: body), secrets: [SecretValue(WebhookFixture.secret)], now: Date())
        }
    }

    @Test func malformedSignaturesAreRefused() throws {
        let body = Data("{}".utf8)
        for value in ["", "sha256=", "sha256=zz", "sha256=" + String(repeating: "a", count: 63), "sha1=abc", "757107ea"] {
            let request = WebhookRequest(headers: [("X-Hub-Signature-256", value)], body: body)
            #expect(throws: WebhookError.unauthorized) {
                try GitHubAdapter().verify(request, secrets: [SecretValue("s")], now: Date())
            }
        }
    }

    /// Bitbucket's X-Hub-Signature is SHA-256; the same header from GitHub is SHA-1.
    /// A GitHub app must not accept a Bitbucket-style signature in the wrong header.
    @Test func algorithmFollowsTheForgeNotTheHeaderName() throws {
        let (headers, body) = try WebhookFixture.load("bitbucket-cloud-push")
        let request = WebhookRequest(headers: headers + [("X-GitHub-Event", "push")], body: body)
        #expect(throws: WebhookError.unauthorized) {
            try GitHubAdapter().verify(request, secrets: [SecretValue(WebhookFixture.secret)], now: Date())
        }
        try Forge.bitbucketCloud.adapter.verify(request, secrets: [SecretValue(WebhookFixture.secret)], now: Date())
    }

    @Test func gitlabSignedDeliveryMustBeRecent() throws {
        let request = try WebhookFixture.request("gitlab-push-signed")
        let secrets = [SecretValue(WebhookFixture.gitlabSigningToken)]
        let signedAt = WebhookFixture.gitlabSignedAt
        try GitLabAdapter().verify(request, secrets: secrets, now: signedAt.addingTimeInterval(299))
        try GitLabAdapter().verify(request, secrets: secrets, now: signedAt.addingTimeInterval(-299))
        #expect(throws: WebhookError.unauthorized) {
            try GitLabAdapter().verify(request, secrets: secrets, now: signedAt.addingTimeInterval(301))
        }
        #expect(throws: WebhookError.unauthorized) {
            try GitLabAdapter().verify(request, secrets: secrets, now: signedAt.addingTimeInterval(-301))
        }
    }

    @Test func gitlabLegacyTokenIsComparedExactly() throws {
        let (headers, body) = try WebhookFixture.load("gitlab-push")
        try GitLabAdapter().verify(WebhookRequest(headers: headers, body: body), secrets: [SecretValue(WebhookFixture.secret)], now: Date())
        for token in ["fixture-secret-7d3", "fixture-secret-7d3f ", "FIXTURE-SECRET-7D3F", ""] {
            let changed = headers.map { $0.name == "X-Gitlab-Token" ? ($0.name, token) : $0 }
            #expect(throws: WebhookError.unauthorized) {
                try GitLabAdapter().verify(WebhookRequest(headers: changed, body: body), secrets: [SecretValue(WebhookFixture.secret)], now: Date())
            }
        }
        // A signing token is never accepted as a plain X-Gitlab-Token value.
        let withSigningToken = headers.map { $0.name == "X-Gitlab-Token" ? ($0.name, WebhookFixture.gitlabSigningToken) : $0 }
        #expect(throws: WebhookError.unauthorized) {
            try GitLabAdapter().verify(WebhookRequest(headers: withSigningToken, body: body),
                                       secrets: [SecretValue(WebhookFixture.gitlabSigningToken)], now: Date())
        }
    }

    @Test func rotatedSecretsAreBothAccepted() throws {
        let request = try WebhookFixture.request("github-push")
        let old = SecretValue(WebhookFixture.secret)
        let new = SecretValue("the-new-secret")
        try GitHubAdapter().verify(request, secrets: [new, old], now: Date())
        try GitHubAdapter().verify(request, secrets: [old, new], now: Date())
    }

    @Test func secretsNeverPrint() {
        let secret = SecretValue("hunter2")
        #expect("\(secret)" == "***")
        #expect(String(reflecting: secret).contains("hunter2") == false)
    }

    /// `slipway send-test-hook` signs as the forge would: what it sends must pass the
    /// same adapter the server uses, for every forge.
    @Test(arguments: Forge.allCases)
    func testPushRoundTrips(_ forge: Forge) throws {
        let commit = String(repeating: "ab", count: 20)
        let body = TestPush.body(forge: forge, repository: "acme/storefront", cloneURL: "https://git.example.com/acme/storefront.git",
                                 branch: "main", before: String(repeating: "1", count: 40), commit: commit, message: "test")
        for secret in forge == .gitlab ? [WebhookFixture.secret, WebhookFixture.gitlabSigningToken] : [WebhookFixture.secret] {
            let headers = forge.adapter.signedHeaders(body: body, event: "push", deliveryID: "d-1", secret: SecretValue(secret), now: Date())
            let app = AppConfig(name: "a", repoURL: "x", forge: forge, webhookSecrets: [SecretValue(secret)])
            let decision = try WebhookIntake().decide(WebhookRequest(headers: headers, body: body), for: app, now: Date())
            guard case .enqueue(let push) = decision else { Issue.record("\(forge): \(decision)"); continue }
            #expect(push.after == commit)
            #expect(push.deliveryID == "d-1")
            #expect(push.repository == "acme/storefront")
        }
    }

    @Test func unreadablePayloadsNameTheProblem() throws {
        let secret = SecretValue("s")
        let app = AppConfig(name: "a", repoURL: "x", forge: .github, webhookSecrets: [secret])
        func decide(_ body: String, type: String = "application/json") throws -> IntakeDecision {
            let data = Data(body.utf8)
            var headers = GitHubAdapter().signedHeaders(body: data, event: "push", deliveryID: "d", secret: secret, now: Date())
            headers = headers.map { $0.name == "Content-Type" ? ($0.name, type) : $0 }
            return try WebhookIntake().decide(WebhookRequest(headers: headers, body: data), for: app, now: Date())
        }
        for (body, expected) in [("{\"ref\": ", "invalid JSON"), (#"{"ref": "refs/heads/main"}"#, "missing field 'before'"),
                                 (#"{"ref": 1, "before": "a", "after": "b", "repository": {"full_name": "x"}}"#, "unexpected value at ref")] {
            do {
                _ = try decide(body)
                Issue.record("expected an error for \(body)")
            } catch {
                #expect("\(error)".contains(expected), "\(error)")
            }
        }
        #expect(throws: WebhookError.unsupportedMediaType("text/plain")) { try decide("{}", type: "text/plain") }
        #expect(throws: WebhookError.malformedPayload("the form body has no 'payload' field")) {
            try decide("other=1", type: "application/x-www-form-urlencoded")
        }
    }
}
