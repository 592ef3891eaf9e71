import Foundation
import Hummingbird
import SlipwayConfig
import SlipwayCore
import SlipwayStore

/// `/api/v1/apps/{name}/rollout…`: where an app's progressive rollout stands, and a person's
/// promote or abort. A request is written to the store; the replica running the rollout
/// reads it within its poll interval, so any replica may take it.
struct RolloutRoutes: Sendable {
    let apps: AppRoutes
    var store: any JobStore { apps.store }

    func register(on api: RouterGroup<SlipwayRequestContext>) {
        api.get("apps/:name/rollout") { _, context in try await show(context: context) }
        api.post("apps/:name/rollout/promote") { _, context in try await ask(.promote, context: context) }
        api.post("apps/:name/rollout/abort") { _, context in try await ask(.abort, context: context) }
    }

    func show(context: SlipwayRequestContext) async throws -> Response {
        try context.require(.read)
        let app = try apps.app(context)
        guard let record = try await storeCall({ try await store.rollout(app: app.name) }) else {
            throw APIError(.notFound, "app '\(app.name)' has had no progressive rollout")
        }
        return JSONBody.response(.ok, Self.json(record))
    }

    func ask(_ action: RolloutAction, context: SlipwayRequestContext) async throws -> Response {
        try context.require(.admin)
        let record = try await request(action, app: try apps.app(context), by: context.token?.name ?? "unknown")
        return JSONBody.response(.accepted, Self.json(record))
    }

    /// Writes the request; 409 when no rollout of the app runs.
    func request(_ action: RolloutAction, app: AppConfig, by who: String) async throws -> RolloutRecord {
        guard let record = try await storeCall({ try await store.requestRollout(app: app.name, action, by: who) }) else {
            throw APIError(.conflict, "no rollout of app '\(app.name)' is running: there is nothing to \(action.rawValue)")
        }
        return record
    }

    /// The state with what was asked of it.
    static func json(_ record: RolloutRecord) -> JSONValue {
        var json = (try? JSONDecoder().decode(JSONValue.self, from: SlipwayJSON.data(record.state))) ?? [:]
        json["promote_requested_by"] = record.promoteRequestedBy.map(JSONValue.string) ?? .null
        json["abort_requested_by"] = record.abortRequestedBy.map(JSONValue.string) ?? .null
        json["active"] = .bool(record.state.isActive)
        return json
    }
}
