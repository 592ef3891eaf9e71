import Crypto
import Foundation

/// Checks an SSH server's host key against an OpenSSH known_hosts file, so a fetch never
/// talks to a server that only claims to be the app's git host.
enum KnownHosts {
    enum Verdict: Equatable {
        case trusted
        case problem(String)
    }

    static func check(host: String, sha256 presented: [UInt8], file: String) -> Verdict {
        let fingerprint = "SHA256:" + Data(presented).base64EncodedString().replacingOccurrences(of: "=", with: "")
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            return .problem("cannot read known_hosts file \(file); the host key of \(host) is \(fingerprint)")
        }
        var listed = false
        for line in text.split(whereSeparator: \.isNewline) {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 3, !fields[0].hasPrefix("#"), !fields[0].hasPrefix("@"), !fields[0].hasPrefix("|") else { continue }
            let patterns = fields[0].split(separator: ",").map(String.init)
            // "host" or "[host]:port" (any port: the URL's port already chose the server).
            guard patterns.contains(where: { $0 == host || $0.hasPrefix("[\(host)]:") }) else { continue }
            listed = true
            guard let blob = Data(base64Encoded: String(fields[2])) else { continue }
            if Array(SHA256.hash(data: blob)) == presented { return .trusted }
        }
        return .problem(listed
            ? "the host key of \(host) (\(fingerprint)) does not match the one in \(file): refusing to fetch"
            : "\(host) is not in \(file); its host key is \(fingerprint) (add it with ssh-keyscan)")
    }
}
