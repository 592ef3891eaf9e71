import Foundation
import SlipwayWebhooks
import Testing

/// What a delivery's headers say, read the way forges and proxies write them.
@Suite struct WebhookRequestTests {
    @Test(arguments: [
        ("application/json", "application/json"),
        ("application/json; charset=utf-8", "application/json"),
        ("  Application/JSON\t ;charset=UTF-8", "application/json"),
        ("application/x-www-form-urlencoded", "application/x-www-form-urlencoded"),
        ("text/plain ", "text/plain"),
        (";charset=utf-8", ""),
        ("", ""),
    ])
    func theMediaTypeIsTheTypeWithoutParametersLowerCased(header: String, expected: String) {
        let request = WebhookRequest(headers: [("Content-Type", header)], body: Data())
        #expect(request.mediaType == expected)
    }

    @Test func headerNamesAreCaseInsensitiveAndTheFirstValueCounts() {
        let request = WebhookRequest(headers: [("X-GitHub-Event", "push"), ("x-github-event", "ping")], body: Data())
        #expect(request[header: "X-GITHUB-EVENT"] == "push")
        #expect(request.mediaType == nil)
    }
}
