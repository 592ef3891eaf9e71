public import Foundation
import Logging
import PostgresNIO

/// Web sessions, as `SQLiteJobStore` keeps them: every replica knows every signed-in browser.
extension PostgresJobStore {
    public func createSession(_ session: WebSession, now: Date) async throws(StoreError) {
        let logger = logger
        try await transaction("keep a web session") { connection in
            try await connection.query("DELETE FROM web_sessions WHERE expires_at <= \(now.timeIntervalSince1970)", logger: logger)
            try await connection.query("""
                INSERT INTO web_sessions (digest, token_name, csrf_token, created_at, expires_at)
                VALUES (\(session.digest), \(session.tokenName), \(session.csrfToken), \(session.createdAt.timeIntervalSince1970), \(session.expiresAt.timeIntervalSince1970))
                """, logger: logger)
        }
    }

    public func session(digest: String, now: Date) async throws(StoreError) -> WebSession? {
        let found = try await rows("SELECT * FROM web_sessions WHERE digest = \(digest) AND expires_at > \(now.timeIntervalSince1970)", "read a web session")
        guard let row = found.first else { return nil }
        do {
            return WebSession(digest: try row["digest"].decode(String.self), tokenName: try row["token_name"].decode(String.self),
                              csrfToken: try row["csrf_token"].decode(String.self),
                              createdAt: Date(timeIntervalSince1970: try row["created_at"].decode(Double.self)),
                              expiresAt: Date(timeIntervalSince1970: try row["expires_at"].decode(Double.self)))
        } catch {
            throw Self.storeError(error, doing: "read a web session")
        }
    }

    public func deleteSession(digest: String) async throws(StoreError) {
        _ = try await rows("DELETE FROM web_sessions WHERE digest = \(digest)", "end a web session")
    }
}
