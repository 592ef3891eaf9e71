public import Hummingbird
import SlipwayCore
import SlipwayStore

/// Per-request state: who the bearer token says the caller is.
public struct SlipwayRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by `TokenAuthenticator` on API routes.
    var token: APIToken?
    /// Set when the caller is a browser signed in to the dashboard.
    var session: WebSession?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
    }

    /// Throws 403 unless the caller's token has at least `role`.
    func require(_ role: APIRole) throws(APIError) {
        guard let token else { throw APIError(.unauthorized, "a bearer token is required") }
        guard token.role >= role else {
            throw APIError(.forbidden, "token '\(token.name)' has role \(token.role.rawValue); this needs \(role.rawValue)")
        }
    }
}
