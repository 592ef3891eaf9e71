public import Foundation

/// A real git repository made with the git CLI in a temp folder, to push commits to.
public struct GitRepository: Sendable {
    public let directory: TemporaryDirectory
    public var path: String { directory.path }
    /// `file://` URL of the repository.
    public var url: String { "file://" + path }

    /// A new repository with branch `main` and one commit holding `files`.
    public static func make(files: [String: String] = ["README.md": "hello\n"]) throws -> GitRepository {
        let repository = GitRepository(directory: try TemporaryDirectory("slipway-repo"))
        try repository.git("init", "-q", "-b", "main")
        try repository.git("config", "user.email", "dev@example.com")
        try repository.git("config", "user.name", "Dev")
        try repository.commit(files: files, message: "initial")
        return repository
    }

    /// Writes `files` (path → content; nil removes), commits, and returns the new commit id.
    @discardableResult
    public func commit(files: [String: String?], message: String) throws -> String {
        for (name, content) in files {
            let file = directory.url.appendingPathComponent(name)
            if let content {
                try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
                try content.write(to: file, atomically: true, encoding: .utf8)
                if name.hasSuffix(".sh") {
                    try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: file.path)
                }
            } else {
                try? FileManager.default.removeItem(at: file)
            }
        }
        try git("add", "-A")
        try git("commit", "-q", "-m", message)
        return try head()
    }

    public func head() throws -> String {
        try git("rev-parse", "HEAD").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @discardableResult
    public func git(_ arguments: String...) throws -> String {
        try Self.run(arguments, in: path)
    }

    /// `git` on a thread of its own, for commands that talk to a server in this process
    /// (a push whose hook notifies Slipway).
    @discardableResult
    public func gitAsync(_ arguments: String...) async throws -> String {
        let path = self.path
        return try await onOwnThread { try Self.run(arguments, in: path) }
    }

    @discardableResult
    public static func run(_ arguments: [String], in directory: String, environment: [String: String] = [:]) throws -> String {
        let (status, output) = try runChildProcess(URL(fileURLWithPath: "/usr/bin/env"), ["git"] + arguments, directory: directory, environment: environment)
        guard status == 0 else { throw GitCommandError(arguments: arguments, output: output) }
        return output
    }
}

public struct GitCommandError: Error, CustomStringConvertible {
    public var arguments: [String]
    public var output: String
    public var description: String { "git \(arguments.joined(separator: " ")) failed: \(output)" }
}
