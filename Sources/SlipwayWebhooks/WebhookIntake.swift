public import Foundation
public import SlipwayCore

/// What to do with a delivery for an app, decided without any I/O.
public enum IntakeDecision: Sendable, Equatable {
    /// A push to the app's branch: queue a job for it.
    case enqueue(PushEvent)
    /// A pull request to the app's branch opened or given new commits: queue a preview.
    case preview(PullRequestEvent)
    /// A verified delivery that creates no job; `reason` is sent back to the forge.
    case ignore(deliveryID: String, reason: String)
    case ping(deliveryID: String)
}

/// Verifies a delivery for an app and decides whether it becomes a job.
public struct WebhookIntake: Sendable {
    public init() {}

    /// Verify first, over the raw bytes; only then read the payload.
    public func decide(_ request: WebhookRequest, for app: AppConfig, now: Date) throws(WebhookError) -> IntakeDecision {
        let adapter = app.forge.adapter
        try adapter.verify(request, secrets: app.webhookSecrets, now: now)
        switch try adapter.parse(request) {
        case .ping(let delivery):
            return .ping(deliveryID: delivery)
        case .other(let event, let delivery):
            return .ignore(deliveryID: delivery, reason: "event '\(event)' does not trigger deployments")
        case .pullRequest(let request):
            return Self.decide(request, for: app)
        case .push(let pushes):
            let delivery = pushes.first?.deliveryID ?? SignatureCheck.bodyDigestID(request.body)
            let wanted = PushEvent.branchPrefix + app.branch
            guard let push = pushes.first(where: { $0.ref == wanted }) else {
                let refs = pushes.map(\.ref).joined(separator: ", ")
                return .ignore(deliveryID: delivery, reason: "push to \(refs.isEmpty ? "no ref" : refs), not to \(wanted)")
            }
            if push.deleted || PayloadDecoding.isZero(push.after) {
                return .ignore(deliveryID: delivery, reason: "\(wanted) was deleted; nothing to deploy")
            }
            return .enqueue(push)
        }
    }

    static func decide(_ request: PullRequestEvent, for app: AppConfig) -> IntakeDecision {
        let name = "pull request #\(request.number)"
        guard request.action != .other else {
            return .ignore(deliveryID: request.deliveryID, reason: "\(name) was not opened, reopened or given new commits: no preview")
        }
        guard request.targetBranch == app.branch else {
            return .ignore(deliveryID: request.deliveryID, reason: "\(name) targets \(request.targetBranch), not \(app.branch)")
        }
        guard app.target != nil else {
            return .ignore(deliveryID: request.deliveryID, reason: "app '\(app.name)' has no cluster to preview \(name) against")
        }
        guard app.preview.enabled else {
            return .ignore(deliveryID: request.deliveryID, reason: "previews are turned off for app '\(app.name)' (apps[].preview: false)")
        }
        guard !PayloadDecoding.isZero(request.headCommit), !request.headCommit.isEmpty else {
            return .ignore(deliveryID: request.deliveryID, reason: "\(name) has no head commit")
        }
        return .preview(request)
    }
}
