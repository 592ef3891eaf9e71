import Foundation
import SlipwayCore

/// Reads secret references: `{env: NAME}`, `{file: PATH}`, or `{file: PATH, generate: true}`
/// which creates a random secret (mode 0600) the first time, so a fresh install works
/// without anyone inventing a token. Secrets are never written inline in the config.
struct SecretResolver {
    let environment: [String: String]

    func resolve(_ node: YAMLNode) throws(ConfigError) -> SecretValue {
        let reference = try node.mapping(allowing: ["env", "file", "generate"])
        if let env = reference["env"] {
            let name = try env.string()
            guard let value = environment[name], !value.isEmpty else {
                throw env.error("environment variable \(name) is not set or empty")
            }
            return SecretValue(value)
        }
        guard let fileNode = reference["file"] else {
            throw node.error("a secret is given as {env: VARIABLE} or {file: PATH}; inline secrets are not accepted")
        }
        let path = try fileNode.string()
        let generate = try reference["generate"]?.bool() ?? false
        if generate && !FileManager.default.fileExists(atPath: path) {
            try create(path, at: fileNode)
        }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw fileNode.error("cannot read secret file \(path): \(error.localizedDescription)")
        }
        let value = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !value.isEmpty else { throw fileNode.error("secret file \(path) is empty") }
        return SecretValue(value)
    }

    private func create(_ path: String, at node: YAMLNode) throws(ConfigError) {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let value = bytes.map { String(format: "%02x", $0) }.joined() + "\n"
        do {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            guard FileManager.default.createFile(atPath: path, contents: Data(value.utf8), attributes: [.posixPermissions: 0o600]) else {
                throw CocoaError(.fileWriteUnknown)
            }
        } catch {
            throw node.error("cannot create secret file \(path): \(error.localizedDescription)")
        }
    }
}
