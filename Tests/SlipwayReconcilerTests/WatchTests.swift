import Foundation
import KubeTestServer
import SlipwayConfig
import SlipwayCore
import SlipwayKube
import SlipwayStore
import SlipwayTestSupport
import Testing

/// Drift from the cluster's own events: one watch per resource type of Slipway's objects, a
/// check of the one object another writer changed, no check for Slipway's own applies.
@Suite struct WatchTests {
    typealias Status = ReconcilerTests.Status

    static func status(_ server: LiveServer) async throws -> Status {
        let (_, body) = try await server.withClient { api in try await api.send(.GET, "/api/v1/apps/github") }
        return try JSONDecoder().decode(Status.self, from: body)
    }

    /// Waits for the app's status to meet `condition`; on time-out, says what it was.
    static func waitForStatus(_ server: LiveServer, _ condition: (Status) -> Bool) async throws -> Status {
        var status = try await Self.status(server)
        do {
            try await waitFor(timeout: .seconds(60)) {
                status = try await Self.status(server)
                return condition(status)
            }
        } catch {
            Issue.record("the status stayed \(status)")
            throw error
        }
        return status
    }

    static func counter(_ server: LiveServer, _ name: String) async throws -> Int {
        let (_, metrics) = try await server.withClient(token: nil) { try await $0.send(.GET, "/metrics") }
        let line = String(decoding: metrics, as: UTF8.self).split(separator: "\n").first { $0.hasPrefix("\(name) ") }
        return Int(Double(line?.split(separator: " ").last ?? "") ?? -1)
    }

    /// The first full check starts the watches; waits until both kinds follow changes.
    static func startWatching(_ server: LiveServer, _ kube: KubeTestServer) async throws {
        #expect(try await ReconcilerTests.refresh(server).sync == "Synced")
        var counts = (0, 0)
        do {
            try await waitFor(timeout: .seconds(60)) {
                counts = (await kube.cluster.openWatches(ofKind: "ConfigMap"), await kube.cluster.openWatches(ofKind: "Deployment"))
                return counts == (1, 1)
            }
        } catch {
            Issue.record("watches open: \(counts), all \(await kube.cluster.openWatches)")
            throw error
        }
    }

    @Test func anEditByAnotherManagerIsSeenWithoutWaitingForTheInterval() async throws {
        try await ReconcilerTests.withSetup(policy: .report) { server, kube, _ in
            try await Self.startWatching(server, kube)
            _ = await kube.cluster.edit(apiVersion: "v1", kind: "ConfigMap", namespace: "shop", name: "settings", manager: "kubectl-edit",
                                        patch: ["data": ["LOG_LEVEL": "debug"]])
            // No refresh: the interval is an hour; the watch brings it.
            var status = try await Self.waitForStatus(server) { $0.sync == "OutOfSync" }
            #expect(status.drifted == [.init(object: "ConfigMap shop/settings", kind: "changed",
                                             fields: [.init(path: "data.LOG_LEVEL", live: "\"debug\"", desired: "\"info\"")])])
            #expect(status.health == "Healthy")
            #expect(try await Self.counter(server, "slipway_watch_checked_objects_total") == 1)

            // Deleted behind Slipway's back: Missing, also from the watch.
            await kube.cluster.remove(apiVersion: "apps/v1", kind: "Deployment", namespace: "shop", name: "web")
            status = try await Self.waitForStatus(server) { $0.health == "Missing" }
            #expect(status.drifted.map(\.object) == ["ConfigMap shop/settings", "Deployment shop/web"])
            let (_, metrics) = try await server.withClient(token: nil) { try await $0.send(.GET, "/metrics") }
            #expect(String(decoding: metrics, as: UTF8.self).contains(#"slipway_drifted_objects{app="github"} 2"#))

            // Put back by hand as it was: Synced again without a refresh.
            _ = await kube.cluster.edit(apiVersion: "v1", kind: "ConfigMap", namespace: "shop", name: "settings", manager: "kubectl-edit",
                                        patch: ["data": ["LOG_LEVEL": "info"]])
            _ = try await Self.waitForStatus(server) { $0.drifted.map(\.object) == ["Deployment shop/web"] }
        }
    }

    @Test func slipwaysOwnApplyDoesNotWakeACheck() async throws {
        try await ReconcilerTests.withSetup(policy: .report) { server, kube, repository in
            try await Self.startWatching(server, kube)
            // A new commit changes the ConfigMap: Slipway's apply, the watch sees it, no check.
            var files = ReconcilerTests.files
            files["deploy/app.yaml"] = files["deploy/app.yaml"]!.replacingOccurrences(of: "LOG_LEVEL: info", with: "LOG_LEVEL: warn")
            let commit = try repository.commit(files: files, message: "warn")
            let id = try await server.push(app: "github", commit: commit)
            #expect(try await server.waitForEnd(of: id).status == .succeeded)
            #expect(await kube.cluster.object(apiVersion: "v1", kind: "ConfigMap", namespace: "shop", name: "settings")?[path: ["data", "LOG_LEVEL"]] == "warn")
            // Then another writer: its event comes after Slipway's in the same watch, so once
            // it has been checked, Slipway's was seen before it and woke nothing.
            _ = await kube.cluster.edit(apiVersion: "v1", kind: "ConfigMap", namespace: "shop", name: "settings", manager: "kubectl-annotate",
                                        patch: ["metadata": ["annotations": ["oncall": "dana"]]])
            try await waitFor(timeout: .seconds(60)) { try await Self.counter(server, "slipway_watch_checks_total") >= 1 }
            #expect(try await Self.counter(server, "slipway_watch_checked_objects_total") == 1)
            // An annotation of another manager is not drift.
            #expect(try await Self.status(server).drifted.isEmpty)
        }
    }

    @Test func anExpiredWatchListsAgainWithoutMissingAChangeMadeInBetween() async throws {
        try await ReconcilerTests.withSetup(policy: .report) { server, kube, _ in
            try await Self.startWatching(server, kube)
            // The watch hears nothing while the change is made, then the server has compacted
            // past its position: 410 Expired.
            await kube.cluster.partitionWatches(true)
            _ = await kube.cluster.edit(apiVersion: "v1", kind: "ConfigMap", namespace: "shop", name: "settings", manager: "kubectl-edit",
                                        patch: ["data": ["LOG_LEVEL": "trace"]])
            await kube.cluster.expireWatches()
            await kube.cluster.partitionWatches(false)
            let status = try await Self.waitForStatus(server) { $0.sync == "OutOfSync" }
            #expect(status.drifted.first?.fields.first?.live == "\"trace\"")
            #expect(try await Self.counter(server, "slipway_watch_relists_total") >= 1)
            // And it follows changes again.
            try await waitFor(timeout: .seconds(60)) { await kube.cluster.openWatches(ofKind: "ConfigMap") == 1 }
            _ = await kube.cluster.edit(apiVersion: "v1", kind: "ConfigMap", namespace: "shop", name: "settings", manager: "kubectl-edit",
                                        patch: ["data": ["LOG_LEVEL": "info"]])
            _ = try await Self.waitForStatus(server) { $0.sync == "Synced" }
        }
    }
}

