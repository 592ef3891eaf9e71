import Crypto
import Foundation

/// The credential a job's pod fetches its workspace with: random, valid for one job while it
/// runs. The store keeps only its SHA-256 digest, as a session named after the job (so any
/// replica can check it), removed when the job's pod run ends.
public enum JobToken {
    /// 32 random bytes from the system's generator, hex.
    static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: .min ... .max, using: &generator)) }.joined()
    }

    public static func digest(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// The session name that stands for job `id`'s workspace token.
    public static func sessionName(job id: Int64) -> String { "job-workspace:\(id)" }
}
