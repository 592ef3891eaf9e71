import Foundation
import KubeTestServer
import SlipwayCore
import SlipwayKube
import SlipwayTestSupport
import Testing

/// Slipway's client as a service account with narrow rights, and LISTs longer than a page.
@Suite struct AccessAndPagingTests {
    static let rbac: [JSONValue] = [
        ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "team"]],
        ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "other"]],
        // Only the ConfigMap named `allowed`, in `team`.
        ["apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": ["name": "one", "namespace": "team"],
         "rules": [["apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["allowed"], "verbs": ["get", "patch", "create"]]]],
        ["apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": ["name": "one", "namespace": "team"],
         "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "one"],
         "subjects": [["kind": "ServiceAccount", "name": "deployer", "namespace": "team"]]],
        // A ClusterRole bound in one namespace reaches only that namespace.
        ["apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": ["name": "read-services"],
         "rules": [["apiGroups": [""], "resources": ["services"], "verbs": ["list"]]]],
        ["apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": ["name": "read-services", "namespace": "team"],
         "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "read-services"],
         "subjects": [["kind": "ServiceAccount", "name": "deployer", "namespace": "team"]]],
        // A ClusterRoleBinding reaches every namespace.
        ["apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": ["name": "read-deployments"],
         "rules": [["apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["list", "get"]]]],
        ["apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": ["name": "read-deployments"],
         "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "read-deployments"],
         "subjects": [["kind": "Group", "name": "system:serviceaccounts:team"]]],
    ]

    @Test func rbacDecidesByVerbResourceNamespaceAndName() async throws {
        let server = try await KubeTestServer.start()
        let admin = try server.client()
        for object in Self.rbac { _ = try await admin.apply(object, fieldManager: "setup", force: true) }
        let token = await server.cluster.serviceAccountToken(namespace: "team", name: "deployer")
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try server.writeKubeconfig(to: dir.path + "/kubeconfig", token: token)
        let deployer = try KubeClient(access: try ClusterAccess.kubeconfig(path: dir.path + "/kubeconfig"), logger: .init(label: "test"))
        func configMap(_ name: String, _ namespace: String) -> JSONValue {
            ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": .string(name), "namespace": .string(namespace)], "data": ["k": "v"]]
        }

        _ = try await deployer.apply(configMap("allowed", "team"), fieldManager: "slipway", force: true)
        #expect(try await deployer.get(apiVersion: "v1", kind: "ConfigMap", namespace: "team", name: "allowed") != nil)
        await #expect(throws: KubeError.status(code: 403, reason: "Forbidden",
                                               message: #"configmaps "other-name" is forbidden: User "system:serviceaccount:team:deployer" cannot patch resource "configmaps" in API group "" in the namespace "team""#,
                                               causes: [])) {
            try await deployer.apply(configMap("other-name", "team"), fieldManager: "slipway", force: true)
        }
        await #expect(throws: KubeError.self) { try await deployer.apply(configMap("allowed", "other"), fieldManager: "slipway", force: true) }
        #expect(try await deployer.list(apiVersion: "v1", kind: "Service", namespace: "team", labelSelector: "a=b").isEmpty)
        await #expect(throws: KubeError.self) { try await deployer.list(apiVersion: "v1", kind: "Service", namespace: "other", labelSelector: "a=b") }
        #expect(try await deployer.list(apiVersion: "apps/v1", kind: "Deployment", namespace: "other", labelSelector: "a=b").isEmpty)
        await #expect(throws: KubeError.self) { try await deployer.list(apiVersion: "apps/v1", kind: "StatefulSet", namespace: "team", labelSelector: "a=b") }
        await deployer.shutdown()
        await admin.shutdown()
        await server.stop()
    }

    @Test func listsFollowContinueTokensToTheEnd() async throws {
        let server = try await KubeTestServer.start()
        let client = try server.client()
        _ = try await client.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "paged"]], fieldManager: "setup", force: true)
        for index in 1...7 {
            _ = try await client.apply(["apiVersion": "v1", "kind": "ConfigMap",
                                        "metadata": ["name": .string("page-\(index)"), "namespace": "paged", "labels": ["paging": "yes"]]],
                                       fieldManager: "setup", force: true)
        }
        let (items, version) = try await client.listWithVersion(apiVersion: "v1", kind: "ConfigMap", namespace: "paged", labelSelector: "paging=yes", pageSize: 3)
        #expect(items.map { $0[path: ["metadata", "name"]]?.stringValue ?? "" } == (1...7).map { "page-\($0)" })
        #expect(!version.isEmpty)
        let gets = await server.cluster.requestLog.filter { $0.hasPrefix("GET /api/v1/namespaces/paged/configmaps?") }
        #expect(gets.count == 3, "\(gets)")
        #expect(gets.dropFirst().allSatisfy { $0.contains("continue=") })
        await client.shutdown()
        await server.stop()
    }
}
