import Foundation
import SlipwayCore
import SlipwayDeploy
import SlipwayReconciler
import Testing

/// The app list writes statuses as trees built directly: they must be what `Encodable` writes.
@Suite struct AppStatusTests {
    static func encoded(_ status: AppStatus) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: SlipwayJSON.data(status))
    }

    @Test func theDirectTreeIsTheEncodedOne() throws {
        var full = AppStatus(app: "shop")
        full.sync = .outOfSync
        full.health = "Missing"
        full.deployedCommit = String(repeating: "a", count: 40)
        full.lastJob = 42
        full.lastJobStatus = "succeeded"
        full.branchHead = String(repeating: "b", count: 40)
        full.drifted = [ObjectDrift(object: "ConfigMap shop/settings", kind: .changed,
                                    fields: [FieldChange(path: "data.LOG_LEVEL", live: "\"debug\"", desired: "\"info\""),
                                             FieldChange(path: "data.NEW", live: nil, desired: "\"x\"")]),
                        ObjectDrift(object: "Deployment shop/web", kind: .missing)]
        full.objectHealth = ["ConfigMap shop/settings": "Healthy", "Service shop/web": "Progressing: waiting for an IP \"x\""]
        full.objectCount = 3
        full.message = "2 object(s) drifted from aaaaaaaaaaaa"
        full.reconciledAt = Date(timeIntervalSince1970: 1_796_000_000)
        full.nextCorrectionAt = Date(timeIntervalSince1970: 1_796_000_030)
        full.waitingFor = "git: reading the branches of https://git.example.com/shop.git"
        #expect(full.json == (try Self.encoded(full)))
        let empty = AppStatus(app: "new")
        #expect(empty.json == (try Self.encoded(empty)))
    }
}
