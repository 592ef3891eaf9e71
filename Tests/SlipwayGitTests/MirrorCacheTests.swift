import Foundation
import SlipwayGit
import SlipwayTestSupport
import SlipwayCore
import Testing

@Suite struct MirrorCacheTests {
    @Test func firstFetchClonesLaterFetchesAreIncremental() async throws {
        let repository = try GitRepository.make(files: ["app.txt": "v1\n", "big.txt": String(repeating: "x\n", count: 5000)])
        defer { repository.directory.remove() }
        let cacheDir = try TemporaryDirectory()
        defer { cacheDir.remove() }
        let cache = MirrorCache(root: cacheDir.path)

        let first = try #require(try await cache.ensure(commit: try repository.head(), in: repository.url))
        #expect(first.cloned)
        #expect(first.receivedObjects >= 4)

        // Already there: no fetch at all.
        #expect(try await cache.ensure(commit: try repository.head(), in: repository.url) == nil)

        let second = try repository.commit(files: ["app.txt": "v2\n"], message: "second")
        let report = try #require(try await cache.ensure(commit: second, in: repository.url))
        #expect(!report.cloned)
        // Only the new commit, its tree and the changed blob.
        #expect(report.receivedObjects == 3)
        #expect(report.receivedBytes < first.receivedBytes)

        let workspace = cacheDir.path + "/ws"
        try await cache.checkout(repository.url, commit: second, into: workspace)
        #expect(try String(contentsOfFile: workspace + "/app.txt", encoding: .utf8) == "v2\n")
    }

    /// The remote is in memory and the refspec given to each fetch (see `fetchOnce`): a
    /// force-pushed branch still moves, a new one appears, a deleted one is pruned.
    @Test func forcePushesNewAndDeletedBranchesReachTheMirror() async throws {
        let repository = try GitRepository.make(files: ["app.txt": "v1\n"])
        defer { repository.directory.remove() }
        let cacheDir = try TemporaryDirectory()
        defer { cacheDir.remove() }
        let cache = MirrorCache(root: cacheDir.path)
        let first = try repository.head()
        _ = try repository.git("branch", "feature")
        _ = try await cache.fetch(repository.url)
        #expect(try await cache.head(of: "feature", in: repository.url) == first)

        let second = try repository.commit(files: ["app.txt": "v2\n"], message: "second")
        _ = try repository.git("reset", "--hard", first)
        let rewritten = try repository.commit(files: ["app.txt": "v2, rewritten\n"], message: "rewritten")
        #expect(rewritten != second)
        _ = try repository.git("branch", "-D", "feature")
        _ = try repository.git("branch", "release")
        _ = try await cache.fetch(repository.url)

        let branch = try repository.git("rev-parse", "--abbrev-ref", "HEAD").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try await cache.head(of: branch, in: repository.url) == rewritten)
        #expect(try await cache.head(of: "release", in: repository.url) == rewritten)
        await #expect(throws: GitError.self) { try await cache.head(of: "feature", in: repository.url) }
    }

    @Test func missingCommitIsAClearError() async throws {
        let repository = try GitRepository.make()
        defer { repository.directory.remove() }
        let cacheDir = try TemporaryDirectory()
        defer { cacheDir.remove() }
        let cache = MirrorCache(root: cacheDir.path)
        let missing = String(repeating: "ab", count: 20)
        await #expect(throws: GitError.self) { try await cache.ensure(commit: missing, in: repository.url) }
        do {
            _ = try await cache.ensure(commit: missing, in: repository.url)
        } catch {
            #expect(error.kind == .commitNotFound)
            #expect(error.message.contains(missing))
        }
    }

    @Test func unknownSchemesAreRefusedBeforeLibgit2GuessesSSH() async throws {
        let cache = MirrorCache(root: NSTemporaryDirectory() + "/slipway-unused")
        for url in ["ftp://example.com/repo.git", "example.com/repo", "htps://x/y"] {
            do {
                _ = try await cache.fetch(url)
                Issue.record("\(url) was accepted")
            } catch {
                #expect(error.kind == .unsupportedURL, "\(url): \(error)")
            }
        }
    }

    @Test func halfWrittenMirrorIsReclonedAndDamagedOneRepaired() async throws {
        let repository = try GitRepository.make()
        defer { repository.directory.remove() }
        let cacheDir = try TemporaryDirectory()
        defer { cacheDir.remove() }
        let cache = MirrorCache(root: cacheDir.path)
        let path = cache.mirrorPath(for: repository.url)

        // A clone that died half-way: a directory without the completion marker.
        try FileManager.default.createDirectory(atPath: path + "/objects", withIntermediateDirectories: true)
        try "garbage".write(toFile: path + "/HEAD", atomically: true, encoding: .utf8)
        let report = try await cache.fetch(repository.url)
        #expect(report.cloned)

        // A complete mirror whose object store was damaged afterwards.
        try FileManager.default.removeItem(atPath: path + "/objects")
        try "garbage".write(toFile: path + "/HEAD", atomically: true, encoding: .utf8)
        let next = try repository.commit(files: ["n.txt": "n\n"], message: "n")
        let repaired = try #require(try await cache.ensure(commit: next, in: repository.url))
        #expect(repaired.cloned)
    }

    @Test func concurrentFetchesOfOneRepositoryDoNotCollide() async throws {
        let repository = try GitRepository.make()
        defer { repository.directory.remove() }
        let cacheDir = try TemporaryDirectory()
        defer { cacheDir.remove() }
        let cache = MirrorCache(root: cacheDir.path)
        let head = try repository.head()
        let reports = try await withThrowingTaskGroup(of: FetchReport?.self) { group in
            for _ in 0..<8 { group.addTask { try await cache.ensure(commit: head, in: repository.url) } }
            var all: [FetchReport?] = []
            for try await report in group { all.append(report) }
            return all
        }
        // Exactly one clone; everyone else found the commit already there.
        #expect(reports.compactMap { $0 }.filter(\.cloned).count == 1)
        #expect(reports.compactMap { $0 }.count == 1)
    }
}

