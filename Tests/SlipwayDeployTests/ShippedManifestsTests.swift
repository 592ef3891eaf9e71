import Foundation
import SlipwayConfig
import SlipwayCore
import SlipwayDeploy
import Testing

/// `deploy/`, the manifests that run Slipway as replicas, read the way Slipway reads an app's
/// manifests: so Slipway can deploy itself.
@Suite struct ShippedManifestsTests {
    @Test func theReplicaManifestsRenderAndTheirConfigurationLoads() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized.path
        let manifests = try Renderer.renderFolder("deploy", workspace: root, variables: [:])
        try Renderer.validate(manifests)
        let kinds = manifests.map(\.kind)
        #expect(kinds.sorted() == ["ConfigMap", "Deployment", "Namespace", "Namespace", "PodDisruptionBudget", "Role", "RoleBinding", "Service", "ServiceAccount"])
        // The builds namespace's Role: job pods, their logs, Secrets and policies, nothing cluster-wide.
        let role = try #require(manifests.first { $0.kind == "Role" })
        #expect(role.namespace == "slipway-builds")
        let resources = (role.object["rules"]?.arrayValue ?? []).flatMap { $0["resources"]?.arrayValue ?? [] }
        #expect(resources == ["pods", "pods/log", "secrets", "networkpolicies"])
        #expect(!kinds.contains("ClusterRole"))
        let deployment = try #require(manifests.first { $0.kind == "Deployment" })
        #expect(deployment.object[path: ["spec", "replicas"]] == .int(3))

        // The configuration in the ConfigMap is a valid server configuration on PostgreSQL.
        let configMap = try #require(manifests.first { $0.kind == "ConfigMap" })
        let text = try #require(configMap.object[path: ["data", "slipway.yaml"]]?.stringValue)
        let config = try ServerConfig.parse(text, file: "deploy/slipway.yaml", environment: [
            "SLIPWAY_DATABASE_URL": "postgres://slipway:secret@postgres.db:5432/slipway?sslmode=require",
            "SLIPWAY_ADMIN_TOKEN": "admin", "STOREFRONT_WEBHOOK_SECRET": "hook",
        ])
        #expect(config.store == .postgres(url: SecretValue("postgres://slipway:secret@postgres.db:5432/slipway?sslmode=require"), pool: 10))
        #expect(config.lease == .seconds(30))
        #expect(config.apps.map(\.name) == ["storefront"])
        #expect(config.executor == .kubernetes)
        #expect(config.kubernetes?.namespace == "slipway-builds")
    }
}
