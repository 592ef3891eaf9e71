import Crypto
import Foundation
public import Hummingbird
import SlipwayCore

/// Checks `Authorization: Bearer <token>` against the configured API tokens.
/// Tokens are compared as SHA-256 digests in constant time, every token every time.
struct TokenAuthenticator: RouterMiddleware {
    typealias Context = SlipwayRequestContext
    private let tokens: [(digest: [UInt8], token: APIToken)]

    init(tokens: [APIToken]) {
        self.tokens = tokens.map { (Array(SHA256.hash(data: Data($0.secret.value.utf8))), $0) }
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer ") else {
            throw APIError(.unauthorized, "a bearer token is required", headers: [.wwwAuthenticate: "Bearer"])
        }
        let presented = Array(SHA256.hash(data: Data(header.dropFirst(7).trimmingCharacters(in: .whitespaces).utf8)))
        var found: APIToken?
        for entry in tokens {
            var difference: UInt8 = 0
            for (a, b) in zip(entry.digest, presented) { difference |= a ^ b }
            if difference == 0 { found = entry.token }
        }
        guard let found else {
            throw APIError(.unauthorized, "the bearer token is not valid", headers: [.wwwAuthenticate: "Bearer"])
        }
        var context = context
        context.token = found
        return try await next(request, context)
    }
}