@Suite struct HTTPSRemoteTests {
    @Test func httpsWithBasicAuthWorksAndWrongPasswordsAreReported() async throws {
        let root = try TemporaryDirectory("slipway-git-root")
        defer { root.remove() }
        let work = try GitRepository.make(files: ["app.txt": "over https\n"])
        defer { work.directory.remove() }
        try GitRepository.run(["clone", "-q", "--bare", work.path, root.path + "/app.git"], in: "/")
        let server = try await GitHTTPServer.start(root: root.path, username: "deploy", password: "t0ken")
        let cacheDir = try TemporaryDirectory()
        defer { cacheDir.remove() }
        // libgit2 matches certificate names, not IP addresses: the URL uses localhost.
        let cache = MirrorCache(root: cacheDir.path, caFile: server.certificatePath)
        let url = server.url("app.git")

        let report = try await cache.fetch(url, credentials: .userPassword(username: "deploy", password: SecretValue("t0ken")))
        #expect(report.cloned)
        try await cache.checkout(url, commit: try work.head(), into: cacheDir.path + "/ws")
        #expect(try String(contentsOfFile: cacheDir.path + "/ws/app.txt", encoding: .utf8) == "over https\n")

        for credentials in [RepositoryAuth.none, .userPassword(username: "deploy", password: SecretValue("wrong"))] {
            do {
                _ = try await MirrorCache(root: cacheDir.path + "/other").fetch(url, credentials: credentials)
                Issue.record("fetch with \(credentials) succeeded")
            } catch {
                #expect(error.kind == .authentication, "\(error)")
                #expect(!error.message.contains("wrong"))
            }
        }
        await server.stop()
    }
}

@Suite struct SSHRemoteTests {
    @Test(.enabled(if: SSHGitServer.isAvailable, "needs openssh-server (script/bootstrap installs it)"))
    func sshWithAKeyWorksAndAnUnknownKeyIsRefused() async throws {
        let server = try SSHGitServer.start()
        defer { server.stop() }
        let work = try GitRepository.make(files: ["app.txt": "over ssh\n"])
        defer { work.directory.remove() }
        let bare = server.directory.path + "/app.git"
        try GitRepository.run(["clone", "-q", "--bare", work.path, bare], in: "/")
        let cacheDir = try TemporaryDirectory()
        defer { cacheDir.remove() }
        let url = server.url(path: bare)

        let cache = MirrorCache(root: cacheDir.path)
        let report = try await cache.fetch(url, credentials: server.credentials(key: server.clientKeyPath))
        #expect(report.cloned)
        try await cache.checkout(url, commit: try work.head(), into: cacheDir.path + "/ws")
        #expect(try String(contentsOfFile: cacheDir.path + "/ws/app.txt", encoding: .utf8) == "over ssh\n")

        let stranger = cacheDir.path + "/stranger"
        try GitRepository.runTool("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", stranger])
        do {
            _ = try await MirrorCache(root: cacheDir.path + "/other").fetch(url, credentials: server.credentials(key: stranger))
            Issue.record("an unknown key was accepted")
        } catch {
            #expect(error.kind == .authentication || error.kind == .network, "\(error)")
        }

