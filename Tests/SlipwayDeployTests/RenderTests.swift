import Foundation
import SlipwayConfig
import SlipwayCore
import SlipwayDeploy
import SlipwayTestSupport
import Testing

@Suite struct RenderTests {
    func error(_ body: () throws -> Void) -> String? {
        do { try body(); return nil } catch { return (error as? DeployError)?.message ?? "\(error)" }
    }

    @Test func substitutionDefaultsAndUndefinedVariables() throws {
        let values = ["SLIPWAY_COMMIT_SHORT": "5f2e8a7", "REPLICAS": "3"]
        #expect(try VariableSubstitution.apply("image: shop:${SLIPWAY_COMMIT_SHORT}", variables: values) == "image: shop:5f2e8a7")
        #expect(try VariableSubstitution.apply("level: ${LOG_LEVEL:=info}", variables: values) == "level: info")
        #expect(try VariableSubstitution.apply("r: ${REPLICAS:=1}", variables: values) == "r: 3")
        #expect(try VariableSubstitution.apply("keep: $${HOME} and $PATH and ${not a var}", variables: values) == "keep: ${HOME} and $PATH and ${not a var}")
        #expect(throws: VariableSubstitution.Undefined(name: "TAG", line: 2)) {
            try VariableSubstitution.apply("a: 1\nimage: x:${TAG}\n", variables: values)
        }
        let spec = DeploySpec(manifests: "deploy", variables: ["IMAGE": "shop:${SLIPWAY_COMMIT_SHORT}"])
        #expect(try Renderer.variables(spec: spec, builtIn: values)["IMAGE"] == "shop:5f2e8a7")
        #expect(error { _ = try Renderer.variables(spec: DeploySpec(variables: ["X": "${NOPE}"]), builtIn: [:]) } == "deploy.variables.X: variable ${NOPE} is not defined")
    }

    @Test func foldersAreReadRecursivelyInPathOrderWithListsAndJSON() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        _ = try dir.write("deploy/b/service.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: shop}\nspec: {ports: [{port: 80}]}\n")
        _ = try dir.write("deploy/a/config.yml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: one}\n---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: two}\n")
        _ = try dir.write("deploy/c.json", #"{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}]}"#)
        _ = try dir.write("deploy/README.md", "not a manifest")
        let manifests = try Renderer.renderFolder("deploy", workspace: dir.path, variables: [:])
        #expect(manifests.map(\.name) == ["one", "two", "shop", "s"])
        #expect(manifests.map(\.source) == ["deploy/a/config.yml", "deploy/a/config.yml", "deploy/b/service.yaml", "deploy/c.json"])
        #expect(manifests[1].index == 2)
        #expect(manifests[1].line == 6)
    }

    @Test func badDocumentsNameFileAndDocument() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        _ = try dir.write("k8s/app.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\nkind: Secret\nmetadata: {name: b}\n")
        let missing = error { try Renderer.validate(try Renderer.renderFolder("k8s", workspace: dir.path, variables: [:])) }
        #expect(missing == "k8s/app.yaml document 2 (line 6): missing apiVersion")

        _ = try dir.write("k8s/app.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
        _ = try dir.write("k8s/again.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
        let duplicate = error { try Renderer.validate(try Renderer.renderFolder("k8s", workspace: dir.path, variables: [:])) }
        #expect(duplicate == "k8s/app.yaml document 1 (line 1): ConfigMap a is also defined in k8s/again.yaml document 1 (line 1)")

        _ = try dir.write("k8s/again.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [b\n")
        let invalid = error { _ = try Renderer.renderFolder("k8s", workspace: dir.path, variables: [:]) }
        #expect(invalid?.hasPrefix("k8s/again.yaml:4:1: invalid YAML: while parsing a flow sequence in line 3, column 18: did not find expected") == true, "\(invalid ?? "")")

        _ = try dir.write("k8s/again.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\ndata: {tag: \"${TAG}\"}\n")
        let undefined = error { _ = try Renderer.renderFolder("k8s", workspace: dir.path, variables: [:]) }
        #expect(undefined?.hasPrefix("k8s/again.yaml:4: variable ${TAG} is not defined") == true, "\(undefined ?? "")")
        #expect(error { _ = try Renderer.renderFolder("nowhere", workspace: dir.path, variables: [:]) } == "deploy.manifests: nowhere is not in the repository")
    }

    @Test func planOrdersKindsFillsNamespacesAndRefusesUnknownKinds() async throws {
        func manifest(_ kind: String, _ name: String, apiVersion: String = "v1", namespace: String? = nil, extra: JSONValue = [:]) -> Manifest {
            var object: JSONValue = ["apiVersion": .string(apiVersion), "kind": .string(kind), "metadata": ["name": .string(name)]]
            if let namespace { object["metadata"]?["namespace"] = .string(namespace) }
            if case .object(let fields) = extra { for (key, value) in fields { object[key] = value } }
            return Manifest(object: object, source: "m.yaml", index: 0, line: 1)
        }
        let crd = manifest("CustomResourceDefinition", "widgets.example.com", apiVersion: "apiextensions.k8s.io/v1",
                           extra: ["spec": ["group": "example.com", "scope": "Namespaced", "names": ["kind": "Widget"], "versions": [["name": "v1"]]]])
        let set = [
            manifest("ValidatingWebhookConfiguration", "hook", apiVersion: "admissionregistration.k8s.io/v1"),
            manifest("Deployment", "web", apiVersion: "apps/v1"),
            manifest("Widget", "w", apiVersion: "example.com/v1"),
            manifest("ConfigMap", "b", namespace: "other"), manifest("ConfigMap", "a"),
            manifest("Namespace", "shop", namespace: "ignored"), crd, manifest("ServiceAccount", "sa"),
        ]
        let clusterScoped: Set<String> = ["Namespace", "ValidatingWebhookConfiguration", "CustomResourceDefinition"]
        let plan = try await ApplyPlan.make(set, defaultNamespace: "shop") { _, kind in
            kind == "Widget" ? nil : !clusterScoped.contains(kind)
        }
        #expect(plan.stages[0].map(\.kind) == ["CustomResourceDefinition", "Namespace"])
        #expect(plan.stages[1].map(\.kind) == ["ServiceAccount", "ConfigMap", "ConfigMap", "Deployment", "Widget", "ValidatingWebhookConfiguration"])
        #expect(plan.stages[1].filter { $0.kind == "ConfigMap" }.map(\.namespace) == ["other", "shop"])
        #expect(plan.stages[0].first { $0.kind == "Namespace" }?.namespace == nil)
        #expect(plan.stages[1].first { $0.kind == "Widget" }?.namespace == "shop")

        do {
            _ = try await ApplyPlan.make([manifest("Gadget", "g", apiVersion: "example.com/v1")], defaultNamespace: "shop") { _, _ in nil }
            Issue.record("an unknown kind was accepted")
        } catch {
            #expect(error.message == "m.yaml document 1 (line 1): the cluster does not know kind Gadget in example.com/v1")
        }
        let order = ApplyPlan.pruneOrder([
            ObjectReference(apiVersion: "v1", kind: "Namespace", namespace: nil, name: "shop"),
            ObjectReference(apiVersion: "v1", kind: "ConfigMap", namespace: "shop", name: "c"),
            ObjectReference(apiVersion: "apps/v1", kind: "Deployment", namespace: "shop", name: "d"),
        ])
        #expect(order.map(\.kind) == ["Deployment", "ConfigMap", "Namespace"])
    }

    @Test func healthRules() {
        func deployment(_ status: JSONValue, replicas: Int64 = 2, generation: Int64 = 3) -> JSONValue {
            ["kind": "Deployment", "metadata": ["generation": .int(generation)], "spec": ["replicas": .int(replicas)], "status": status]
        }
        #expect(HealthRules.assess(deployment(["observedGeneration": 3, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2])) == .healthy)
        #expect(HealthRules.assess(deployment(["observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2])) == .progressing("waiting for the controller to observe generation 3"))
        #expect(HealthRules.assess(deployment(["observedGeneration": 3, "replicas": 3, "updatedReplicas": 2, "availableReplicas": 2])) == .progressing("1 old replicas are still terminating"))
        #expect(HealthRules.assess(deployment(["observedGeneration": 3, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 1])) == .progressing("1 of 2 updated replicas available"))
        let stuck = deployment(["observedGeneration": 3, "conditions": [["type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "timed out"]]])
        #expect(HealthRules.assess(stuck) == .degraded("ProgressDeadlineExceeded: timed out"))
        #expect(HealthRules.assess(["kind": "Job", "status": ["conditions": [["type": "Complete", "status": "True"]]]]) == .healthy)
        #expect(HealthRules.assess(["kind": "Job", "status": ["conditions": [["type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"]]]]) == .degraded("job failed: BackoffLimitExceeded"))
        #expect(HealthRules.assess(["kind": "Job", "status": [:]]) == .progressing("waiting for the job to complete"))
        #expect(HealthRules.assess(["kind": "Certificate", "status": ["conditions": [["type": "Ready", "status": "False"]]]]) == .progressing("Ready is False"))
        #expect(HealthRules.assess(["kind": "Certificate", "status": ["conditions": [["type": "Stalled", "status": "True", "message": "bad issuer"]]]]) == .degraded("Stalled: bad issuer"))
        #expect(HealthRules.assess(["kind": "ConfigMap"]) == .healthy)
        #expect(HealthRules.assess(["kind": "CustomResourceDefinition", "status": ["conditions": [["type": "Established", "status": "True"]]]]) == .healthy)
        #expect(HealthRules.assess(["kind": "StatefulSet", "metadata": ["generation": 1], "spec": ["replicas": 2],
                                    "status": ["observedGeneration": 1, "readyReplicas": 1, "updatedReplicas": 2]]) == .progressing("1 of 2 replicas ready"))
        #expect(HealthRules.assess(["kind": "DaemonSet", "metadata": ["generation": 1],
                                    "status": ["observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 3]]) == .healthy)
    }
}
