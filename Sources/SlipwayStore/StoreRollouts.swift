import Foundation
import SlipwayCore

/// How both stores write a rollout's state: the JSON of `RolloutState`, dates as ISO 8601.
enum StoreRollouts {
    static func text(_ state: RolloutState) throws(StoreError) -> String {
        do {
            return String(decoding: try SlipwayJSON.data(state), as: UTF8.self)
        } catch {
            throw StoreError.unavailable("the rollout of \(state.app) cannot be written: \(error)")
        }
    }

    static func state(_ text: String, app: String) throws(StoreError) -> RolloutState {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do {
            return try decoder.decode(RolloutState.self, from: Data(text.utf8))
        } catch {
            throw StoreError.unavailable("the stored rollout of \(app) cannot be read: \(error)")
        }
    }

}
