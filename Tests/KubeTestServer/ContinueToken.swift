import Foundation

/// The `continue` token of a paged LIST, in the real server's form: unpadded base64url of
/// `{"v":"meta.k8s.io/v1","rv":N,"start":"KEY\u0000"}` (recorded in 25 and 26).
struct ContinueToken {
    var resourceVersion: Int
    var start: String

    init(resourceVersion: Int, start: String) {
        self.resourceVersion = resourceVersion
        self.start = start
    }

    init?(_ text: String) {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let version = object["rv"] as? Int, let start = object["start"] as? String else { return nil }
        self.init(resourceVersion: version, start: start)
    }

    var text: String {
        // The escape of the NUL that ends the key is written as Go writes it.
        let start = self.start.replacingOccurrences(of: "\u{0}", with: "\\u0000")
        let json = #"{"v":"meta.k8s.io/v1","rv":\#(resourceVersion),"start":"\#(start)"}"#
        return Data(json.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}
