import Foundation
import SlipwayCore
import SlipwayTestSupport
import SlipwayWebhooks
import Testing

/// Every forge's pull-request payload, verified with its signature and read into the preview
/// it asks for; the events that make no preview are answered with their reason.
@Suite struct PullRequestFixtureTests {
    static let head = "7a1c9e2b4d6f8a0c1e3b5d7f9a2c4e6b8d0f1a3c"
    static let newerHead = "3e5b7d9f1a2c4e6b8d0f2a4c6e8b0d1f3a5c7e9b"

    struct Case: Sendable, CustomTestStringConvertible {
        var fixture: String
        var forge: Forge
        var action: PullRequestAction
        var head: String
        var ref: String
        var repository = "acme/storefront"
        var number = 43
        var fromFork = false
        var testDescription: String { fixture }
    }

    static let previews: [Case] = [
        Case(fixture: "github-pull-request-opened", forge: .github, action: .opened, head: head, ref: "refs/pull/43/head"),
        Case(fixture: "github-pull-request-synchronize", forge: .github, action: .updated, head: newerHead, ref: "refs/pull/43/head"),
        Case(fixture: "github-pull-request-fork", forge: .github, action: .opened, head: head, ref: "refs/pull/44/head", number: 44, fromFork: true),
        Case(fixture: "gitlab-merge-request-open", forge: .gitlab, action: .opened, head: head, ref: "refs/merge-requests/43/head"),
        Case(fixture: "gitlab-merge-request-update", forge: .gitlab, action: .updated, head: newerHead, ref: "refs/merge-requests/43/head"),
        Case(fixture: "gitea-pull-request-synchronized", forge: .gitea, action: .updated, head: newerHead, ref: "refs/pull/43/head"),
        Case(fixture: "forgejo-pull-request-opened", forge: .forgejo, action: .opened, head: head, ref: "refs/pull/43/head"),
        // Bitbucket Cloud sends a 12-character hash and publishes no pull-request refs: the source branch is fetched.
        Case(fixture: "bitbucket-cloud-pullrequest-created", forge: .bitbucketCloud, action: .opened, head: String(head.prefix(12)),
             ref: "refs/heads/feature/checkout"),
        Case(fixture: "bitbucket-server-pr-opened", forge: .bitbucketServer, action: .opened, head: head, ref: "refs/pull-requests/43/from"),
        Case(fixture: "bitbucket-server-pr-from-ref-updated", forge: .bitbucketServer, action: .updated, head: newerHead,
             ref: "refs/pull-requests/43/from"),
    ]

    static func app(_ forge: Forge, cluster: Bool = true, branch: String = "main") -> AppConfig {
        var app = AppConfig(name: "storefront", repoURL: "https://git.example.com/acme/storefront.git", branch: branch, forge: forge,
                            webhookSecrets: [SecretValue(WebhookFixture.secret)])
        if cluster { app.target = DeployTarget(cluster: "prod", namespace: "shop") }
        return app
    }

    @Test(arguments: previews)
    func pullRequestFixtureQueuesAPreview(_ testCase: Case) throws {
        let request = try WebhookFixture.request(testCase.fixture)
        let decision = try WebhookIntake().decide(request, for: Self.app(testCase.forge), now: Date())
        guard case .preview(let event) = decision else {
            Issue.record("expected a preview, got \(decision)")
            return
        }
        #expect(event.forge == testCase.forge)
        #expect(event.action == testCase.action)
        #expect(event.number == testCase.number)
        #expect(event.headCommit == testCase.head)
        #expect(event.headRef == testCase.ref)
        #expect(event.repository == testCase.repository)
        #expect(event.targetBranch == "main")
        #expect(event.sourceBranch == "feature/checkout")
        #expect(event.fromFork == testCase.fromFork)
        #expect(event.title == "Checkout: raise replicas and add the payment config")
        #expect(!event.deliveryID.isEmpty)
    }

    @Test(arguments: previews)
    func pullRequestWithTheWrongSecretIsRefused(_ testCase: Case) throws {
        let request = try WebhookFixture.request(testCase.fixture)
        var app = Self.app(testCase.forge)
        app.webhookSecrets = [SecretValue("not-the-secret")]
        #expect(throws: WebhookError.unauthorized) { try WebhookIntake().decide(request, for: app, now: Date()) }
    }

    @Test func closedRequestOtherTargetNoClusterAndTurnedOffMakeNoPreview() throws {
        func reason(_ fixture: String, _ app: AppConfig) throws -> String? {
            guard case .ignore(_, let reason) = try WebhookIntake().decide(try WebhookFixture.request(fixture), for: app, now: Date()) else { return nil }
            return reason
        }
        #expect(try reason("github-pull-request-closed", Self.app(.github))?.contains("not opened, reopened or given new commits") == true)
        #expect(try reason("github-pull-request-opened", Self.app(.github, branch: "release"))?.contains("targets main, not release") == true)
        #expect(try reason("gitlab-merge-request-open", Self.app(.gitlab, cluster: false))?.contains("no cluster") == true)
        var off = Self.app(.gitea)
        off.preview.enabled = false
        #expect(try reason("gitea-pull-request-synchronized", off)?.contains("preview: false") == true)
    }

    /// A GitLab `update` without `oldrev` is a title or label edit: no new commits, no preview.
    @Test func gitlabUpdateWithoutNewCommitsMakesNoPreview() throws {
        let (headers, body) = try WebhookFixture.load("gitlab-merge-request-update")
        var payload = try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any])
        var attributes = try #require(payload["object_attributes"] as? [String: Any])
        attributes["oldrev"] = nil
        payload["object_attributes"] = attributes
        let edited = try JSONSerialization.data(withJSONObject: payload)
        let decision = try WebhookIntake().decide(WebhookRequest(headers: headers, body: edited), for: Self.app(.gitlab), now: Date())
        guard case .ignore = decision else { Issue.record("expected no preview, got \(decision)"); return }
    }
}
