public import Foundation

/// One call to a forge's API as that forge publishes it: method, URL, headers, JSON body.
public struct ForgeRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(String, String)]
    public var body: Data

    public init(method: String = "POST", url: String, headers: [(String, String)], body: Data) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}
