import Foundation
public import Hummingbird
import SlipwayCore
import SlipwayStore

/// Who is calling the API: `Authorization: Bearer <token>`, or the dashboard's session
/// cookie. A request on a session that changes anything must carry the session's CSRF token
/// in `X-CSRF-Token`: the cookie alone (which a browser adds to any request) changes nothing.
struct TokenAuthenticator: RouterMiddleware {
    typealias Context = SlipwayRequestContext
    let tokens: TokenDirectory
    let sessions: WebSessions

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        if let header = request.headers[.authorization] {
            guard header.lowercased().hasPrefix("bearer ") else {
                throw APIError(.unauthorized, "a bearer token is required", headers: [.wwwAuthenticate: "Bearer"])
            }
            guard let found = tokens.token(secret: header.dropFirst(7).trimmingCharacters(in: .whitespaces)) else {
                throw APIError(.unauthorized, "the bearer token is not valid", headers: [.wwwAuthenticate: "Bearer"])
            }
            context.token = found
        } else if let (token, session) = try await sessions.current(request) {
            if ![.get, .head].contains(request.method) {
                try WebSessions.checkCSRF(request.headers[WebSessions.csrfHeader], session: session)
            }
            context.token = token
            context.session = session
        } else {
            throw APIError(.unauthorized, "a bearer token is required", headers: [.wwwAuthenticate: "Bearer"])
        }
        return try await next(request, context)
    }
}
