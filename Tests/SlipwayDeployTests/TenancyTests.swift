import Foundation
import KubeTestServer
import SlipwayCore
import SlipwayDeploy
import SlipwayKube
import SlipwayTestSupport
import Testing

/// An app deploys only where it may: its namespaces, the cluster-scoped kinds it is given, never
/// a denied kind; and with a service account, only what the cluster's RBAC lets that account do.
@Suite struct TenancyTests {
    static let manifests = """
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: mine}
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: theirs, namespace: billing}
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRole
        metadata: {name: escalate}
        rules: [{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}]
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: RoleBinding
        metadata: {name: bind}
        roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: escalate}
        subjects: [{kind: User, name: someone}]
        """

    @Test func rulesNameFileDocumentKindNamespaceAndRule() async throws {
        let server = try await KubeTestServer.start()
        let client = try server.client()
        var target = DeployTarget(cluster: "test", namespace: "shop")
        target.deniedKinds = ["RoleBinding"]
        let rules = TenancyRules(app: "shop", target: target)
        let plan = try await Deployer(client: client).plan(try Renderer.renderOutput(Self.manifests, variables: [:]),
                                                           defaultNamespace: "shop", applySetID: "applyset-x-v1")
        let found = rules.violations(plan)
        #expect(found.count == 3)
        #expect(found.contains("render command output document 2 (line 5): ConfigMap billing/theirs: namespace 'billing' is not allowed for app 'shop' (allowed_namespaces: shop)"), "\(found)")
        #expect(found.contains { $0.hasSuffix("ClusterRole escalate: cluster-scoped kind ClusterRole is not allowed for app 'shop' (allowed_cluster_kinds: none)") }, "\(found)")
        #expect(found.contains { $0.hasSuffix("RoleBinding shop/bind: kind RoleBinding is denied for app 'shop' (denied_kinds)") }, "\(found)")

        // Allowed, the same objects pass.
        target.allowedNamespaces = ["shop", "billing"]
        target.allowedClusterKinds = ["ClusterRole"]
        target.deniedKinds = []
        #expect(TenancyRules(app: "shop", target: target).violations(plan).isEmpty)

        // A deploy with rules stops before any request changes anything.
        var options = Deployer.Options(defaultNamespace: "shop", applySetID: "applyset-x-v1")
        options.rules = rules
        await #expect(throws: DeployError.self) {
            try await Deployer(client: client).deploy(try Renderer.renderOutput(Self.manifests, variables: [:]), options: options, previous: []) { _ in }
        }
        #expect(await server.cluster.requestLog.allSatisfy { !$0.hasPrefix("PATCH") })
        await client.shutdown()
        await server.stop()
    }

    /// With `service_account`, every request carries `Impersonate-User`, and the API's 403
    /// fails the job: the account's Role allows ConfigMaps in `shop`, nothing else.
    @Test func anAppActsAsItsServiceAccount() async throws {
        let kube = try await KubeTestServer.start(controllers: true)
        let admin = try kube.client()
        for object: JSONValue in [
            ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "shop"]],
            ["apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": ["name": "deployer", "namespace": "shop"],
             "rules": [["apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch", "create", "patch", "delete"]]]],
            ["apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": ["name": "deployer", "namespace": "shop"],
             "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "deployer"],
             "subjects": [["kind": "ServiceAccount", "name": "deployer", "namespace": "shop"]]],
        ] { _ = try await admin.apply(object, fieldManager: "setup", force: true) }
        let repository = try GitRepository.make(files: [
            ".slipway.yaml": "deploy:\n  manifests: deploy\n  wait: 20s\n",
            "deploy/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: b}\n",
        ])
        defer { repository.directory.remove() }
        try await withLiveServer(runner: true, clusters: ["test": admin], configure: { config in
            config.apps[0].repoURL = repository.url
            config.apps[0].target = DeployTarget(cluster: "test", namespace: "shop")
            config.apps[0].target?.serviceAccount = "shop/deployer"
        }) { server in
            let first = try await server.push(app: "github", commit: try repository.head())
            let done = try await server.waitForEnd(of: first)
            let log = try await server.log(of: first)
            #expect(done.status == .succeeded, "\(done.reason ?? "")\n\(log)")
            #expect(await kube.cluster.object(apiVersion: "v1", kind: "ConfigMap", namespace: "shop", name: "settings") != nil)

            try repository.commit(files: ["deploy/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: token}\nstringData: {a: b}\n"], message: "a secret")
            let second = try await server.push(app: "github", commit: try repository.head())
            let refused = try await server.waitForEnd(of: second)
            #expect(refused.status == .failed)
            #expect(refused.reason?.contains(#"secrets "token" is forbidden: User "system:serviceaccount:shop:deployer" cannot patch resource "secrets" in API group "" in the namespace "shop""#) == true,
                    "\(refused.reason ?? "")")
            #expect(await kube.cluster.object(apiVersion: "v1", kind: "Secret", namespace: "shop", name: "token") == nil)
        }
        await admin.shutdown()
        await kube.stop()
    }
}

/// What the server reads for an app stays inside the app's workspace.
@Suite struct RenderBoundaryTests {
    /// The server renders manifest files itself: a link out of the workspace is refused.
    @Test func aManifestLinkOutOfTheWorkspaceIsRefused() throws {
        let outside = try TemporaryDirectory("slipway-outside")
        defer { outside.remove() }
        let secret = try outside.write("admin-token", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: leaked}\n")
        let workspace = try TemporaryDirectory("slipway-workspace")
        defer { workspace.remove() }
        try FileManager.default.createDirectory(atPath: workspace.path + "/deploy", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: workspace.path + "/deploy/token.yaml", withDestinationPath: secret)
        #expect(throws: DeployError("deploy/token.yaml: leads outside the workspace (a symbolic link); manifests must be files in the repository")) {
            try Renderer.renderFolder("deploy", workspace: workspace.path, variables: [:])
        }
    }
}
