import Foundation

/// A file of a job's workspace that the server itself reads (the pipeline file, manifests).
public enum WorkspaceFile {
    /// The absolute path of `relative` in `workspace`, or nil when it leads outside it, through
    /// `..` or a symbolic link: a repository must not make the server read its tokens.
    public static func path(_ relative: String, in workspace: String) -> String? {
        let root = URL(fileURLWithPath: workspace).standardizedFileURL.resolvingSymlinksInPath().path
        let resolved = URL(fileURLWithPath: workspace).appendingPathComponent(relative).standardizedFileURL.resolvingSymlinksInPath().path
        return resolved.hasPrefix(root + "/") ? resolved : nil
    }
}
