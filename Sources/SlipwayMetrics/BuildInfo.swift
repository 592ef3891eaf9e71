/// What this binary is: its version, and (generated at build time) its commit.
public enum BuildInfo {
    /// The release this source tree is.
    public static let version = "0.10.0"
}
