import CLibgit2
import Foundation

/// Thin helpers over libgit2's C API: error capture and initialisation.
enum LibGit2 {
    /// Initialises libgit2 once per process (libgit2 counts calls; one is enough).
    static let initialised: Bool = {
        git_libgit2_init()
        return true
    }()

    /// Runs a libgit2 call; a negative result becomes a `GitError` with libgit2's message.
    static func check(_ result: Int32, _ what: @autoclosure () -> String) throws(GitError) {
        guard result < 0 else { return }
        throw lastError(what(), code: result)
    }

    static func lastError(_ what: String, code: Int32) -> GitError {
        let detail: String
        var kind = GitError.Kind.other
        if let error = git_error_last() {
            detail = String(cString: error.pointee.message)
            switch git_error_t(UInt32(error.pointee.klass)) {
            case GIT_ERROR_NET, GIT_ERROR_SSL, GIT_ERROR_SSH, GIT_ERROR_HTTP, GIT_ERROR_OS:
                kind = .network
            case GIT_ERROR_ODB, GIT_ERROR_REPOSITORY, GIT_ERROR_INDEX, GIT_ERROR_OBJECT, GIT_ERROR_ZLIB:
                kind = .corruptMirror
            default:
                break
            }
        } else {
            detail = "libgit2 error \(code)"
        }
        if code == GIT_EAUTH.rawValue || detail.localizedCaseInsensitiveContains("authentication")
            || detail.localizedCaseInsensitiveContains("credentials") {
            kind = .authentication
        }
        return GitError(kind, "\(what): \(detail)")
    }

    /// Lends `strings` to a C call as a `git_strarray` (valid only during `body`).
    static func withStringArray<T>(_ strings: [String], _ body: (UnsafePointer<git_strarray>) -> T) -> T {
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        defer { pointers.forEach { free($0) } }
        return pointers.withUnsafeMutableBufferPointer { buffer in
            var array = git_strarray(strings: buffer.baseAddress, count: buffer.count)
            return body(&array)
        }
    }
}
