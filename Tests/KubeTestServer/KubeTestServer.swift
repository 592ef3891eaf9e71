public import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import HTTPTypes
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import SlipwayConfig
public import SlipwayCore
import SlipwayServer
import SlipwayTestSupport
public import SlipwayKube

/// A Kubernetes API server for tests: the real wire protocol over TLS, bearer tokens (or
/// client certificates), discovery, get/list/delete, server-side apply with managed fields,
/// conflicts and dry runs, merge patches, and 404/409/422/500 answers shaped like the
/// recorded ones in Fixtures/kube.
public final class KubeTestServer: Sendable {
    public enum Authentication: Sendable {
        case bearerToken(String)
        /// Clients must present a certificate signed by this CA (PEM); no token is needed.
        case clientCertificate(caPEM: String)
    }

    public let cluster: KubeCluster
    /// PEM file of the server's self-signed certificate: the CA clients must trust.
    public let certificatePath: String
    private let served: ServedApplication
    /// The simulated workload controllers, when asked for.
    private let controllers: Task<Void, Never>?
    private let tlsDir: TemporaryDirectory

    /// `https://127.0.0.1:PORT` (the certificate names 127.0.0.1 and localhost).
    public var url: String { "https://127.0.0.1:\(port)" }

    public static var fixtures: URL { Bundle.module.resourceURL!.appendingPathComponent("Fixtures/kube") }

