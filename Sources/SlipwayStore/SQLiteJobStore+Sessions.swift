public import Foundation
import GRDB

extension SQLiteJobStore {
    static func registerSessionMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v7-web-sessions") { db in
            try db.execute(sql: """
                CREATE TABLE web_sessions (
                    digest TEXT PRIMARY KEY,
                    token_name TEXT NOT NULL,
                    csrf_token TEXT NOT NULL,
                    created_at DOUBLE NOT NULL,
                    expires_at DOUBLE NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX web_sessions_by_expiry ON web_sessions(expires_at);
                """)
        }
    }

    public func createSession(_ session: WebSession, now: Date) async throws(StoreError) {
        try await write { db in
            try db.execute(sql: "DELETE FROM web_sessions WHERE expires_at <= ?", arguments: [now.timeIntervalSince1970])
            try db.execute(sql: "INSERT INTO web_sessions (digest, token_name, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                           arguments: [session.digest, session.tokenName, session.csrfToken,
                                       session.createdAt.timeIntervalSince1970, session.expiresAt.timeIntervalSince1970])
        }
    }

    public func session(digest: String, now: Date) async throws(StoreError) -> WebSession? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM web_sessions WHERE digest = ? AND expires_at > ?", arguments: [digest, now.timeIntervalSince1970])
                .map { row in
                    WebSession(digest: row["digest"], tokenName: row["token_name"], csrfToken: row["csrf_token"],
                               createdAt: Date(timeIntervalSince1970: row["created_at"]), expiresAt: Date(timeIntervalSince1970: row["expires_at"]))
                }
        }
    }

    public func deleteSession(digest: String) async throws(StoreError) {
        try await write { db in try db.execute(sql: "DELETE FROM web_sessions WHERE digest = ?", arguments: [digest]) }
    }
}
