import SlipwayCore
import SlipwayDeploy
@testable import SlipwayRunner
import Testing

/// The comment's text: summary, fields, collapsing where the forge can, fences that values
/// cannot break out of, secrets masked, and a size the forges take.
@Suite struct PreviewCommentTextTests {
    static func comment(_ forge: Forge, fork: Bool = false) -> PreviewComment {
        var app = AppConfig(name: "shop", repoURL: "https://example.com/acme/shop.git", forge: forge, webhookSecrets: [SecretValue("s")])
        app.target = DeployTarget(cluster: "prod", namespace: "shop")
        let job = Job(id: 42, app: "shop", forge: forge, deliveryID: nil, trigger: .preview, ref: "refs/pull/7/head", before: nil,
                      commit: String(repeating: "c", count: 40), message: nil, author: nil, status: .running, reason: nil, createdAt: .now,
                      startedAt: nil, finishedAt: nil, pullRequest: 7, fromFork: fork)
        return PreviewComment(app: app, job: job, link: "https://slipway.example.com/jobs/42")
    }

    static func manyFields(_ count: Int) -> DeployPreview.ObjectChange {
        DeployPreview.ObjectChange(object: "ConfigMap shop/big", action: .update,
                                   changes: (1...count).map { FieldChange(path: "data.k\($0)", live: "\"a\"", desired: "\"b\"") })
    }

    @Test func longObjectsCollapseWhereTheForgeRendersDetailsAndAreCutElsewhere() {
        let objects = [Self.manyFields(12), DeployPreview.ObjectChange(object: "Deployment shop/web", action: .unchanged, changes: [])]
        let github = Self.comment(.github).markdown(objects, masker: SecretMasker(secrets: []))
        #expect(github.hasPrefix("### Slipway preview: `shop`\n\nMerging #7 at `cccccccccccc` would change the live cluster (cluster `prod`, namespace `shop`):"))
        #expect(github.contains("**0 to create, 1 to change, 0 to prune, 0 refused (1 unchanged)** · [job 42](https://slipway.example.com/jobs/42)"))
        #expect(github.contains("<details><summary>**change** `ConfigMap shop/big` (12 fields)</summary>"))
        #expect(github.contains("~ data.k12: \"a\" → \"b\""))
        #expect(!github.contains("Deployment shop/web"), "unchanged objects are only counted")
        let bitbucket = Self.comment(.bitbucketCloud).markdown(objects, masker: SecretMasker(secrets: []))
        #expect(!bitbucket.contains("<details>"))
        #expect(bitbucket.contains("~ data.k8: \"a\" → \"b\"") && !bitbucket.contains("data.k9:"))
        #expect(bitbucket.contains("… 4 more fields in the job's log"))
    }

    @Test func valuesCannotEndTheirFenceAndSecretsAreMasked() {
        let sneaky = DeployPreview.ObjectChange(object: "ConfigMap shop/x", action: .create,
                                                changes: [FieldChange(path: "data.note", live: nil, desired: "\"```\\n# heading token-123\"")])
        let refused = DeployPreview.ObjectChange(object: "Namespace other", action: .refused, changes: [],
                                                 reason: "deploy/ns.yaml#1: cluster-scoped kind Namespace is not allowed for app 'shop' (`x`)")
        let text = Self.comment(.gitlab, fork: true).markdown([sneaky, refused], masker: SecretMasker(secrets: ["token-123"]))
        #expect(text.contains("````\n+ data.note: \"```\\n# heading ***\"\n````"), "\(text)")
        #expect(!text.contains("token-123"))
        #expect(text.contains("**refused** `Namespace other`: `` deploy/ns.yaml#1: cluster-scoped kind Namespace is not allowed for app 'shop' (`x`) ``"))
        #expect(text.contains("_From a fork: rendered without the app's secrets; no pipeline steps ran._"))
    }

    @Test func aHugePreviewStaysUnderTheForgesLimit() {
        let objects = (1...400).map { n in
            DeployPreview.ObjectChange(object: "ConfigMap shop/c\(n)", action: .create,
                                       changes: (1...5).map { FieldChange(path: "data.key\($0)", live: nil, desired: "\"\(String(repeating: "v", count: 40))\"") })
        }
        let text = Self.comment(.github).markdown(objects, masker: SecretMasker(secrets: []))
        #expect(text.count <= PreviewComment.limit + 200)
        #expect(text.contains("more object(s): see [the job's log](https://slipway.example.com/jobs/42)."))
    }

    @Test func aFailedPreviewSaysWhy() {
        let text = Self.comment(.gitea).failure("render: the render command failed (exited(2)): helm template .", masker: SecretMasker(secrets: []))
        #expect(text.contains("**The preview failed:** `render: the render command failed (exited(2)): helm template .` · [job 42]"))
    }
}
