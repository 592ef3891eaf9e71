import HTTPTypes
import Hummingbird

/// Answers 405 with `Allow` (RFC 9110) when a path is served but not with the request's
/// method, where the router alone would answer 404. Added after every route, so it sees
/// only requests no route took.
struct MethodNotAllowed: RouterMiddleware {
    typealias Context = SlipwayRequestContext
    /// Each served path's segments (a capture, `{name}`, matches any one) and its methods.
    private let routes: [(segments: [Substring], methods: Set<String>)]

    init(routes: [(path: String, method: HTTPRequest.Method)]) {
        var byPath: [String: Set<String>] = [:]
        for route in routes { byPath[route.path, default: []].insert(route.method.rawValue) }
        self.routes = byPath.map { (Self.segments($0.key), $0.value) }
    }

    private static func segments(_ path: String) -> [Substring] {
        path.split(separator: "/")
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let requested = Self.segments(request.uri.path)
            var allowed = Set<String>()
            for route in routes where route.segments.count == requested.count
                && zip(route.segments, requested).allSatisfy({ $0.hasPrefix("{") || $0.hasPrefix(":") || $0 == $1 }) {
                allowed.formUnion(route.methods)
            }
            guard !allowed.isEmpty else { throw error }
            if allowed.contains("GET") { allowed.insert("HEAD") }
            let list = allowed.sorted().joined(separator: ", ")
            throw APIError(.methodNotAllowed, "\(request.uri.path) answers \(list), not \(request.method.rawValue)", headers: [.allow: list])
        }
    }
}
