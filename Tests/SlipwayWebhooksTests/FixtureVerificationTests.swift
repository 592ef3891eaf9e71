import Foundation
import SlipwayCore
import SlipwayTestSupport
import SlipwayWebhooks
import Testing

/// Every recorded forge payload, verified with the real signatures and read into a PushEvent.
@Suite struct FixtureVerificationTests {
    static let before = "9c4a4f1f0b8a1f6b2f7c5b0f3e2d1c0b9a8f7e6d"
    static let after = "5f2e8a7d0c1b3e4f6a9d8c7b2e1f0a3d4c5b6e7f"

    struct Case: Sendable, CustomTestStringConvertible {
        var fixture: String
        var forge: Forge
        var delivery: String
        var testDescription: String { fixture }
    }

    static let queued: [Case] = [
        Case(fixture: "github-push", forge: .github, delivery: "6f1d3c40-c6a1-11f0-8a5e-2b1f0c9d7e11"),
        Case(fixture: "github-push-form", forge: .github, delivery: "8d315e43-c6a1-11f0-9b1e-1c2d3e4f5a6b"),
        Case(fixture: "gitlab-push", forge: .gitlab, delivery: "f0e1d2c3-0001-4b5a-9c8d-7e6f5a4b3c2d"),
        Case(fixture: "gitlab-push-signed", forge: .gitlab, delivery: "f0e1d2c3-0002-4b5a-9c8d-7e6f5a4b3c2d"),
        Case(fixture: "gitea-push", forge: .gitea, delivery: "0b7c1e5a-92d4-4f17-8c55-3e1f9a0b2c3d"),
        Case(fixture: "forgejo-push", forge: .forgejo, delivery: "1c8d2f6b-a3e5-4028-9d66-4f20ab1c3d4e"),
        Case(fixture: "bitbucket-cloud-push", forge: .bitbucketCloud, delivery: "2d9e3a7c-b4f6-4139-ae77-5031bc2d4e5f"),
        Case(fixture: "bitbucket-server-refs-changed", forge: .bitbucketServer, delivery: "3e0f4b8d-d6b8-435b-c099-7253de4f6071"),
    ]

    static func app(_ forge: Forge, secrets: [String]? = nil) -> AppConfig {
        let values = secrets ?? [WebhookFixture.secret, WebhookFixture.gitlabSigningToken]
        return AppConfig(name: forge.rawValue, repoURL: "https://git.example.com/acme/storefront.git", forge: forge,
                         webhookSecrets: values.map(SecretValue.init))
    }

    @Test(arguments: queued)
    func pushFixtureIsVerifiedAndQueued(_ testCase: Case) throws {
        let request = try WebhookFixture.request(testCase.fixture)
        let decision = try WebhookIntake().decide(request, for: Self.app(testCase.forge), now: WebhookFixture.gitlabSignedAt)
        guard case .enqueue(let push) = decision else {
            Issue.record("expected a job, got \(decision)")
            return
        }
        #expect(push.forge == testCase.forge)
        #expect(push.deliveryID == testCase.delivery)
        #expect(push.ref == "refs/heads/main")
        #expect(push.before == Self.before)
        #expect(push.after == Self.after)
        #expect(push.repository == "acme/storefront")
        #expect(push.branch == "main")
        #expect(!push.deleted)
    }

    @Test(arguments: queued)
    func wrongSecretIsRefused(_ testCase: Case) throws {
        let request = try WebhookFixture.request(testCase.fixture)
        #expect(throws: WebhookError.unauthorized) {
            try WebhookIntake().decide(request, for: Self.app(testCase.forge, secrets: ["not-the-secret", "whsec_bm90LXRoZS1rZXk="]),
                                       now: WebhookFixture.gitlabSignedAt)
        }
    }

    /// GitLab's legacy token is not a signature over the body, so only signed forms qualify.
    @Test(arguments: queued.filter { $0.fixture != "gitlab-push" })
    func oneChangedByteIsRefused(_ testCase: Case) throws {
        let (headers, body) = try WebhookFixture.load(testCase.fixture)
        var tampered = body
        let index = tampered.firstIndex(of: UInt8(ascii: "5"))!
        tampered[index] = UInt8(ascii: "6")
        let request = WebhookRequest(headers: headers, body: tampered)
        #expect(throws: WebhookError.unauthorized) {
            try WebhookIntake().decide(request, for: Self.app(testCase.forge), now: WebhookFixture.gitlabSignedAt)
        }
    }

    @Test func ignoredFixturesCreateNoJob() throws {
        for (fixture, reasonPart) in [("github-push-other-branch", "refs/heads/feature/cart"),
                                      ("github-push-tag", "refs/tags/v1.4.0"),
                                      ("github-push-branch-deleted", "deleted")] {
            let decision = try WebhookIntake().decide(try WebhookFixture.request(fixture), for: Self.app(.github), now: Date())
            guard case .ignore(_, let reason) = decision else {
                Issue.record("\(fixture): expected ignore, got \(decision)")
                continue
            }
            #expect(reason.contains(reasonPart), "\(fixture): \(reason)")
        }
        let ping = try WebhookIntake().decide(try WebhookFixture.request("github-ping"), for: Self.app(.github), now: Date())
        #expect(ping == .ping(deliveryID: "5d0c1b20-c6a1-11f0-8f00-0a1b2c3d4e5f"))
    }

    @Test func githubPayloadDetailsAreRead() throws {
        let decision = try WebhookIntake().decide(try WebhookFixture.request("github-push"), for: Self.app(.github), now: Date())
        guard case .enqueue(let push) = decision else { Issue.record("\(decision)"); return }
        #expect(push.cloneURL == "https://github.com/acme/storefront.git")
        #expect(push.headCommitAuthor == "Dana Ops <dana@example.com>")
        #expect(push.headCommitMessage?.hasPrefix("Merge pull request #42") == true)
        #expect(push.changedPaths == ["deploy/cart-deployment.yaml", "deploy/kustomization.yaml", "src/cart/main.go"])
    }

    /// An app without path filters in a repository of its own does not need the changed files:
    /// the commit list is not read, and everything else is the same.
    @Test(arguments: ["github-push", "gitea-push"]) func changedPathsAreReadOnlyWhenWanted(fixture: String) throws {
        let forge: Forge = fixture.hasPrefix("gitea") ? .gitea : .github
        var request = try WebhookFixture.request(fixture)
        guard case .enqueue(let full) = try WebhookIntake().decide(request, for: Self.app(forge), now: Date()) else { Issue.record("no push"); return }
        request.wantsChangedPaths = false
        guard case .enqueue(var lean) = try WebhookIntake().decide(request, for: Self.app(forge), now: Date()) else { Issue.record("no push"); return }
        #expect(full.changedPaths?.isEmpty == false)
        #expect(lean.changedPaths == nil)
        lean.changedPaths = full.changedPaths
        #expect(lean == full)
    }

    @Test func appOnAnotherBranchIgnoresMainPushes() throws {
        var app = Self.app(.github)
        app.branch = "production"
        let decision = try WebhookIntake().decide(try WebhookFixture.request("github-push"), for: app, now: Date())
        guard case .ignore = decision else { Issue.record("\(decision)"); return }
    }
}
