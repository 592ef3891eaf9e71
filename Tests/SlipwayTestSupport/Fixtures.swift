public import Foundation
public import SlipwayWebhooks

/// The forge payloads recorded in Fixtures/webhooks, byte for byte.
public enum WebhookFixture {
    public static let secret = "fixture-secret-7d3f"
    public static let gitlabSigningToken = "whsec_c2xpcHdheS1maXh0dXJlLXNpZ25pbmcta2V5LTMyYiE="
    /// When gitlab-push-signed was signed (2026-11-25T10:15:02Z).
    public static let gitlabSignedAt = Date(timeIntervalSince1970: 1_795_601_702)

    public static var directory: URL {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures/webhooks")
    }

    /// The body (`NAME.json` or `NAME.body`) and headers of a fixture.
    public static func load(_ name: String) throws -> (headers: [(name: String, value: String)], body: Data) {
        let bodyURL = [directory.appendingPathComponent("\(name).json"), directory.appendingPathComponent("\(name).body")]
            .first { FileManager.default.fileExists(atPath: $0.path) }!
        let body = try Data(contentsOf: bodyURL)
        let headerText = try String(contentsOf: directory.appendingPathComponent("\(name).headers"), encoding: .utf8)
        let headers = headerText.split(separator: "\n").compactMap { line -> (name: String, value: String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        return (headers, body)
    }

    public static func request(_ name: String) throws -> WebhookRequest {
        let (headers, body) = try load(name)
        return WebhookRequest(headers: headers, body: body)
    }
}
