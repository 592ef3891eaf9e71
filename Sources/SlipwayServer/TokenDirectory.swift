import Crypto
import Foundation
import SlipwayCore

/// The configured API tokens, found by secret (compared as SHA-256 digests, which
/// swift-crypto compares in constant time, every token every time) or by name (a web session remembers only the name, so a token
/// removed from the configuration ends its sessions and a changed role applies at once).
struct TokenDirectory: Sendable {
    private let tokens: [(digest: SHA256.Digest, token: APIToken)]

    init(_ tokens: [APIToken]) {
        self.tokens = tokens.map { (Self.digest($0.secret.value), $0) }
    }

    static func digest(_ text: String) -> SHA256.Digest {
        SHA256.hash(data: Data(text.utf8))
    }

    /// The token whose secret this is.
    func token(secret: String) -> APIToken? {
        let presented = Self.digest(secret)
        var found: APIToken?
        for entry in tokens where entry.digest == presented { found = entry.token }
        return found
    }

    func token(named name: String) -> APIToken? {
        tokens.first { $0.token.name == name }?.token
    }
}
