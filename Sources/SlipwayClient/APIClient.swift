import AsyncHTTPClient
public import Foundation
import NIOCore
import NIOFoundationCompat
public import NIOHTTP1
import NIOSSL
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
                throw .transport("cannot read CA file \(caFile): \(error)")
            }
        }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.timeout = .init(connect: .seconds(10), read: nil)
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
            throw .transport("\(method) \(baseURL)\(path): \(error)")
        }
    }

    /// Streams a successful response body to `chunk` as it arrives; an error answer throws.
    public func stream(_ path: String, chunk: (Data) async -> Void) async throws(ClientError) {
        let request = makeRequest(.GET, path, headers: [], body: nil, authorized: true)
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: .hours(24))
        } catch {
            throw .transport("GET \(baseURL)\(path): \(error)")
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
            throw .transport("GET \(baseURL)\(path): \(error)")
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

/// Why a CLI request failed.
public enum ClientError: Error, Sendable, CustomStringConvertible {
    case transport(String)
    case server(status: Int, message: String)

    public var description: String {
        switch self {
        case .transport(let why): why
        case .server(let status, let message): "server answered \(status): \(message)"
        }
    }
}
