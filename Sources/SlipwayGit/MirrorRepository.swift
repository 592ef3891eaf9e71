import CLibgit2
import Foundation
import SlipwayCore

/// What one fetch brought in.
public struct FetchReport: Sendable, Equatable {
    /// True when the mirror was created from nothing (a full clone).
    public var cloned: Bool
    public var receivedObjects: Int
    public var receivedBytes: Int
}

/// A bare mirror of one remote on disk, driven through libgit2. Not thread-safe: `MirrorCache`
/// serialises every use of one mirror.
struct MirrorRepository {
    let path: String
    let url: String

    /// Written after the first complete fetch: a mirror without it was interrupted half-way.
    var completeMarker: String { (path as NSString).appendingPathComponent("slipway-mirror-complete") }

    /// Brings the mirror up to date with the remote, cloning it when missing, and
    /// re-cloning it once when it is damaged.
    /// `refs` are fetched too, each under its own name (a pull request's head ref).
    func fetch(credentials: RepositoryAuth, refs: [String] = []) throws(GitError) -> FetchReport {
        _ = LibGit2.initialised
        try RepositoryURL.validate(url)
        let fileManager = FileManager.default
        if fileManager.fileExists(atPath: path) && !fileManager.fileExists(atPath: completeMarker) {
            try? fileManager.removeItem(atPath: path)
        }
        do {
            return try fetchOnce(credentials: credentials, refs: refs)
        } catch where error.kind == .corruptMirror && fileManager.fileExists(atPath: completeMarker) {
            try? fileManager.removeItem(atPath: path)
            return try fetchOnce(credentials: credentials, refs: refs)
        }
    }

    private func fetchOnce(credentials: RepositoryAuth, refs: [String]) throws(GitError) -> FetchReport {
        let cloning = !FileManager.default.fileExists(atPath: path)
        var repository: OpaquePointer?
        if cloning {
            try LibGit2.check(git_repository_init(&repository, path, 1), "cannot create a mirror at \(path)")
        } else {
            try LibGit2.check(git_repository_open_bare(&repository, path), "cannot open the mirror at \(path)")
        }
        defer { git_repository_free(repository) }

        // An in-memory remote that reads nothing from the config, the refspec given to the
        // fetch. Debian 12's libgit2 1.5 leaks pcre2 match data (~16 KB) on every config regex
        // that does not match, and both writing a named remote's fetch refspec and looking up
        // `url.*.insteadOf` rules go through one: a leak of ~33 KB per fetch.
        var remote: OpaquePointer?
        var createOptions = git_remote_create_options()
        git_remote_create_options_init(&createOptions, UInt32(GIT_REMOTE_CREATE_OPTIONS_VERSION))
        createOptions.repository = repository
        createOptions.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF.rawValue | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC.rawValue
        try LibGit2.check(git_remote_create_with_opts(&remote, url, &createOptions), "cannot use the remote \(url)")
        defer { git_remote_free(remote) }

        let box = CredentialBox(credentials)
        var options = git_fetch_options()
        git_fetch_options_init(&options, UInt32(GIT_FETCH_OPTIONS_VERSION))
        options.prune = GIT_FETCH_PRUNE
        options.callbacks.credentials = CredentialBox.callback
        options.callbacks.certificate_check = CredentialBox.hostKeyCheck
        options.callbacks.payload = Unmanaged.passUnretained(box).toOpaque()
        let result = withExtendedLifetime(box) {
            LibGit2.withStringArray(["+refs/heads/*:refs/heads/*"] + refs.map { "+\($0):\($0)" }) { refspecs in
                git_remote_fetch(remote, refspecs, &options, "slipway fetch")
            }
        }
        if result < 0 {
            var error = LibGit2.lastError("fetching \(url) failed", code: result)
            if box.attempts > 1 || (box.attempts > 0 && box.credentials == .none) { error.kind = .authentication }
            if let hostKeyProblem = box.hostKeyProblem { error = GitError(.authentication, "fetching \(url) failed: \(hostKeyProblem)") }
            if cloning { try? FileManager.default.removeItem(atPath: path) }
            throw error
        }
        let stats = git_remote_stats(remote)!.pointee
        if cloning {
            _ = FileManager.default.createFile(atPath: completeMarker, contents: Data())
        }
        return FetchReport(cloned: cloning, receivedObjects: Int(stats.received_objects), receivedBytes: Int(stats.received_bytes))
    }

