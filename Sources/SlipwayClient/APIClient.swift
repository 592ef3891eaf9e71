import AsyncHTTPClient
public import Foundation
import NIOCore
import NIOFoundationCompat
public import NIOHTTP1
import NIOSSL
import NIOPosix
public import SlipwayCore

/// A client of Slipway's HTTP API, used by the CLI.
public final class APIClient: Sendable {
    public let baseURL: String
    private let token: String?
    private let http: HTTPClient

    /// - Parameters:
    ///   - caFile: a PEM file of certificates to trust (the server's self-signed one, say).
    ///   - insecure: skip certificate verification altogether (for a first look only).
    public init(baseURL: String, token: String?, caFile: String?, insecure: Bool = false) throws(ClientError) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.token = token
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        if insecure {
            tls.certificateVerification = .none
        } else if let caFile {
            do {
                tls.additionalTrustRoots = [.certificates(try NIOSSLCertificate.fromPEMFile(caFile))]
            } catch {
                throw .caFile(caFile, why: "\(error)")
            }
        }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.timeout = .init(connect: .seconds(10), read: nil)
        // A server that refuses the connection is reported at once, not retried for 10 s.
        configuration.connectionPool.retryConnectionEstablishment = false
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    deinit {
        _ = http.shutdown()
    }

    public func shutdown() async throws {
        try await http.shutdown()
    }

    /// Sends a request and returns the status and the whole body.
    public func send(_ method: HTTPMethod, _ path: String, headers: [(String, String)] = [], body: Data? = nil, authorized: Bool = true) async throws(ClientError) -> (status: Int, body: Data) {
        let request = makeRequest(method, path, headers: headers, body: body, authorized: authorized)
        do {
            let response = try await http.execute(request, timeout: .seconds(60))
            let buffer = try await response.body.collect(upTo: 64 * 1024 * 1024)
            return (Int(response.status.code), Data(buffer: buffer))
        } catch {
            throw ClientError(error, server: baseURL, request: "\(method) \(path)")
        }
    }

    /// Streams a successful response body to `chunk` as it arrives; an error answer throws.
    public func stream(_ path: String, chunk: (Data) async -> Void) async throws(ClientError) {
        let request = makeRequest(.GET, path, headers: [], body: nil, authorized: true)
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: .hours(24))
        } catch {
            throw ClientError(error, server: baseURL, request: "GET \(path)")
        }
        let status = Int(response.status.code)
        do {
            guard (200..<300).contains(status) else {
                let body = try await response.body.collect(upTo: 1024 * 1024)
                throw ClientError.server(status: status, message: Self.errorMessage(Data(buffer: body)))
            }
            for try await buffer in response.body {
                await chunk(Data(buffer: buffer))
            }
        } catch let error as ClientError {
            throw error
        } catch {
            throw ClientError(error, server: baseURL, request: "GET \(path)")
        }
    }

    private func makeRequest(_ method: HTTPMethod, _ path: String, headers: [(String, String)], body: Data?, authorized: Bool) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if authorized, let token { request.headers.replaceOrAdd(name: "Authorization", value: "Bearer \(token)") }
        if let body { request.body = .bytes(ByteBuffer(data: body)) }
        return request
    }

    // MARK: Jobs

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()

    private struct JobList: Decodable {
        var jobs: [Job]
    }

    public func jobs(app: String? = nil, status: JobStatus? = nil, limit: Int = 50) async throws(ClientError) -> [Job] {
        var query = ["limit=\(limit)"]
        if let app { query.append("app=\(app.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? app)") }
        if let status { query.append("status=\(status.rawValue)") }
        let (status, body) = try await send(.GET, "/api/v1/jobs?" + query.joined(separator: "&"))
        return try decode(JobList.self, status: status, body: body).jobs
    }

    public func job(_ id: JobID) async throws(ClientError) -> Job {
        let (status, body) = try await send(.GET, "/api/v1/jobs/\(id)")
        return try decode(Job.self, status: status, body: body)
    }

    public func cancel(_ id: JobID) async throws(ClientError) -> Job {
        let (status, body) = try await send(.POST, "/api/v1/jobs/\(id)/cancel")
        return try decode(Job.self, status: status, body: body)
    }

    public func decode<T: Decodable>(_ type: T.Type, status: Int, body: Data) throws(ClientError) -> T {
        guard (200..<300).contains(status) else { throw ClientError.server(status: status, message: Self.errorMessage(body)) }
        do {
            return try Self.decoder.decode(type, from: body)
        } catch {
            throw .transport("unexpected answer from the server: \(error)")
        }
    }

    /// The `error` field of an API error answer (or the body as text).
    public static func errorMessage(_ body: Data) -> String {
        struct ErrorBody: Decodable { var error: String }
        return (try? JSONDecoder().decode(ErrorBody.self, from: body).error) ?? String(decoding: body, as: UTF8.self)
    }
}