        // A server whose host key is not the known one is never fetched from.
        let otherHosts = try cacheDir.write("known_hosts", "[127.0.0.1]:\(server.port) " + (try String(contentsOfFile: server.clientKeyPath + ".pub", encoding: .utf8)))
        do {
            _ = try await MirrorCache(root: cacheDir.path + "/third")
                .fetch(url, credentials: .sshKey(username: NSUserName(), privateKeyPath: server.clientKeyPath, passphrase: nil, knownHosts: otherHosts))
            Issue.record("a wrong host key was accepted")
        } catch {
            #expect(error.kind == .authentication)
            #expect(error.message.contains("does not match the one in"), "\(error)")
        }
        let unknownHost = try cacheDir.write("empty_known_hosts", "")
        do {
            _ = try await MirrorCache(root: cacheDir.path + "/fourth")
                .fetch(url, credentials: .sshKey(username: NSUserName(), privateKeyPath: server.clientKeyPath, passphrase: nil, knownHosts: unknownHost))
            Issue.record("an unknown host was accepted")
        } catch {
            #expect(error.message.contains("is not in \(unknownHost); its host key is SHA256:"), "\(error)")
        }
    }
}

@Suite struct RemoteHeadTests {
    @Test func remoteHeadReadsTheBranchWithoutFetching() async throws {
        let repository = try GitRepository.make()
        defer { repository.directory.remove() }
        let cacheDir = try TemporaryDirectory()
        defer { cacheDir.remove() }
        let cache = MirrorCache(root: cacheDir.path)
        #expect(try await cache.remoteHead(of: "main", in: repository.url) == (try repository.head()))
        let next = try repository.commit(files: ["x": "y"], message: "x")
        #expect(try await cache.remoteHead(of: "main", in: repository.url) == next)
        // Nothing was fetched: no mirror exists.
        #expect(!FileManager.default.fileExists(atPath: cache.mirrorPath(for: repository.url)))
        do {
            _ = try await cache.remoteHead(of: "nope", in: repository.url)
            Issue.record("a missing branch had a head")
        } catch {
            #expect(error.message == "branch nope is not in \(repository.url)")
        }
    }
}

/// A pull request's head, from the ref the forge publishes it under.
@Suite struct PullRequestHeadTests {
    @Test func aRequestsHeadRefIsFetchedAndAShortHashIsResolved() async throws {
        let repository = try GitRepository.make(files: ["app.txt": "v1\n"])
        defer { repository.directory.remove() }
        let cacheDir = try TemporaryDirectory()
        defer { cacheDir.remove() }
        let cache = MirrorCache(root: cacheDir.path)
        _ = try await cache.fetch(repository.url)

        // Only under refs/pull/5/head (as GitHub publishes it): a branch fetch does not bring it.
        _ = try repository.git("checkout", "-q", "-b", "feature")
        let head = try repository.commit(files: ["app.txt": "v2\n"], message: "feature")
        _ = try repository.git("update-ref", "refs/pull/5/head", head)
        _ = try repository.git("checkout", "-q", "main")
        _ = try repository.git("branch", "-q", "-D", "feature")
        let fetched = try await cache.ensure(pullRequestHead: head, ref: "refs/pull/5/head", in: repository.url)
        #expect(fetched.commit == head && fetched.report != nil)
        #expect(try await cache.ensure(pullRequestHead: head, ref: "refs/pull/5/head", in: repository.url).report == nil, "already there")

        // Bitbucket Cloud: the source branch, and a 12-character hash.
        _ = try repository.git("checkout", "-q", "-b", "topic")
        let topic = try repository.commit(files: ["app.txt": "v3\n"], message: "topic")
        _ = try repository.git("checkout", "-q", "main")
        let short = try await cache.ensure(pullRequestHead: String(topic.prefix(12)), ref: "refs/heads/topic", in: repository.url)
        #expect(short.commit == topic)
        // The branch moved on since the delivery: a clear error, not another commit previewed.
        await #expect(throws: GitError.self) {
            try await cache.ensure(pullRequestHead: String(head.prefix(12)), ref: "refs/heads/topic", in: repository.url)
        }
        // A head that is nowhere.
        let missing = String(repeating: "e", count: 40)
        do {
            _ = try await cache.ensure(pullRequestHead: missing, ref: "refs/pull/6/head", in: repository.url)
            Issue.record("expected commitNotFound")
        } catch {
            #expect(error.kind == .commitNotFound)
        }
    }
}