    /// Writes the tree of `commit` into `directory` (which must not exist yet or be empty).
    func checkout(commit sha: String, into directory: String) throws(GitError) {
        _ = LibGit2.initialised
        var repository: OpaquePointer?
        try LibGit2.check(git_repository_open_bare(&repository, path), "cannot open the mirror at \(path)")
        defer { git_repository_free(repository) }
        var oid = git_oid()
        guard sha.count == 40, git_oid_fromstr(&oid, sha) == 0 else {
            throw GitError(.commitNotFound, "'\(sha)' is not a full commit id")
        }
        var commit: OpaquePointer?
        guard git_commit_lookup(&commit, repository, &oid) == 0 else {
            throw GitError(.commitNotFound, "commit \(sha) is not in \(url) (after fetching it); was it force-pushed away?")
        }
        defer { git_commit_free(commit) }
        var tree: OpaquePointer?
        try LibGit2.check(git_commit_tree(&tree, commit), "cannot read the tree of \(sha)")
        defer { git_tree_free(tree) }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw GitError(.other, "cannot create the workspace \(directory): \(error.localizedDescription)")
        }
        var options = git_checkout_options()
        git_checkout_options_init(&options, UInt32(GIT_CHECKOUT_OPTIONS_VERSION))
        options.checkout_strategy = GIT_CHECKOUT_FORCE.rawValue | GIT_CHECKOUT_DONT_UPDATE_INDEX.rawValue
        let result = directory.withCString { target in
            options.target_directory = target
            return git_checkout_tree(repository, tree, &options)
        }
        try LibGit2.check(result, "cannot check out \(sha) into \(directory)")
    }

    /// The commit `branch` points at on the remote, from the remote's ref advertisement alone
    /// (`git ls-remote`): no objects are fetched.
    static func remoteHead(url: String, branch: String, credentials: RepositoryAuth) throws(GitError) -> String {
        guard let head = try remoteHeads(url: url, credentials: credentials)[branch] else {
            throw GitError(.commitNotFound, "branch \(branch) is not in \(url)")
        }
        return head
    }

    /// Every branch head of the remote (`refs/heads/NAME` → commit), in one exchange like
    /// `git ls-remote --heads`: apps that share a repository share this read.
    static func remoteHeads(url: String, credentials: RepositoryAuth) throws(GitError) -> [String: String] {
        _ = LibGit2.initialised
        try RepositoryURL.validate(url)
        var remote: OpaquePointer?
        try LibGit2.check(git_remote_create_detached(&remote, url), "cannot use the remote \(url)")
        defer { git_remote_free(remote) }
        let box = CredentialBox(credentials)
        var callbacks = git_remote_callbacks()
        git_remote_init_callbacks(&callbacks, UInt32(GIT_REMOTE_CALLBACKS_VERSION))
        callbacks.credentials = CredentialBox.callback
        callbacks.certificate_check = CredentialBox.hostKeyCheck
        callbacks.payload = Unmanaged.passUnretained(box).toOpaque()
        let connected = withExtendedLifetime(box) { git_remote_connect(remote, GIT_DIRECTION_FETCH, &callbacks, nil, nil) }
        if connected < 0 {
            var error = LibGit2.lastError("reading the branches of \(url) failed", code: connected)
            if let hostKeyProblem = box.hostKeyProblem { error = GitError(.authentication, "reading the branches of \(url) failed: \(hostKeyProblem)") }
            throw error
        }
        defer { git_remote_disconnect(remote) }
        var heads: UnsafeMutablePointer<UnsafePointer<git_remote_head>?>?
        var count = 0
        try LibGit2.check(git_remote_ls(&heads, &count, remote), "cannot list the refs of \(url)")
        var branches: [String: String] = [:]
        for index in 0..<count {
            guard let head = heads?[index]?.pointee else { continue }
            let name = String(cString: head.name)
            guard name.hasPrefix("refs/heads/") else { continue }
            var oid = head.oid
            var buffer = [CChar](repeating: 0, count: 41)
            git_oid_tostr(&buffer, 41, &oid)
            branches[String(name.dropFirst("refs/heads/".count))] = String(cString: buffer)
        }
        return branches
    }

    /// The commit a branch points at in the mirror.
    func head(of branch: String) throws(GitError) -> String {
        do {
            return try target(of: "refs/heads/\(branch)")
        } catch where error.kind == .commitNotFound {
            throw GitError(.commitNotFound, "branch \(branch) is not in \(url)")
        }
    }

    /// The commit a ref points at in the mirror.
    func target(of ref: String) throws(GitError) -> String {
        _ = LibGit2.initialised
        var repository: OpaquePointer?
        try LibGit2.check(git_repository_open_bare(&repository, path), "cannot open the mirror at \(path)")
        defer { git_repository_free(repository) }
        var oid = git_oid()
        guard git_reference_name_to_id(&oid, repository, ref) == 0 else {
            throw GitError(.commitNotFound, "\(ref) is not in \(url)")
        }
        var buffer = [CChar](repeating: 0, count: 41)
        git_oid_tostr(&buffer, 41, &oid)
        return String(cString: buffer)
    }

    /// Whether the mirror has `commit`.
    func contains(commit sha: String) -> Bool {
        _ = LibGit2.initialised
        var repository: OpaquePointer?
        guard git_repository_open_bare(&repository, path) == 0 else { return false }
        defer { git_repository_free(repository) }
        var oid = git_oid()
        guard sha.count == 40, git_oid_fromstr(&oid, sha) == 0 else { return false }
        var commit: OpaquePointer?
        guard git_commit_lookup(&commit, repository, &oid) == 0 else { return false }
        git_commit_free(commit)
        return true
    }
}

