public import Foundation
import Crypto

/// The dashboard's stylesheet and script, embedded in the binary and served under a name
/// holding their content's hash, so a browser may keep them for a year and still never
/// runs an old script against a new page.
public struct WebAsset: Sendable {
    /// `/assets/dashboard.3f2a9c1e.css`
    public let path: String
    public let contentType: String
    public let bytes: Data

    init(name: String, type: String, contentType: String, bytes: [UInt8]) {
        let hash = SHA256.hash(data: bytes).prefix(6).map { String(format: "%02x", $0) }.joined()
        path = "/assets/\(name).\(hash).\(type)"
        self.contentType = contentType
        self.bytes = Data(bytes)
    }

    public static let stylesheet = WebAsset(name: "dashboard", type: "css", contentType: "text/css; charset=utf-8",
                                            bytes: PackageResources.dashboard_css)
    public static let script = WebAsset(name: "dashboard", type: "js", contentType: "text/javascript; charset=utf-8",
                                        bytes: PackageResources.dashboard_js)
    public static let all = [stylesheet, script]

    /// No inline script or style, nothing from elsewhere, no framing: a value that slipped
    /// past escaping still could not run.
    public static let contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        + "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}
