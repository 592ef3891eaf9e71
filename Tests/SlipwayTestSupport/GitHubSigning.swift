public import Foundation
import SlipwayCore
import SlipwayWebhooks

/// Headers GitHub would send with `body`, as (name, value) pairs for a client.
public enum GitHubSigning {
    public static func headers(body: Data, secret: String, event: String = "push", delivery: String = UUID().uuidString) -> [(String, String)] {
        GitHubAdapter().signedHeaders(body: body, event: event, deliveryID: delivery, secret: SecretValue(secret), now: Date())
            .map { ($0.name, $0.value) }
    }
}
