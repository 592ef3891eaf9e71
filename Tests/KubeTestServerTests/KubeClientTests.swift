import Crypto
import Foundation
import KubeTestServer
import Logging
import SlipwayCore
import SlipwayKube
import SlipwayTestSupport
import Testing
import X509

/// Slipway's Kubernetes client against the test API server: every way a kubeconfig says how
/// to connect, retries, and the API's own error messages.
@Suite struct KubeClientTests {
    static let logger = Logger(label: "kube-client-test")

    static let configMap: JSONValue = [
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": ["name": "settings", "namespace": "shop", "labels": ["app": "shop"]],
        "data": ["LOG_LEVEL": "info"],
    ]
    static let namespace: JSONValue = ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "shop"]]

    @Test func kubeconfigWithTokenAndCADataAppliesGetsListsDeletes() async throws {
        let server = try await KubeTestServer.start()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try server.writeKubeconfig(to: dir.path + "/kubeconfig", namespace: "shop")
        let access = try ClusterAccess.kubeconfig(path: dir.path + "/kubeconfig")
        #expect(access.namespace == "shop")
        let client = try KubeClient(access: access, logger: Self.logger)

        let created = try await client.apply(Self.namespace, fieldManager: "slipway", force: true)
        #expect(created[path: ["status", "phase"]] == "Active")
        let dry = try await client.apply(Self.configMap, fieldManager: "slipway", force: true, dryRun: true)
        #expect(dry[path: ["metadata", "name"]] == "settings")
        #expect(try await client.get(apiVersion: "v1", kind: "ConfigMap", namespace: "shop", name: "settings") == nil)
        _ = try await client.apply(Self.configMap, fieldManager: "slipway", force: true)
        let listed = try await client.list(apiVersion: "v1", kind: "ConfigMap", namespace: nil, labelSelector: "app=shop")
        #expect(listed.map { $0[path: ["metadata", "name"]] } == ["settings"])
        #expect(listed.first?["kind"] == "ConfigMap")
        #expect(try await client.list(apiVersion: "v1", kind: "ConfigMap", namespace: "shop", labelSelector: "app=other").isEmpty)
        #expect(try await client.delete(apiVersion: "v1", kind: "ConfigMap", namespace: "shop", name: "settings"))
        // Foreground: still there, marked, until the garbage collector is done (as recorded).
        let marked = try await client.get(apiVersion: "v1", kind: "ConfigMap", namespace: "shop", name: "settings")
        #expect(marked?[path: ["metadata", "finalizers"]] == ["foregroundDeletion"])
        try await waitFor { try await client.get(apiVersion: "v1", kind: "ConfigMap", namespace: "shop", name: "settings") == nil }
        #expect(!(try await client.delete(apiVersion: "v1", kind: "ConfigMap", namespace: "shop", name: "settings")))
        await client.shutdown()
        await server.stop()
    }

    @Test func tokenFileCAFileAndInsecureVariants() async throws {
        let server = try await KubeTestServer.start(authentication: .bearerToken("from-a-file"))
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        _ = try dir.write("token", "from-a-file\n")
        try FileManager.default.copyItem(atPath: server.certificatePath, toPath: dir.path + "/ca.crt")
        let kubeconfig = try dir.write("kubeconfig", """
            apiVersion: v1
            kind: Config
            current-context: files
            clusters:
              - {name: c, cluster: {server: "\(server.url)", certificate-authority: ca.crt}}
              - {name: insecure, cluster: {server: "\(server.url)", insecure-skip-tls-verify: true}}
              - {name: untrusted, cluster: {server: "\(server.url)"}}
            users:
              - {name: u, user: {tokenFile: token}}
            contexts:
              - {name: files, context: {cluster: c, user: u}}
              - {name: insecure, context: {cluster: insecure, user: u}}
              - {name: untrusted, context: {cluster: untrusted, user: u}}
            """)
        for context in ["files", "insecure"] {
            let client = try KubeClient(access: try ClusterAccess.kubeconfig(path: kubeconfig, context: context), logger: Self.logger)
            #expect(try await client.resource(apiVersion: "apps/v1", kind: "Deployment").plural == "deployments", "\(context)")
            await client.shutdown()
        }
        // The server's certificate is not in the system trust store.
        let untrusted = try KubeClient(access: try ClusterAccess.kubeconfig(path: kubeconfig, context: "untrusted"),
                                       retry: RetryPolicy(attempts: 1), logger: Self.logger)
        await #expect(throws: KubeError.self) { try await untrusted.resource(apiVersion: "v1", kind: "ConfigMap") }
        await untrusted.shutdown()
        #expect(throws: KubeError.configuration("\(kubeconfig): no context named 'nope' in contexts")) {
            try ClusterAccess.kubeconfig(path: kubeconfig, context: "nope")
        }
        await server.stop()
    }

    @Test func clientCertificates() async throws {
        let ca = try TestCA()
        let (certificate, key) = try ca.issue(commonName: "slipway")
        let server = try await KubeTestServer.start(authentication: .clientCertificate(caPEM: ca.certificatePEM))
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        _ = try dir.write("client.crt", certificate)
        _ = try dir.write("client.key", key)
        let serverCA = try Data(contentsOf: URL(fileURLWithPath: server.certificatePath)).base64EncodedString()
        let kubeconfig = try dir.write("kubeconfig", """
            apiVersion: v1
            kind: Config
            current-context: data
            clusters:
              - {name: c, cluster: {server: "\(server.url)", certificate-authority-data: \(serverCA)}}
            users:
              - {name: files, user: {client-certificate: client.crt, client-key: client.key}}
              - {name: data, user: {client-certificate-data: \(Data(certificate.utf8).base64EncodedString()), client-key-data: \(Data(key.utf8).base64EncodedString())}}
              - {name: none, user: {}}
            contexts:
              - {name: files, context: {cluster: c, user: files}}
              - {name: data, context: {cluster: c, user: data}}
              - {name: none, context: {cluster: c, user: none}}
            """)
        for context in ["files", "data"] {
            let client = try KubeClient(access: try ClusterAccess.kubeconfig(path: kubeconfig, context: context), logger: Self.logger)
            _ = try await client.apply(Self.namespace, fieldManager: "slipway", force: true)
            await client.shutdown()
        }
        let anonymous = try KubeClient(access: try ClusterAccess.kubeconfig(path: kubeconfig, context: "none"),
                                       retry: RetryPolicy(attempts: 1), logger: Self.logger)
        await #expect(throws: KubeError.self) { try await anonymous.resource(apiVersion: "v1", kind: "ConfigMap") }
        await anonymous.shutdown()
        await server.stop()
    }

    @Test func retriesHonourRetryAfterAndGiveUpWithTheAPIMessage() async throws {
        let server = try await KubeTestServer.start()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try server.writeKubeconfig(to: dir.path + "/kubeconfig")
        let client = try KubeClient(access: try ClusterAccess.kubeconfig(path: dir.path + "/kubeconfig"),
                                    retry: RetryPolicy(attempts: 4, baseDelay: .milliseconds(10)), logger: Self.logger)
        _ = try await client.apply(Self.namespace, fieldManager: "slipway", force: true)

        await server.cluster.failNext(2, status: 503)
        await server.cluster.failNext(1, status: 429, retryAfter: 1)
        let retries = RetryLog()
        _ = try await client.apply(Self.configMap, fieldManager: "slipway", force: true, onRetry: { await retries.add($0) })
        let seen = await retries.lines
        #expect(seen.count == 3)
        #expect(seen[0].contains("answered 503"))
        #expect(seen[2].contains("answered 429") && seen[2].contains("trying again in 1.0 seconds"), "\(seen)")

        await server.cluster.failNext(4, status: 500)
        do {
            _ = try await client.apply(Self.configMap, fieldManager: "slipway", force: true)
            Issue.record("expected a failure")
        } catch {
            #expect(error.code == 500)
            #expect("\(error)".contains("injected failure 500"))
        }

        // A conflict is not retried: its Status message names field and manager.
        _ = await server.cluster.edit(apiVersion: "v1", kind: "ConfigMap", namespace: "shop", name: "settings", manager: "kubectl-edit",
                                      patch: ["data": ["LOG_LEVEL": "debug"]])
        do {
            _ = try await client.apply(Self.configMap, fieldManager: "slipway", force: false)
            Issue.record("expected a conflict")
        } catch {
            #expect(error.code == 409)
            #expect("\(error)" == "409 Conflict: Apply failed with 1 conflict: conflict with \"kubectl-edit\" using v1: .data.LOG_LEVEL")
        }
        await #expect(throws: KubeError.unknownKind(apiVersion: "example.com/v1", kind: "Widget")) {
            try await client.resource(apiVersion: "example.com/v1", kind: "Widget")
        }
        await client.shutdown()
        await server.stop()
    }

    @Test func inClusterServiceAccount() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        _ = try dir.write("token", "sa-token")
        _ = try dir.write("ca.crt", "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
        _ = try dir.write("namespace", "slipway\n")
        let access = try ClusterAccess.inCluster(environment: ["KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"],
                                                 serviceAccountDirectory: dir.path)
        #expect(access.server == "https://10.0.0.1:443")
        #expect(access.namespace == "slipway")
        #expect(throws: KubeError.self) { try ClusterAccess.inCluster(environment: [:], serviceAccountDirectory: dir.path) }
    }
}

actor RetryLog {
    var lines: [String] = []
    func add(_ line: String) { lines.append(line) }
}

/// A throwaway certificate authority for client-certificate tests.
struct TestCA {
    let key = P256.Signing.PrivateKey()
    let certificate: Certificate

    init() throws {
        let name = try DistinguishedName { CommonName("Slipway test CA") }
        let now = Date()
        certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-60), notValidAfter: now.addingTimeInterval(3600),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true))
            },
            issuerPrivateKey: .init(key))
    }

    var certificatePEM: String { (try? certificate.serializeAsPEM().pemString) ?? "" }

    func issue(commonName: String) throws -> (certificatePEM: String, keyPEM: String) {
        let clientKey = P256.Signing.PrivateKey()
        let now = Date()
        let issued = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(clientKey.publicKey),
            notValidBefore: now.addingTimeInterval(-60), notValidAfter: now.addingTimeInterval(3600),
            issuer: certificate.subject, subject: try DistinguishedName { CommonName(commonName) },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.clientAuth])
            },
            issuerPrivateKey: .init(key))
        return (try issued.serializeAsPEM().pemString, clientKey.pemRepresentation)
    }
}