/// A forge that does not answer delays only the apps of its repository.
@Suite struct SlowForgeTests {
    @Test func aHangingRepositoryDoesNotHoldTheOtherApps() async throws {
        let root = try TemporaryDirectory("slipway-git-root")
        defer { root.remove() }
        let work = try GitRepository.make(files: ["README.md": "slow\n"])
        defer { work.directory.remove() }
        try GitRepository.run(["clone", "-q", "--bare", work.path, root.path + "/slow.git"], in: "/")
        let forge = try await GitHTTPServer.start(root: root.path, username: "deploy", password: "t0ken")
        await forge.hold()
        let fast = try GitRepository.make(files: ["README.md": "fast\n"])
        defer { fast.directory.remove() }
        struct List: Decodable {
            struct App: Decodable { var app: String; var reconciled_at: String?; var branch_head: String?; var waiting_for: String? }
            var apps: [App]
        }
        do {
            try await withLiveServer(reconciler: true, configure: { config in
                let template = config.apps[0]
                config.gitCAFile = forge.certificatePath
                config.reconciler.concurrency = 2
                config.reconciler.gitTimeout = .seconds(600)
                config.apps = (0..<10).map { index in
                    var app = template
                    app.name = index < 6 ? "slow-\(index)" : "fast-\(index)"
                    app.repoURL = index < 6 ? forge.url("slow.git") : fast.url
                    if index < 6 { app.repositoryAuth = .userPassword(username: "deploy", password: SecretValue("t0ken")) }
                    app.reconcileInterval = .seconds(60)
                    return app
                }
            }) { server in
                // A failure stops the forge before the server: the server's stop waits for the
                // read the forge holds (git_timeout, 10 minutes here).
                do {
                    func apps() async throws -> [List.App] {
                        let (_, body) = try await server.withClient { try await $0.send(.GET, "/api/v1/apps") }
                        return try JSONDecoder().decode(List.self, from: body).apps
                    }
                    // Two places: the hanging read holds one, the fast apps go through the other.
                    try await waitFor(timeout: .seconds(120)) {
                        try await apps().filter { $0.app.hasPrefix("fast") }.allSatisfy { $0.branch_head == (try fast.head()) }
                    }
                    let slow = try await apps().filter { $0.app.hasPrefix("slow") }
                    #expect(slow.allSatisfy { $0.reconciled_at == nil }, "\(slow)")
                    #expect(slow.compactMap(\.waiting_for) == ["git: reading the branches of \(forge.url("slow.git"))"])
                    #expect(await forge.heldRequests() == 1)
                    // The forge answers: its six apps share that one read.
                    await forge.answer()
                    try await waitFor(timeout: .seconds(120)) {
                        try await apps().filter { $0.app.hasPrefix("slow") }.allSatisfy { $0.branch_head == (try work.head()) }
                    }
                    #expect(try await WatchTests.counter(server, "slipway_branch_reads_total") == 2)
                } catch {
                    await forge.stop()
                    throw error
                }
            }
        } catch {
            await forge.stop()
            throw error
        }
        await forge.stop()
    }
}