/// Carries credentials into libgit2's C callback, and counts attempts so that a refused
/// password is not retried forever.
final class CredentialBox {
    let credentials: RepositoryAuth
    var attempts = 0
    /// Why the SSH host key was refused, for the error message.
    var hostKeyProblem: String?

    init(_ credentials: RepositoryAuth) {
        self.credentials = credentials
    }

    static let callback: git_credential_acquire_cb = { out, _, usernameFromURL, allowedTypes, payload in
        guard let payload, let out else { return -1 }
        let box = Unmanaged<CredentialBox>.fromOpaque(payload).takeUnretainedValue()
        box.attempts += 1
        guard box.attempts == 1 else { return GIT_EAUTH.rawValue }
        switch box.credentials {
        case .none:
            return GIT_PASSTHROUGH.rawValue
        case .userPassword(let username, let password):
            guard allowedTypes & GIT_CREDENTIAL_USERPASS_PLAINTEXT.rawValue != 0 else { return GIT_PASSTHROUGH.rawValue }
            return git_credential_userpass_plaintext_new(out, username, password.value)
        case .sshKey(let username, let key, let passphrase, _):
            guard allowedTypes & GIT_CREDENTIAL_SSH_KEY.rawValue != 0 else { return GIT_PASSTHROUGH.rawValue }
            let user = usernameFromURL.map { String(cString: $0) } ?? username
            return git_credential_ssh_key_new(out, user, nil, key, passphrase?.value)
        }
    }

    /// SSH host keys must be in the configured known_hosts file; TLS certificates are left
    /// to libgit2's own verification.
    static let hostKeyCheck: git_transport_certificate_check_cb = { cert, valid, host, payload in
        guard let cert, let payload else { return GIT_PASSTHROUGH.rawValue }
        let box = Unmanaged<CredentialBox>.fromOpaque(payload).takeUnretainedValue()
        guard cert.pointee.cert_type == GIT_CERT_HOSTKEY_LIBSSH2 else { return GIT_PASSTHROUGH.rawValue }
        guard case .sshKey(_, _, _, let knownHosts) = box.credentials else {
            box.hostKeyProblem = "ssh remotes need repo_auth with an ssh_key and a known_hosts file"
            return GIT_ECERTIFICATE.rawValue
        }
        let hostName = host.map { String(cString: $0) } ?? ""
        let hostKey = UnsafeRawPointer(cert).assumingMemoryBound(to: git_cert_hostkey.self).pointee
        guard hostKey.type.rawValue & GIT_CERT_SSH_SHA256.rawValue != 0 else {
            box.hostKeyProblem = "the SSH library gave no SHA-256 host key hash for \(hostName)"
            return GIT_ECERTIFICATE.rawValue
        }
        let presented = withUnsafeBytes(of: hostKey.hash_sha256) { Array($0) }
        switch KnownHosts.check(host: hostName, sha256: presented, file: knownHosts) {
        case .trusted:
            return 0
        case .problem(let why):
            box.hostKeyProblem = why
            return GIT_ECERTIFICATE.rawValue
        }
    }
}
