import Foundation

/// A path of a job's workspace that the server itself uses (the pipeline file, manifests, a step's workdir).
public enum WorkspaceFile {
    /// The absolute path of `relative` in `workspace`, or nil when it leads outside it, through
    /// `..` or a symbolic link: a repository must not make the server read its tokens.
    public static func path(_ relative: String, in workspace: String) -> String? {
        let root = URL(fileURLWithPath: workspace).standardizedFileURL.resolvingSymlinksInPath().path
        let resolved = URL(fileURLWithPath: workspace).appendingPathComponent(relative).standardizedFileURL.resolvingSymlinksInPath().path
        return resolved == root || resolved.hasPrefix(root + "/") ? resolved : nil
    }
}
