public import Foundation
import PostgresNIO
public import SlipwayCore

extension PostgresJobStore {
    public func saveRollout(_ state: RolloutState, now: Date) async throws(StoreError) {
        let text = try StoreRollouts.text(state)
        _ = try await rows("""
            INSERT INTO rollouts (app, job_id, state, active, updated_at)
            VALUES (\(state.app), \(state.jobID), \(text), \(state.isActive), \(now.timeIntervalSince1970))
            ON CONFLICT (app) DO UPDATE SET
                promote_requested_by = CASE WHEN rollouts.job_id = EXCLUDED.job_id THEN rollouts.promote_requested_by END,
                abort_requested_by = CASE WHEN rollouts.job_id = EXCLUDED.job_id THEN rollouts.abort_requested_by END,
                job_id = EXCLUDED.job_id, state = EXCLUDED.state, active = EXCLUDED.active, updated_at = EXCLUDED.updated_at
            """, "write the rollout of \(state.app)")
    }

    public func rollout(app: String) async throws(StoreError) -> RolloutRecord? {
        let found = try await rows("SELECT state, promote_requested_by, abort_requested_by FROM rollouts WHERE app = \(app)", "read the rollout of \(app)")
        guard let row = found.first else { return nil }
        let columns: (String, String?, String?)
        do {
            columns = (try row["state"].decode(String.self), try row["promote_requested_by"].decode(String?.self),
                       try row["abort_requested_by"].decode(String?.self))
        } catch {
            throw Self.storeError(error, doing: "read the rollout of \(app)")
        }
        return RolloutRecord(state: try StoreRollouts.state(columns.0, app: app), promoteRequestedBy: columns.1, abortRequestedBy: columns.2)
    }

    public func rolloutRequests(app: String) async throws(StoreError) -> RolloutRequests? {
        let found = try await rows("SELECT job_id, promote_requested_by, abort_requested_by FROM rollouts WHERE app = \(app)",
                                   "read what was asked of the rollout of \(app)")
        guard let row = found.first else { return nil }
        do {
            return RolloutRequests(jobID: try row["job_id"].decode(Int64.self), promoteRequestedBy: try row["promote_requested_by"].decode(String?.self),
                                   abortRequestedBy: try row["abort_requested_by"].decode(String?.self))
        } catch {
            throw Self.storeError(error, doing: "read what was asked of the rollout of \(app)")
        }
    }

    public func requestRollout(app: String, _ action: RolloutAction, by who: String, now: Date) async throws(StoreError) -> RolloutRecord? {
        let query: PostgresQuery = switch action {
        case .promote: "UPDATE rollouts SET promote_requested_by = \(who) WHERE app = \(app) AND active RETURNING app"
        case .abort: "UPDATE rollouts SET abort_requested_by = \(who) WHERE app = \(app) AND active RETURNING app"
        }
        let changed = try await rows(query, "ask the rollout of \(app) to \(action.rawValue)")
        return changed.isEmpty ? nil : try await rollout(app: app)
    }

    public func consumePromotion(app: String, jobID: JobID) async throws(StoreError) {
        _ = try await rows("UPDATE rollouts SET promote_requested_by = NULL WHERE app = \(app) AND job_id = \(jobID)", "forget the promotion of \(app)")
    }
}
