import Crypto
import Foundation
import SlipwayCore

/// The configured API tokens, found by secret (compared as SHA-256 digests in constant time,
/// every token every time) or by name (a web session remembers only the name, so a token
/// removed from the configuration ends its sessions and a changed role applies at once).
struct TokenDirectory: Sendable {
    private let tokens: [(digest: [UInt8], token: APIToken)]

    init(_ tokens: [APIToken]) {
        self.tokens = tokens.map { (Self.digest($0.secret.value), $0) }
    }

    static func digest(_ text: String) -> [UInt8] {
        Array(SHA256.hash(data: Data(text.utf8)))
    }

    /// The token whose secret this is.
    func token(secret: String) -> APIToken? {
        let presented = Self.digest(secret)
        var found: APIToken?
        for entry in tokens where Self.equal(entry.digest, presented) { found = entry.token }
        return found
    }

    func token(named name: String) -> APIToken? {
        tokens.first { $0.token.name == name }?.token
    }

    /// Compares two equally long byte strings without stopping at the first difference.
    static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }
}
