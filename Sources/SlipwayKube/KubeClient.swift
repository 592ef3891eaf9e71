import AsyncHTTPClient
public import Foundation
public import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOSSL
public import SlipwayCore

/// A client of one cluster's API: TLS and credentials from `ClusterAccess`, retries with
/// back-off on 429, 5xx and connection errors, discovery, and the calls Slipway makes.
public final class KubeClient: Sendable {
    public let access: ClusterAccess
    private let http: HTTPClient
    /// Long answers (watches, followed logs): a pool of their own, so that many of them (a
    /// watch and a log stream for every job pod) never leave requests waiting for a connection.
    private let streams: HTTPClient
    private let retry: RetryPolicy
    private let logger: Logger
    public let discovery: Discovery
    private let gate: RequestGate
    /// The user every request but discovery impersonates (`Impersonate-User`), if any.
    public let impersonatedUser: String?
    /// Views made by `impersonating` share this client's connections and do not close them.
    private let ownsConnections: Bool
    /// Called before each retry with what went wrong (the job log shows it).
    public typealias RetryObserver = @Sendable (String) async -> Void

    /// - Parameter maxInFlight: requests to this cluster that may run at once; more wait.
    /// Long answers open at once to one cluster, at most (each needs a connection of its own
    /// over HTTP/1.1): watches per resource type, and a watch and a log per job pod.
    static let streamConnections = 1024

