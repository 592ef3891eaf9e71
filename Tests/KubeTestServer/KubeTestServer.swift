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

    /// - Parameters:
    ///   - controllers: play the workload controllers (see `KubeCluster.reconcileWorkloads`).
    ///   - latency: added before every answer, as a real API server's round trip (benchmarks).
    ///   - processes: the kubelet runs containers' commands as local processes (their images are
    ///     not run), with their volumes as temporary folders: job pods of the kubernetes executor.
    public static func start(authentication: Authentication = .bearerToken("test-token"), controllers: Bool = false,
                             latency: Duration = .zero, processes: Bool = false) async throws -> KubeTestServer {
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
        if let data = try? Data(contentsOf: fixtures.appendingPathComponent("workloads/187-node-get-200.json")),
           let node = try? JSONDecoder().decode(JSONValue.self, from: data) {
            await cluster.addRecordedNode(node)
        }
        if let token { await cluster.addToken(token, for: .admin) }
        // The controllers' pass: every 50 ms, and at once when the kubelet has pod work.
        let (passes, pass) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        if processes { await cluster.setRunsProcesses(root: tlsDir.url.appendingPathComponent("pods"), podWork: { pass.yield() }) }
        let router = Router()
        let handler: @Sendable (Request, BasicRequestContext) async throws -> Response = { [token] request, _ in
            let body = try await request.body.collect(upTo: 16 << 20)
            await cluster.began()
            if latency > .zero { try? await Task.sleep(for: latency) }
            defer { Task { await cluster.ended() } }
            switch await Self.handle(request, body: String(buffer: body), checksTokens: token != nil, cluster: cluster) {
            case .answer(let answer, let retryAfter):
                return Self.response(answer, retryAfter: retryAfter)
            case .log(let chunks):
                return Response(status: .ok, headers: [.contentType: "text/plain"], body: ResponseBody(asyncSequence: chunks.map { ByteBuffer(string: $0) }))
            case .events(let events):
                // A watch: one JSON event a line, as long as the watch lasts.
                let lines = events.map { event in
                    var line = ByteBuffer(bytes: (try? SlipwayJSON.data(event)) ?? Data())
                    line.writeString("\n")
                    return line
                }
                return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(asyncSequence: lines))
            }
        }
        for method in [HTTPRequest.Method.get, .patch, .delete, .post, .put] { router.on("**", method: method, use: handler) }
        router.get("/", use: handler)
        let served = try await ServedApplication.start(logger: logger) { listening in
            Application(router: router, server: try .tls(.http1(), tlsConfiguration: tls),
                        configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                        onServerRunning: { listening($0.localAddress?.port ?? 0) }, logger: logger)
        }
        let loop: Task<Void, Never>? = controllers ? Task {
            let ticker = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(50))
                    pass.yield()
                }
            }
            for await _ in passes {
                if Task.isCancelled { break }
                await cluster.reconcileWorkloads()
            }
            ticker.cancel()
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
        await cluster.stopProcesses()
        await cluster.endAllWatches()
        await cluster.endAllLogFollows()
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
        if let log = answer.log {
            headers[.contentType] = "text/plain"
            return Response(status: .init(code: answer.status), headers: headers, body: .init(byteBuffer: ByteBuffer(string: log)))
        }
        if let text = answer.text {
            headers[.contentType] = "text/plain; charset=utf-8"
            return Response(status: .init(code: answer.status), headers: headers, body: .init(byteBuffer: ByteBuffer(string: text + "\n")))
        }
        headers[.contentType] = "application/json"
        let data = (try? SlipwayJSON.data(answer.body ?? [:])) ?? Data()
        return Response(status: .init(code: answer.status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    enum Reply {
        case answer(KubeAnswer, retryAfter: Int?)
        case events(AsyncStream<JSONValue>)
        /// A followed pod log: text as it is written.
        case log(AsyncStream<String>)
    }

    private static func handle(_ request: Request, body: String, checksTokens: Bool, cluster: KubeCluster) async -> Reply {
        let path = request.uri.path
        let query = request.uri.queryParameters
        await cluster.record("\(request.method.rawValue) \(request.uri.description)")
        // Authentication: a token names a user; client certificates (no tokens) are the admin.
        var user = KubeUser.admin
        if checksTokens {
            guard let header = request.headers[.authorization] else {
                // As recorded (first set, 30): the last path segment, at the cluster scope.
                let plural = String(path.split(separator: "/").last ?? "")
                let type = ResourceType(group: "", version: "v1", kind: plural, plural: plural, namespaced: false)
                return .answer(.forbidden(user: "system:anonymous", verb: request.method == .get ? "list" : "update", type: type, namespace: nil, name: nil),
                               retryAfter: nil)
            }
            guard header.hasPrefix("Bearer "), let known = await cluster.user(forToken: String(header.dropFirst("Bearer ".count))) else {
                return .answer(.failure(401, reason: "Unauthorized", message: "Unauthorized"), retryAfter: nil)
            }
            user = known
        }
        // Impersonation: only who may `impersonate` the user (or service account) may act as it.
        if let impersonated = request.headers[HTTPField.Name("Impersonate-User")!] {
            let target = KubeUser(name: impersonated, groups: [])
            let (resource, namespace, name) = target.serviceAccount.map { ("serviceaccounts", Optional($0.namespace), $0.name) }
                ?? ("users", nil, impersonated)
            guard await cluster.allows(user, AccessRequest(verb: "impersonate", group: "", resource: resource, namespace: namespace, name: name)) else {
                let type = ResourceType(group: "", version: "v1", kind: resource, plural: resource, namespaced: namespace != nil)
                return .answer(.forbidden(user: user.name, verb: "impersonate", type: type, namespace: namespace, name: name), retryAfter: nil)
            }
            let groups = request.headers[values: HTTPField.Name("Impersonate-Group")!]
            user = target.serviceAccount.map { KubeUser.serviceAccount(namespace: $0.namespace, name: $0.name) }
                ?? KubeUser(name: impersonated, groups: groups + ["system:authenticated"])
        }
        if let failure = await cluster.takeInjectedFailure() {
            let reason = failure.status == 429 ? "TooManyRequests" : "InternalError"
            return .answer(.failure(failure.status, reason: reason, message: "injected failure \(failure.status) for a test"), retryAfter: failure.retryAfter)
        }
        let segments = path.split(separator: "/").map(String.init)
        // Discovery (every authenticated user may read it).
        switch segments.count {
        case 1 where segments[0] == "api":
            return .answer(.json(200, await cluster.catalog.recorded["/api"] ?? ["kind": "APIVersions", "versions": ["v1"]]), retryAfter: nil)
        case 1 where segments[0] == "apis":
            return .answer(.json(200, await cluster.catalog.apiGroupList), retryAfter: nil)
        case 2 where segments[0] == "api":
            return .answer(await cluster.catalog.resourceList(group: "", version: segments[1]).map { .json(200, $0) } ?? .pageNotFound, retryAfter: nil)
        case 3 where segments[0] == "apis":
            return .answer(await cluster.catalog.resourceList(group: segments[1], version: segments[2]).map { .json(200, $0) } ?? .pageNotFound, retryAfter: nil)
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
            return .answer(.pageNotFound, retryAfter: nil)
        }
        // A pod's log (the only subresource served): GET …/namespaces/NS/pods/NAME/log.
        if rest.count == 5, rest[0] == "namespaces", rest[2] == "pods", rest[4] == "log", group.isEmpty {
            let type = ResourceType(group: "", version: "v1", kind: "Pod", plural: "pods", namespaced: true)
            guard await cluster.allows(user, AccessRequest(verb: "get", group: "", resource: "pods/log", namespace: rest[1], name: rest[3])) else {
                return .answer(.forbidden(user: user.name, verb: "get", type: type, namespace: rest[1], name: rest[3]), retryAfter: nil)
            }
            var parameters: [String: String] = [:]
            for key in ["container", "follow", "timestamps", "tailLines", "sinceTime", "limitBytes", "previous"] {
                if let value = query.get(key) { parameters[key] = String(value) }
            }
            let (answer, stream) = await cluster.podLog(namespace: rest[1], name: rest[3], query: parameters, accept: request.headers[.accept])
            if let stream { return .log(stream) }
            return .answer(answer ?? .pageNotFound, retryAfter: nil)
        }
        var namespace: String?
        var plural: String
        var name: String?
        switch rest.count {
        case 1: plural = rest[0]
        case 2: (plural, name) = (rest[0], rest[1])
        case 3 where rest[0] == "namespaces": (namespace, plural) = (rest[1], rest[2])
        case 4 where rest[0] == "namespaces": (namespace, plural, name) = (rest[1], rest[2], rest[3])
        default: return .answer(.pageNotFound, retryAfter: nil)
        }
        guard let type = await cluster.catalog.type(group: group, version: version, plural: plural) else { return .answer(.pageNotFound, retryAfter: nil) }
        if !type.namespaced && namespace != nil { return .answer(.pageNotFound, retryAfter: nil) }
        let dryRun = query.get("dryRun") == "All"
        let watching = query.get("watch") == "1" || query.get("watch") == "true"

        // Authorization. A namespace is its own namespace to RBAC.
        let verb: String = switch (request.method, name) {
        case (.get, nil): watching ? "watch" : "list"
        case (.get, _): "get"
        case (.patch, _): "patch"
        case (.delete, _): "delete"
        case (.post, _): "create"
        case (.put, _): "update"
        default: request.method.rawValue.lowercased()
        }
        let scope = type.kind == "Namespace" ? name : namespace
        guard await cluster.allows(user, AccessRequest(verb: verb, group: group, resource: plural, namespace: scope, name: name)) else {
            return .answer(.forbidden(user: user.name, verb: verb, type: type, namespace: scope, name: name), retryAfter: nil)
        }

        switch (request.method, name) {
        case (.get, nil) where watching:
            let seconds = query.get("timeoutSeconds").flatMap(Int.init) ?? 1800
            let selection: Selection
            do {
                selection = try Selection(labelSelector: query.get("labelSelector"), fieldSelector: query.get("fieldSelector"))
            } catch {
                return .answer(.failure(400, reason: "BadRequest", message: error.message), retryAfter: nil)
            }
            return .events(await cluster.watch(type: type, namespace: namespace, selection: selection, from: query.get("resourceVersion"),
                                               timeout: .seconds(seconds), bookmarks: query.get("allowWatchBookmarks") == "true"))
        case (.get, nil):
            return .answer(await cluster.list(type: type, namespace: namespace, selector: query.get("labelSelector"), fieldSelector: query.get("fieldSelector"),
                                              limit: query.get("limit").flatMap(Int.init), continueToken: query.get("continue")), retryAfter: nil)
        case (.get, let name?):
            return .answer(await cluster.get(type: type, namespace: namespace, name: name), retryAfter: nil)
        case (.delete, let name?):
            let options = body.isEmpty ? nil : try? JSONDecoder().decode(JSONValue.self, from: Data(body.utf8))
            return .answer(await cluster.delete(type: type, namespace: namespace, name: name, dryRun: dryRun,
                                                propagation: query.get("propagationPolicy") ?? options?["propagationPolicy"]?.stringValue,
                                                gracePeriod: query.get("gracePeriodSeconds").flatMap { Int64($0) } ?? options?["gracePeriodSeconds"]?.intValue), retryAfter: nil)
        case (.patch, let name?):
            let contentType = request.headers[.contentType] ?? ""
            if contentType.hasPrefix("application/apply-patch+yaml") {
                guard let manager = query.get("fieldManager"), !manager.isEmpty else {
                    return .answer(.failure(422, reason: "Invalid", message: "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
                                            details: ["group": "meta.k8s.io", "kind": "PatchOptions",
                                                      "causes": [["field": "fieldManager", "message": "Required value: is required for apply patch", "reason": "FieldValueRequired"]]]),
                                   retryAfter: nil)
                }
                let object: JSONValue
                do {
                    let read = try ApplyBodyReader.read(body)
                    object = try ApplyBodyReader.convert(read, type: type, namespace: namespace, name: name, builtIn: await cluster.catalog.isBuiltIn(type))
                } catch {
                    return .answer(error.answer, retryAfter: nil)
                }
                // An apply that creates needs `create` as well as `patch`.
                if await !cluster.exists(type: type, namespace: namespace, name: name),
                   await !cluster.allows(user, AccessRequest(verb: "create", group: group, resource: plural, namespace: scope, name: name)) {
                    return .answer(.forbidden(user: user.name, verb: "create", type: type, namespace: scope, name: name), retryAfter: nil)
                }
                return .answer(await cluster.apply(type: type, namespace: namespace, name: name, body: object, manager: manager,
                                                   force: query.get("force") == "true", dryRun: dryRun), retryAfter: nil)
            }
            if contentType.hasPrefix("application/merge-patch+json") {
                guard let patch = try? JSONDecoder().decode(JSONValue.self, from: Data(body.utf8)) else {
                    return .answer(.failure(400, reason: "BadRequest", message: "the body is not JSON"), retryAfter: nil)
                }
                return .answer(await cluster.mergePatch(type: type, namespace: namespace, name: name, patch: patch,
                                                        manager: query.get("fieldManager") ?? "unknown", dryRun: dryRun), retryAfter: nil)
            }
            return .answer(.failure(415, reason: "UnsupportedMediaType", message: "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"), retryAfter: nil)
        default:
            return .answer(.failure(405, reason: "MethodNotAllowed", message: "the server does not allow this method on the requested resource"), retryAfter: nil)
        }
    }
}
