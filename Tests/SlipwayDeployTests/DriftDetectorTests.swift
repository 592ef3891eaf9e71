import Foundation
import KubeTestServer
import Logging
import SlipwayCore
import SlipwayDeploy
import SlipwayKube
import SlipwayTestSupport
import Testing

@Suite struct DriftDetectorTests {
    @Test func onlyFieldsSlipwayAppliesCountAsDrift() async throws {
        try await DeployerTests.withDeployer { deployer, server, _ in
            let manifests = try DeployerTests.manifests(DeployerTests.base)
            let options = DeployerTests.options
            _ = try await deployer.deploy(manifests, options: options, previous: []) { _ in }
            let detector = DriftDetector(client: deployer.client)

            var (report, health) = try await detector.detect(desired: manifests, applySetID: options.applySetID, defaultNamespace: "shop")
            #expect(report.inSync, "\(report)")
            #expect(health == .healthy)
            #expect(report.objectCount == 4)

            // Another manager's own field (an annotation Slipway never set), and server defaults: still in sync.
            _ = await server.cluster.edit(apiVersion: "apps/v1", kind: "Deployment", namespace: "shop", name: "web", manager: "kubectl-annotate",
                                          patch: ["metadata": ["annotations": ["team": "payments"]], "spec": ["revisionHistoryLimit": 10]])
            (report, _) = try await detector.detect(desired: manifests, applySetID: options.applySetID, defaultNamespace: "shop")
            #expect(report.inSync, "\(report)")

            // A hand edit of a field Slipway applied: that exact field.
            _ = await server.cluster.edit(apiVersion: "v1", kind: "ConfigMap", namespace: "shop", name: "settings", manager: "kubectl-edit",
                                          patch: ["data": ["LOG_LEVEL": "debug"]])
            (report, _) = try await detector.detect(desired: manifests, applySetID: options.applySetID, defaultNamespace: "shop")
            #expect(report.drifted == [ObjectDrift(object: "ConfigMap shop/settings", kind: .changed,
                                                   fields: [FieldChange(path: "data.LOG_LEVEL", live: "\"debug\"", desired: "\"info\"")])])

            // A deleted object, and an extra one carrying the app's label.
            await server.cluster.remove(apiVersion: "v1", kind: "Service", namespace: "shop", name: "web")
            _ = try await deployer.client.apply(["apiVersion": "v1", "kind": "ConfigMap",
                                                 "metadata": ["name": "stray", "namespace": "shop", "labels": [.init(stringLiteral: Deployer.partOfLabel): .string(options.applySetID)]]],
                                                fieldManager: "someone", force: true)
            (report, health) = try await detector.detect(desired: manifests, applySetID: options.applySetID, defaultNamespace: "shop")
            #expect(Set(report.drifted.map(\.kind)) == [.changed, .missing, .extra])
            #expect(report.drifted.contains(ObjectDrift(object: "Service shop/web", kind: .missing)))
            #expect(report.drifted.contains(ObjectDrift(object: "ConfigMap shop/stray", kind: .extra)))
            #expect(health == .missing)

            // An image changed by hand: the container field, by its list key.
            _ = await server.cluster.edit(apiVersion: "apps/v1", kind: "Deployment", namespace: "shop", name: "web", manager: "kubectl-set",
                                          patch: ["spec": ["template": ["spec": ["containers": [["name": "web", "image": "shop:hotfix"]]]]]])
            (report, _) = try await detector.detect(desired: manifests, applySetID: options.applySetID, defaultNamespace: "shop")
            let web = report.drifted.first { $0.object == "Deployment shop/web" }
            #expect(web?.fields.contains(FieldChange(path: "spec.template.spec.containers[name=web].image", live: "\"shop:hotfix\"", desired: "\"shop:1\"")) == true, "\(String(describing: web))")
        }
    }

    @Test func secretValuesAreMaskedInDrift() async throws {
        try await DeployerTests.withDeployer { deployer, server, _ in
            let manifests = try DeployerTests.manifests("apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData: {password: hunter2}\n")
            _ = try await deployer.deploy(manifests, options: DeployerTests.options, previous: []) { _ in }
            _ = await server.cluster.edit(apiVersion: "v1", kind: "Secret", namespace: "shop", name: "creds", manager: "kubectl-edit",
                                          patch: ["stringData": ["password": "letmein"]])
            let (report, _) = try await DriftDetector(client: deployer.client).detect(desired: manifests, applySetID: DeployerTests.options.applySetID, defaultNamespace: "shop")
            #expect(report.drifted.first?.fields == [FieldChange(path: "stringData.password", live: "\"***\"", desired: "\"***\"")])
        }
    }
}