    /// - Parameter controllers: play the workload controllers (see `KubeCluster.reconcileWorkloads`).
    public static func start(authentication: Authentication = .bearerToken("test-token"), controllers: Bool = false) async throws -> KubeTestServer {
        let tlsDir = try TemporaryDirectory("kube-test")
        var logger = Logger(label: "kube-test-server")
        logger.logLevel = .error
        let identity = try TLSIdentity.selfSigned(in: tlsDir.path, hostnames: ["localhost"], logger: logger)
        var tls = try identity.serverConfiguration()
        var token: String?
        switch authentication {
        case .bearerToken(let value):
            token = value
        case .clientCertificate(let caPEM):
            tls.certificateVerification = .noHostnameVerification
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(caPEM.utf8)))
        }
        let cluster = KubeCluster(catalog: ResourceCatalog(fixtures: fixtures))
        let router = Router()
        let handler: @Sendable (Request, BasicRequestContext) async throws -> Response = { [token] request, _ in
            let body = try await request.body.collect(upTo: 16 << 20)
            let answer = await Self.handle(request, body: String(buffer: body), token: token, cluster: cluster)
            return Self.response(answer.answer, retryAfter: answer.retryAfter)
        }
        for method in [HTTPRequest.Method.get, .patch, .delete, .post, .put] { router.on("**", method: method, use: handler) }
        router.get("/", use: handler)
        let served = try await ServedApplication.start(logger: logger) { listening in
            Application(router: router, server: try .tls(.http1(), tlsConfiguration: tls),
                        configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                        onServerRunning: { listening($0.localAddress?.port ?? 0) }, logger: logger)
        }
        let loop: Task<Void, Never>? = controllers ? Task {
            while !Task.isCancelled {
                await cluster.reconcileWorkloads()
                try? await Task.sleep(for: .milliseconds(50))
            }
        } : nil
        return KubeTestServer(served: served, cluster: cluster, certificatePath: identity.certificatePath, controllers: loop, tlsDir: tlsDir)
    }

    private init(served: ServedApplication, cluster: KubeCluster, certificatePath: String, controllers: Task<Void, Never>?, tlsDir: TemporaryDirectory) {
        self.served = served
        self.cluster = cluster
        self.certificatePath = certificatePath
        self.controllers = controllers
        self.tlsDir = tlsDir
    }

    public var port: Int { served.port }

    public func stop() async {
        controllers?.cancel()
        await served.stop()
        tlsDir.remove()
    }

    /// A Slipway client of this server, through a kubeconfig written next to its certificate
    /// (the same path `slipway serve` takes).
    public func client(retry: RetryPolicy = RetryPolicy(attempts: 3, baseDelay: .milliseconds(10))) throws -> KubeClient {
        let path = kubeconfigPath
        try writeKubeconfig(to: path)
        var logger = Logger(label: "kube-test-client")
        logger.logLevel = .error
        return try KubeClient(access: try ClusterAccess.kubeconfig(path: path), retry: retry, logger: logger)
    }

    /// The kubeconfig `client()` wrote, for configs that name a file.
    public var kubeconfigPath: String { (tlsDir.path as NSString).appendingPathComponent("kubeconfig") }

    /// A kubeconfig for this server with a bearer token (and its CA), written to `path`.
    public func writeKubeconfig(to path: String, token: String = "test-token", context: String = "test", namespace: String? = nil) throws {
        let ca = try Data(contentsOf: URL(fileURLWithPath: certificatePath)).base64EncodedString()
        let text = """
            apiVersion: v1
            kind: Config
            current-context: \(context)
            clusters:
              - name: test-cluster
                cluster:
                  server: \(url)
                  certificate-authority-data: \(ca)
            users:
              - name: test-user
                user:
                  token: \(token)
            contexts:
              - name: \(context)
                context:
                  cluster: test-cluster
                  user: test-user\(namespace.map { "\n      namespace: \($0)" } ?? "")
            """
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    // MARK: Request handling

    private static func response(_ answer: KubeAnswer, retryAfter: Int?) -> Response {
        var headers: HTTPFields = [:]
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        if let text = answer.text {
            headers[.contentType] = "text/plain; charset=utf-8"
            return Response(status: .init(code: answer.status), headers: headers, body: .init(byteBuffer: ByteBuffer(string: text + "\n")))
        }
        headers[.contentType] = "application/json"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(answer.body ?? [:])) ?? Data()
        return Response(status: .init(code: answer.status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    private static func handle(_ request: Request, body: String, token: String?, cluster: KubeCluster) async -> (answer: KubeAnswer, retryAfter: Int?) {
        let path = request.uri.path
        let query = request.uri.queryParameters
        await cluster.record("\(request.method.rawValue) \(request.uri.description)")
        if let token {
            guard let header = request.headers[.authorization] else {
                return (.failure(403, reason: "Forbidden",
                                 message: "\(path.split(separator: "/").last ?? "") is forbidden: User \"system:anonymous\" cannot \(request.method == .get ? "list" : "update") resource \"\(path.split(separator: "/").last ?? "")\" in API group \"\" at the cluster scope",
                                 details: ["kind": .string(String(path.split(separator: "/").last ?? ""))]), nil)
            }
            guard header == "Bearer \(token)" else { return (.failure(401, reason: "Unauthorized", message: "Unauthorized"), nil) }
        }
        if let failure = await cluster.takeInjectedFailure() {
            let reason = failure.status == 429 ? "TooManyRequests" : "InternalError"
            return (.failure(failure.status, reason: reason, message: "injected failure \(failure.status) for a test"), failure.retryAfter)
        }
        let segments = path.split(separator: "/").map(String.init)
        // Discovery.
        switch segments.count {
        case 1 where segments[0] == "api":
            return (.json(200, await cluster.catalog.recorded["/api"] ?? ["kind": "APIVersions", "versions": ["v1"]]), nil)
        case 1 where segments[0] == "apis":
            return (.json(200, await cluster.catalog.apiGroupList), nil)
        case 2 where segments[0] == "api":
            return (await cluster.catalog.resourceList(group: "", version: segments[1]).map { .json(200, $0) } ?? .pageNotFound, nil)
        case 3 where segments[0] == "apis":
            return (await cluster.catalog.resourceList(group: segments[1], version: segments[2]).map { .json(200, $0) } ?? .pageNotFound, nil)
        default:
            break
        }
        // Resources: /api/v1/... or /apis/GROUP/VERSION/...
        let (group, version, rest): (String, String, [String])
        if segments.first == "api", segments.count >= 3 {
            (group, version, rest) = ("", segments[1], Array(segments.dropFirst(2)))
        } else if segments.first == "apis", segments.count >= 4 {
            (group, version, rest) = (segments[1], segments[2], Array(segments.dropFirst(3)))
        } else {
            return (.pageNotFound, nil)
        }
        var namespace: String?
        var plural: String
        var name: String?
        switch rest.count {
        case 1: plural = rest[0]
        case 2: (plural, name) = (rest[0], rest[1])
        case 3 where rest[0] == "namespaces": (namespace, plural) = (rest[1], rest[2])
        case 4 where rest[0] == "namespaces": (namespace, plural, name) = (rest[1], rest[2], rest[3])
        default: return (.pageNotFound, nil)
        }
        guard let type = await cluster.catalog.type(group: group, version: version, plural: plural) else { return (.pageNotFound, nil) }
        if !type.namespaced && namespace != nil { return (.pageNotFound, nil) }
        let dryRun = query.get("dryRun") == "All"
        switch (request.method, name) {
        case (.get, nil):
            return (await cluster.list(type: type, namespace: namespace, selector: query.get("labelSelector")), nil)
        case (.get, let name?):
            return (await cluster.get(type: type, namespace: namespace, name: name), nil)
        case (.delete, let name?):
            return (await cluster.delete(type: type, namespace: namespace, name: name, dryRun: dryRun), nil)
        case (.patch, let name?):
            let contentType = request.headers[.contentType] ?? ""
            if contentType.hasPrefix("application/apply-patch+yaml") {
                guard let manager = query.get("fieldManager"), !manager.isEmpty else {
                    return (.failure(400, reason: "BadRequest", message: "PATCH /\(path): fieldManager is required for apply requests"), nil)
                }
                let object: JSONValue
                do {
                    object = try YAMLDocuments.parseOne(body, file: "request body")
                } catch {
                    return (.failure(400, reason: "BadRequest", message: "error decoding YAML: \(error)"), nil)
                }
                return (await cluster.apply(type: type, namespace: namespace, name: name, body: object, manager: manager,
                                            force: query.get("force") == "true", dryRun: dryRun), nil)
            }
            if contentType.hasPrefix("application/merge-patch+json") {
                guard let patch = try? JSONDecoder().decode(JSONValue.self, from: Data(body.utf8)) else {
                    return (.failure(400, reason: "BadRequest", message: "the body is not JSON"), nil)
                }
                return (await cluster.mergePatch(type: type, namespace: namespace, name: name, patch: patch,
                                                 manager: query.get("fieldManager") ?? "unknown", dryRun: dryRun), nil)
            }
            return (.failure(415, reason: "UnsupportedMediaType", message: "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"), nil)
        default:
            return (.failure(405, reason: "MethodNotAllowed", message: "the server does not allow this method on the requested resource"), nil)
        }
    }
}
