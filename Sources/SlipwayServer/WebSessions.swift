import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import SlipwayCore
import SlipwayStore

/// The dashboard's sign-in: a browser presents an API token once and gets a session cookie
/// (a random id; HttpOnly, Secure, SameSite=Strict, `__Host-` so no subdomain can set it).
/// The store keeps the id's digest with the token's name and a CSRF token, so every replica
/// knows the session and logout ends it everywhere.
struct WebSessions: Sendable {
    static let cookieName = "__Host-slipway-session"
    static let csrfHeader = HTTPField.Name("X-CSRF-Token")!
    /// The form field that carries the CSRF token in the pages' POSTs.
    static let csrfField = "csrf_token"

    let store: any JobStore
    let tokens: TokenDirectory
    let lifetime: Duration
    let now: @Sendable () -> Date

    /// Signs in with a token's secret: the new session and the cookie that carries it, or nil
    /// when the secret is no configured token.
    func signIn(secret: String) async throws -> (session: WebSession, cookie: Cookie)? {
        guard let token = tokens.token(secret: secret) else { return nil }
        let id = Self.random()
        let created = now()
        let seconds = Int(lifetime.components.seconds)
        let session = WebSession(digest: Self.digest(id), tokenName: token.name, csrfToken: Self.random(),
                                 createdAt: created, expiresAt: created.addingTimeInterval(Double(seconds)))
        try await storeCall { try await store.createSession(session, now: created) }
        return (session, Self.cookie(value: id, maxAge: seconds))
    }

    /// The token and session of the request's cookie, when it names a live session of a
    /// token that is still configured.
    func current(_ request: Request) async throws -> (APIToken, WebSession)? {
        guard let id = request.cookies[Self.cookieName]?.value, !id.isEmpty, id.count <= 128 else { return nil }
        guard let session = try await storeCall({ try await store.session(digest: Self.digest(id), now: now()) }),
              let token = tokens.token(named: session.tokenName) else { return nil }
        return (token, session)
    }

    /// Ends the request's session; the returned cookie clears it in the browser.
    func signOut(_ request: Request) async throws -> Cookie {
        if let id = request.cookies[Self.cookieName]?.value, !id.isEmpty {
            try await storeCall { try await store.deleteSession(digest: Self.digest(id)) }
        }
        return Self.cookie(value: "", maxAge: 0)
    }

    /// Refuses (403) a state-changing request whose CSRF token is missing or not the session's.
    static func checkCSRF(_ presented: String?, session: WebSession) throws(APIError) {
        guard let presented, TokenDirectory.digest(presented) == TokenDirectory.digest(session.csrfToken) else {
            throw APIError(.forbidden, "this request needs the session's CSRF token (the \(csrfHeader.rawName) header or the \(csrfField) form field)")
        }
    }

    private static func cookie(value: String, maxAge: Int) -> Cookie {
        Cookie(name: cookieName, value: value, maxAge: maxAge, path: "/", secure: true, httpOnly: true, sameSite: .strict)
    }

    private static func digest(_ id: String) -> String {
        SHA256.hash(data: Data(id.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// 32 random bytes from the system's generator, as URL-safe base64.
    static func random() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
