public import SlipwayCore

/// What a verified delivery turned out to be.
public enum WebhookEvent: Sendable, Equatable {
    /// One or more ref updates (Bitbucket may report several refs in one delivery).
    case push([PushEvent])
    /// A pull (merge) request opened, reopened, updated, or something else happened to it.
    case pullRequest(PullRequestEvent)
    /// The forge checking that the hook works.
    case ping(deliveryID: String)
    /// Any other event type; answered 2xx so the forge does not disable the hook.
    case other(event: String, deliveryID: String)
}
