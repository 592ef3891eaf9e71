/// Checks a repository URL before libgit2 sees it: libgit2 quietly treats an unknown scheme
/// as SSH, which fails later with a confusing "connection refused".
public enum RepositoryURL {
    public static let schemes = ["https", "http", "ssh", "file", "git"]

    /// Throws unless `url` is `https://`, `http://`, `ssh://`, `git://`, `file://`, an absolute
    /// path, or scp-like `user@host:path`.
    public static func validate(_ url: String) throws(GitError) {
        if url.hasPrefix("/") { return }
        if let range = url.range(of: "://") {
            let scheme = url[..<range.lowerBound].lowercased()
            guard schemes.contains(scheme) else {
                throw GitError(.unsupportedURL, "repository URL \(url) uses '\(scheme)://'; use one of: \(schemes.map { "\($0)://" }.joined(separator: ", "))")
            }
            guard url.count > range.upperBound.utf16Offset(in: url) else {
                throw GitError(.unsupportedURL, "repository URL \(url) has no host or path")
            }
            return
        }
        // scp-like syntax: git@github.com:acme/app.git
        if let at = url.firstIndex(of: "@"), let colon = url.firstIndex(of: ":"), at < colon, !url[..<colon].contains("/") {
            return
        }
        throw GitError(.unsupportedURL, "repository URL '\(url)' is not a URL git can fetch (https://, ssh://, file:// or user@host:path)")
    }
}