/// Why a CLI request failed, in words that say what to do about it.
public enum ClientError: Error, Sendable, CustomStringConvertible {
    /// Nothing answered at the server's address.
    case unreachable(server: String, why: String)
    /// The TLS handshake failed: the server's certificate is not trusted, or not for this name.
    case untrusted(server: String, why: String)
    /// The CA file given cannot be read.
    case caFile(String, why: String)
    /// The server answered with an error.
    case server(status: Int, message: String)
    /// Anything else on the way (the connection broke off, an answer that is not the API's).
    case transport(String)

    public var description: String {
        switch self {
        case .unreachable(let server, let why):
            "cannot reach the Slipway server at \(server) (\(why)): is `slipway serve` running there? Give its address with --server URL"
        case .untrusted(let server, let why):
            "the certificate of \(server) is not trusted (\(why)): give the server's certificate with --ca-file PEM "
                + "(a server with tls.mode self-signed writes it to DATA_DIR/tls/server.crt)"
        case .caFile(let path, let why):
            "cannot read the CA file \(path) (\(why)): --ca-file needs a PEM file of the certificates to trust"
        case .server(401, _):
            "the server refused the token (401): give a valid API token with --token or SLIPWAY_TOKEN"
        case .server(403, let message):
            "the token may not do this (403: \(message)): use a token with the admin role"
        case .server(let status, let message):
            "the server answered \(status): \(message)"
        case .transport(let why):
            why
        }
    }

    /// Reads what went wrong out of NIO's and AsyncHTTPClient's errors.
    init(_ error: any Error, server: String, request: String) {
        if let connection = error as? NIOConnectionError {
            let reasons = connection.connectionErrors.map { ClientError.reason($0.error) }
            var distinct: [String] = []
            for reason in reasons where !distinct.contains(reason) { distinct.append(reason) }
            if connection.dnsAError != nil && connection.dnsAAAAError != nil && distinct.isEmpty {
                self = .unreachable(server: server, why: "its host name does not resolve")
            } else {
                self = .unreachable(server: server, why: distinct.isEmpty ? "no address to connect to" : distinct.joined(separator: "; "))
            }
            return
        }
        if let io = error as? IOError, Self.connectErrors.contains(io.errnoCode) {
            self = .unreachable(server: server, why: Self.reason(io))
            return
        }
        if let client = error as? HTTPClientError {
            switch client {
            case .connectTimeout, .socksHandshakeTimeout, .tlsHandshakeTimeout:
                self = .unreachable(server: server, why: "no answer within 10 seconds")
                return
            case .invalidURL, .emptyHost, .emptyScheme:
                self = .transport("\(server) is not a usable server address (\(client)): give --server https://HOST:PORT")
                return
            default:
                break
            }
        }
        if case ChannelError.connectTimeout = error {
            self = .unreachable(server: server, why: "no answer within 10 seconds")
            return
        }
        if let tls = error as? NIOSSLError, case .handshakeFailed(let inner) = tls {
            self = .untrusted(server: server, why: "\(inner)".contains("CERTIFICATE_VERIFY_FAILED") ? "certificate verify failed" : "TLS handshake failed: \(inner)")
            return
        }
        if let extra = error as? NIOSSLExtraError, extra == .failedToValidateHostname {
            self = .untrusted(server: server, why: "the certificate is not for this host name")
            return
        }
        self = .transport("\(request) at \(server) failed: \(error)")
    }

    private static let connectErrors: Set<Int32> = [ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, ETIMEDOUT, ECONNRESET, EADDRNOTAVAIL]

    /// The system's words for a connect error (`connection refused`), without NIO's wrapping.
    private static func reason(_ error: any Error) -> String {
        if let io = error as? IOError { return String(cString: strerror(io.errnoCode)).lowercased() }
        return "\(error)"
    }
}
