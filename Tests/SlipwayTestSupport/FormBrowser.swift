import AsyncHTTPClient
public import Foundation
import NIOCore
import NIOFoundationCompat
public import NIOHTTP1
import NIOSSL

/// A browser without JavaScript, for the dashboard's tests: keeps cookies as a browser does
/// (by name, cleared by `Max-Age=0`), sends `Origin` with POSTs, follows no redirects (tests
/// look at them), posts forms.
public final class FormBrowser: @unchecked Sendable {
    public struct Page: Sendable {
        public var status: Int
        public var headers: [(String, String)]
        public var body: String

        public func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }

        /// The value of `<input type="hidden" name="csrf_token" value="...">`.
        public var csrfToken: String? {
            guard let range = body.range(of: #"name="csrf_token" value=""#) else { return nil }
            return String(body[range.upperBound...].prefix { $0 != "\"" })
        }
    }

    private let http: HTTPClient
    private let baseURL: String
    /// Accessed from one test task at a time.
    public private(set) var cookies: [String: String] = [:]
    public var origin: String

    public init(baseURL: String, certificatePath: String) throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(certificatePath)
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls, redirectConfiguration: .disallow)
        configuration.timeout = .init(connect: .seconds(10), read: .seconds(60))
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        self.baseURL = baseURL
        origin = baseURL
    }

    // Not `syncShutdown()`: it blocks the thread until the client has shut down, and a
    // browser released on one of Swift's few cooperative threads (two here) stalled every
    // test of the process once two were released at once (found with gdb: both cooperative
    // threads in `syncShutdown` from this deinit).
    deinit { http.shutdownEventually() }

    public func get(_ path: String, headers: [(String, String)] = []) async throws -> Page {
        try await send(.GET, path, headers: headers, body: nil)
    }

    /// Posts `fields` as `application/x-www-form-urlencoded`, as a form does.
    public func post(_ path: String, form fields: [(String, String)], headers: [(String, String)] = []) async throws -> Page {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let body = fields.map { "\($0.0.addingPercentEncoding(withAllowedCharacters: allowed)!)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed)!)" }
            .joined(separator: "&")
        return try await send(.POST, path, headers: [("Content-Type", "application/x-www-form-urlencoded"), ("Origin", origin)] + headers,
                              body: Data(body.utf8))
    }

    public func send(_ method: HTTPMethod, _ path: String, headers: [(String, String)], body: Data?) async throws -> Page {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if !cookies.isEmpty {
            request.headers.add(name: "Cookie", value: cookies.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "; "))
        }
        if let body { request.body = .bytes(ByteBuffer(data: body)) }
        let response = try await http.execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 32 << 20)
        for line in response.headers["Set-Cookie"] {
            let attributes = line.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let pair = attributes.first, let equals = pair.firstIndex(of: "=") else { continue }
            let name = String(pair[..<equals])
            if attributes.contains(where: { $0.lowercased() == "max-age=0" }) {
                cookies[name] = nil
            } else {
                cookies[name] = String(pair[pair.index(after: equals)...])
            }
        }
        return Page(status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) }, body: String(buffer: bytes))
    }

    /// Signs in with an API token through the sign-in form.
    public func signIn(token: String) async throws -> Page {
        try await post("/login", form: [("token", token), ("next", "/apps")])
    }

    public func shutdown() async throws { try await http.shutdown() }
}