    public init(access: ClusterAccess, retry: RetryPolicy = .default, maxInFlight: Int = 16, logger: Logger) throws(KubeError) {
        self.access = access
        self.gate = RequestGate(limit: maxInFlight)
        self.retry = retry
        self.logger = logger
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        do {
            if access.insecureSkipTLSVerify {
                tls.certificateVerification = .none
            } else if let ca = access.certificateAuthorityPEM {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(ca.utf8)))
            }
            if case .clientCertificate(let certificate, let key) = access.credential {
                tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(Array(certificate.utf8)).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(key.value.utf8), format: .pem))
            }
        } catch {
            throw .configuration("the cluster's TLS settings cannot be used: \(error)")
        }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.timeout = .init(connect: .seconds(10), read: .seconds(60))
        // One connection per request in flight, kept for the next ones.
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: max(8, maxInFlight))
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: Self.streamConnections)
        streams = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        discovery = Discovery()
        impersonatedUser = nil
        ownsConnections = true
    }

    private init(sharing client: KubeClient, impersonating user: String) {
        access = client.access
        retry = client.retry
        logger = client.logger
        http = client.http
        streams = client.streams
        discovery = client.discovery
        gate = client.gate
        impersonatedUser = user
        ownsConnections = false
    }

    /// This client acting as `user` (a service account: `system:serviceaccount:NS:NAME`), so
    /// the cluster's RBAC decides what it may do; nil is this client itself. Connections,
    /// the in-flight bound and discovery stay shared.
    public func impersonating(_ user: String?) -> KubeClient {
        guard let user else { return self }
        return KubeClient(sharing: self, impersonating: user)
    }

    deinit {
        if ownsConnections {
            _ = http.shutdown()
            _ = streams.shutdown()
        }
    }

    public func shutdown() async {
        if ownsConnections {
            try? await http.shutdown()
            try? await streams.shutdown()
        }
    }

    // MARK: Requests

    /// Sends a request, retrying what is worth retrying; returns the status and JSON body.
    /// `impersonate: false` for discovery, which every user may read and Slipway caches for all.
    func send(_ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: Data? = nil,
              contentType: String? = nil, impersonate: Bool = true, onRetry: RetryObserver? = nil) async throws(KubeError) -> (status: Int, body: JSONValue?) {
        let url = self.url(path, query: query)
        var attempt = 0
        while true {
            attempt += 1
            var request = try makeRequest(method, url: url, contentType: contentType, impersonate: impersonate)
            if let body { request.body = .bytes(ByteBuffer(data: body)) }

            let problem: String
            var retryAfter: Int?
            do {
                let http = self.http
                let (status, headers, data) = try await gate.run { () async throws -> (Int, HTTPHeaders, Data) in
                    let response = try await http.execute(request, timeout: .seconds(60))
                    return (Int(response.status.code), response.headers, Data(buffer: try await response.body.collect(upTo: 64 << 20)))
                }
                let json = try? JSONDecoder().decode(JSONValue.self, from: data)
                guard RetryPolicy.isRetryable(status: status), attempt < retry.attempts else {
                    if status >= 400 && json?["kind"] != "Status" && json == nil {
                        return (status, ["kind": "Status", "code": .int(Int64(status)), "reason": status == 404 ? "NotFound" : "Unknown",
                                         "message": .string(String(decoding: data.prefix(300), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))])
                    }
                    return (status, json)
                }
                retryAfter = headers.first(name: "Retry-After").flatMap(Int.init)
                problem = "\(method) \(path) answered \(status) \(json?["message"]?.stringValue ?? "")"
            } catch {
                guard attempt < retry.attempts else {
                    throw .transport("\(method) \(access.server)\(path) failed after \(attempt) attempts: \(error)")
                }
                problem = "\(method) \(path) failed: \(error)"
            }
            let delay = retry.delay(attempt: attempt, retryAfterSeconds: retryAfter)
            logger.debug("kube request retried", metadata: ["problem": "\(problem)", "delay": "\(delay)"])
            await onRetry?("\(problem); trying again in \(delay) (attempt \(attempt + 1) of \(retry.attempts))")
            try? await Task.sleep(for: delay)
        }
    }

    /// `https://server/path?query`, each query value percent-encoded.
    func url(_ path: String, query: [(String, String)]) -> String {
        guard !query.isEmpty else { return access.server + path }
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+/,")
        return access.server + path + "?" + query.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? $0.1)" }.joined(separator: "&")
    }

    /// A request with the cluster's credentials.
    func makeRequest(_ method: HTTPMethod, url: String, contentType: String?, impersonate: Bool = true) throws(KubeError) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "slipway")
        if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
        if impersonate, let impersonatedUser { request.headers.add(name: "Impersonate-User", value: impersonatedUser) }
        switch access.credential {
        case .token(let token): request.headers.add(name: "Authorization", value: "Bearer \(token.value)")
        case .tokenFile(let file):
            guard let token = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw .configuration("cannot read the token file \(file)")
            }
            request.headers.add(name: "Authorization", value: "Bearer \(token.trimmingCharacters(in: .whitespacesAndNewlines))")
        case .none, .clientCertificate: break
        }
        return request
    }

    /// Starts a long GET (a watch) outside the in-flight bound: its status, and its body as it
    /// arrives. Ending the body stream cancels the request, so no watch outlives its reader.
    func stream(_ path: String, query: [(String, String)]) throws(KubeError) -> AsyncThrowingStream<StreamPart, any Error> {
        let built = try makeRequest(.GET, url: url(path, query: query), contentType: nil)
        let request: HTTPClient.Request
        do {
            request = try HTTPClient.Request(url: built.url, method: .GET, headers: built.headers)
        } catch {
            throw .transport("GET \(access.server)\(path): \(error)")
        }
        let (parts, continuation) = AsyncThrowingStream<StreamPart, any Error>.makeStream()
        let task = streams.execute(request: request, delegate: StreamDelegate(continuation: continuation))
        continuation.onTermination = { _ in task.cancel() }
        return parts
    }

    /// A long GET's body as it arrives (a watch, a followed log). An error answer ends it
    /// with the `KubeError` its Status says; a broken connection with a transport error that
    /// names `what`. Ending the body stream cancels the request.
    func streamedBody(_ path: String, query: [(String, String)], what: String) -> AsyncThrowingStream<Data, any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                do throws(KubeError) {
                    let parts = try stream(path, query: query)
                    var status = 0
                    var errorBody = Data()
                    do {
                        for try await part in parts {
                            switch part {
                            case .status(let code): status = code
                            case .body(let chunk) where status != 200: errorBody.append(contentsOf: chunk.readableBytesView)
                            case .body(let chunk): continuation.yield(Data(chunk.readableBytesView))
                            }
                        }
                    } catch {
                        if Task.isCancelled { throw KubeError.transport("\(what) was no longer read") }
                        throw KubeError.transport("\(what) broke off: \(error)")
                    }
                    if status != 200 {
                        throw KubeError.fromStatus(try? JSONDecoder().decode(JSONValue.self, from: errorBody), code: status)
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// `send`, turning an error answer into a `KubeError`.
    func call(_ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: Data? = nil,
              contentType: String? = nil, onRetry: RetryObserver? = nil) async throws(KubeError) -> JSONValue {
        let (status, json) = try await send(method, path, query: query, body: body, contentType: contentType, onRetry: onRetry)
        guard (200..<300).contains(status) else { throw KubeError.fromStatus(json, code: status) }
        return json ?? .null
    }
}
