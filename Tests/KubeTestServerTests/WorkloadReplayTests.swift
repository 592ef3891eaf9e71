import Foundation
import KubeTestServer
import SlipwayCore
import SlipwayTestSupport
import Testing

/// The sections of the workloads recording, each replayed against a fresh test server.
extension WorkloadRecordingTests {
    typealias R = WorkloadRecordingTests

    /// 001–029: DELETE with a DeleteOptions body; foreground keeps the object, marked, until
    /// the garbage collector is done; background answers a Status and the object is gone.
    @Test func deletesWithABody() async throws {
        try await Self.withSession { session in
            try await session.namespace("rec-delete")
            for number in ["001", "002", "003", "004"] { try await session.replay(number) }
            // What a watch sees of the foreground delete: marked first, then gone.
            let answer = Box()
            let marking = try await session.watchStates("/api/v1/namespaces/rec-delete/configmaps", name: "cm-fg", summary: { object in
                guard let object else { return "gone" }
                return "finalizers=\(R.text(object[path: ["metadata", "finalizers"]]?.arrayValue?.first)) deleting=\(object[path: ["metadata", "deletionTimestamp"]] != nil)"
            }, until: { $0 == "gone" }, during: {
                await answer.set(try await session.replay("005"))
                // 006, sent right after the answer: still there, marked (unless this machine
                // took longer than the garbage collector to send it).
                let (status, data) = try await session.send("GET", R.lines["006"]!.path)
                if status == 200 {
                    #expect(try JSONDecoder().decode(JSONValue.self, from: data)[path: ["metadata", "finalizers"]] == ["foregroundDeletion"], "006")
                }
            })
            #expect(marking == ["finalizers=None deleting=false", "finalizers=foregroundDeletion deleting=true", "gone"], "\(marking)")
            let foreground = await answer.value
            #expect(foreground?["kind"] == "ConfigMap" && foreground?[path: ["metadata", "deletionTimestamp"]] != nil)
            #expect(foreground?[path: ["metadata", "finalizers"]] == R.recorded("005")?[path: ["metadata", "finalizers"]])
            R.expectStatus(try await session.replay("007"), like: "007")
            R.expectStatus(try await session.replay("008"), like: "008")
            R.expectStatus(try await session.replay("009"), like: "009")

            // The Deployment: its ReplicaSet and pod first, then a foreground delete.
            let sets = try await session.states(R.lines["010"]!.path, summary: { "\(R.names($0).count)" }, until: { $0 == "1" })
            #expect(sets.last == "\(R.names(R.recorded("010")).count)")
            let deleted = try await session.replay("011")
            #expect(deleted?[path: ["metadata", "generation"]] == R.recorded("011")?[path: ["metadata", "generation"]], "011: generation bumped")
            #expect(deleted?[path: ["metadata", "finalizers"]] == ["foregroundDeletion"])
            _ = try await session.states(R.lines["019"]!.path, summary: { $0 == nil ? "gone" : "there" }, until: { $0 == "gone" })
            R.expectStatus(try await session.replay("019"), like: "019")
            for number in ["020", "021"] {
                let empty = try await session.states(R.lines[number]!.path, summary: { "\(R.names($0).count)" }, until: { $0 == "0" })
                #expect(empty.last == "0", "\(number)")
            }
            R.expectStatus(try await session.replay("022"), like: "022")
            R.expectStatus(try await session.replay("023"), like: "023")
            for number in ["024", "029"] {
                let empty = try await session.states(R.lines[number]!.path, summary: { "\(R.names($0).count)" }, until: { $0 == "0" })
                #expect(empty.last == "\(R.names(R.recorded(number)).count)", "\(number)")
            }
        }
    }

    /// 030–040: a watch by label from a LIST's version, with bookmarks and timeoutSeconds.
    @Test func aWatchWithBookmarksSeesRelabelsAndEnds() async throws {
        try await Self.withSession { session in
            try await session.namespace("rec-watch")
            for number in ["030", "031", "032"] { try await session.replay(number) }
            let list = try await session.replay("033")
            #expect(R.names(list) == R.names(R.recorded("033")))
            let version = list?[path: ["metadata", "resourceVersion"]]?.stringValue ?? ""
            let path = R.lines["034"]!.path.replacingOccurrences(of: "resourceVersion=6529", with: "resourceVersion=\(version)")
            let relabelled = Versions()
            let recordedEvents = R.events(R.recordedText("034", "jsonl") ?? "")
            @Sendable func shape(_ list: [JSONValue]) -> [String] {
                list.filter { $0["type"] != "BOOKMARK" }.map { "\(R.text($0["type"])) \(R.text($0[path: ["object", "metadata", "name"]]))" }
            }
            let expected = shape(recordedEvents)
            let events = try await session.events(path, until: { shape($0).count >= expected.count }) {
                try await Task.sleep(for: .milliseconds(300))
                for number in ["035", "036", "037", "038", "039", "040"] {
                    let answer = try await session.replay(number)
                    if number == "038" { await relabelled.set(answer?[path: ["metadata", "resourceVersion"]]?.stringValue) }
                }
            }
            #expect(shape(events) == expected, "\(events)")
            // Relabelled out of the selector: DELETED with its previous content and the new version.
            let out = events.first { $0["type"] == "DELETED" && $0[path: ["object", "metadata", "name"]] == "a" }
            #expect(out?[path: ["object", "metadata", "labels"]] == recordedEvents.first { $0["type"] == "DELETED" && $0[path: ["object", "metadata", "name"]] == "a" }?[path: ["object", "metadata", "labels"]])
            #expect(out?[path: ["object", "metadata", "resourceVersion"]]?.stringValue == (await relabelled.value))
            // Bookmarks carry only a version, a second before the timeout; the server ends the
            // stream then (the recording's 70 s made 2 here).
            let started = ContinuousClock.now
            let quiet = R.events(try await session.stream(path.replacingOccurrences(of: "timeoutSeconds=70", with: "timeoutSeconds=2")) {})
            let elapsed = ContinuousClock.now - started
            let bookmark = try #require(quiet.first { $0["type"] == "BOOKMARK" }, "\(quiet)")
            let recordedBookmark = try #require(recordedEvents.first { $0["type"] == "BOOKMARK" })
            #expect(bookmark["object"]?.objectValue?.keys.sorted() == recordedBookmark["object"]?.objectValue?.keys.sorted())
            #expect(bookmark[path: ["object", "metadata"]]?.objectValue?.keys.sorted() == recordedBookmark[path: ["object", "metadata"]]?.objectValue?.keys.sorted())
            #expect(bookmark[path: ["object", "metadata", "creationTimestamp"]] == .null)
            #expect(elapsed >= .seconds(2) && elapsed < .seconds(30), "\(elapsed)")
            // 041: discovery of batch/v1.
            let discovery = try await session.replay("041")
            #expect(discovery?["resources"]?.arrayValue?.map { $0["name"] } == R.recorded("041")?["resources"]?.arrayValue?.map { $0["name"] })
        }
    }

    actor Versions {
        var value: String?
        func set(_ value: String?) { self.value = value }
    }

    /// 042–049: the ReplicaSets and Pods of a running and of an unschedulable Deployment.
    @Test func replicaSetsAndPodsOfRunningAndPendingDeployments() async throws {
        try await Self.withSession { session in
            try await session.namespace("rec-web-run")
            try await session.namespace("rec-web-pending")
            try await session.replay("042")
            try await session.replay("043")
            for (number, done) in [("046", "052"), ("049", "049")] {
                let expected = R.deploymentSummary(R.recorded(number))
                let states = try await session.states(R.lines[number]!.path, summary: R.deploymentSummary, until: { $0 == expected })
                #expect(states.last == expected, "\(number) (\(done)): \(states)")
            }
            for number in ["044", "047"] {
                let sets = try await session.replay(number)
                let expected = R.recorded(number)?["items"]?.arrayValue?.first
                let actual = sets?["items"]?.arrayValue?.first
                #expect(R.names(sets).count == R.names(R.recorded(number)).count, "\(number)")
                #expect(actual?[path: ["metadata", "annotations"]]?.objectValue?.keys.sorted() == expected?[path: ["metadata", "annotations"]]?.objectValue?.keys.sorted(), "\(number)")
                #expect(actual?[path: ["metadata", "ownerReferences"]]?.arrayValue?.first?.objectValue?.keys.sorted()
                        == expected?[path: ["metadata", "ownerReferences"]]?.arrayValue?.first?.objectValue?.keys.sorted(), "\(number)")
            }
            let running = try await session.replay("045")
            #expect(running?["items"]?.arrayValue?.map { $0[path: ["status", "phase"]] } == R.recorded("045")?["items"]?.arrayValue?.map { $0[path: ["status", "phase"]] })
            #expect(running?["items"]?.arrayValue?.allSatisfy { $0[path: ["metadata", "labels", "pod-template-hash"]] != nil } == true)
            let pending = try await session.replay("048")
            let pendingPods = pending?["items"]?.arrayValue ?? []
            let recordedPods = R.recorded("048")?["items"]?.arrayValue ?? []
            #expect(pendingPods.count == recordedPods.count)
            for pod in pendingPods {
                #expect(pod[path: ["spec", "nodeName"]] == nil)
                #expect(pod[path: ["status", "phase"]] == "Pending")
                let condition = pod[path: ["status", "conditions"]]?.arrayValue?.first
                let recordedCondition = recordedPods.first?[path: ["status", "conditions"]]?.arrayValue?.first
                for key in ["type", "status", "reason", "message"] { #expect(condition?[key] == recordedCondition?[key], "048: \(key)") }
            }
        }
    }

    /// 050–078: a first rollout, a template that cannot start (ProgressDeadlineExceeded),
    /// the rollback to the original template with its stale condition, a change of replicas.
    @Test func theRollbackSequence() async throws {
        try await Self.withSession { session in
            try await session.namespace("rec-rollback")
            try await session.replay("050")
            let deployment = R.lines["051"]!.path
            let complete = R.deploymentSummary(R.recorded("052"))
            var states = try await session.states(deployment, summary: R.deploymentSummary, until: { $0 == complete })
            #expect(states.last == complete, "a: \(states)")

            // b: the watch from a LIST by name, while the bad template is applied.
            func watch(_ list: String, _ stream: String, applying number: String, until done: @escaping @Sendable ([JSONValue]) -> Bool) async throws -> [JSONValue] {
                let listed = try await session.replay(list)
                #expect(R.names(listed) == ["roll"])
                let version = listed?[path: ["metadata", "resourceVersion"]]?.stringValue ?? ""
                let path = R.lines[stream]!.path.replacingOccurrences(of: #"resourceVersion=\d+"#, with: "resourceVersion=\(version)", options: .regularExpression)
                    .replacingOccurrences(of: #"timeoutSeconds=\d+"#, with: "timeoutSeconds=60", options: .regularExpression)
                return try await session.events(path, until: done) { try await session.replay(number) }
            }
            @Sendable func progress(_ events: [JSONValue], _ key: (JSONValue) -> String) -> [String] {
                var seen: [String] = []
                for event in events where event["type"] == "MODIFIED" {
                    let state = key(event["object"] ?? [:])
                    if seen.last != state { seen.append(state) }
                }
                return seen
            }
            @Sendable func generationAndProgress(_ object: JSONValue) -> String {
                let progressing = object[path: ["status", "conditions"]]?.arrayValue?.first { $0["type"] == "Progressing" }?["reason"]
                return "observedGen=\(R.text(object[path: ["status", "observedGeneration"]])) rev=\(R.text(object[path: ["metadata", "annotations", "deployment.kubernetes.io/revision"]])) \(R.text(progressing))"
            }
            let recordedStuck = progress(R.events(R.recordedText("054", "jsonl") ?? ""), generationAndProgress)
            let stuck = try await watch("053", "054", applying: "055", until: { R.inOrder(recordedStuck, in: progress($0, generationAndProgress)) })
            #expect(R.inOrder(recordedStuck, in: progress(stuck, generationAndProgress)), "b: \(progress(stuck, generationAndProgress)) vs \(recordedStuck)")
            let deadline = R.deploymentSummary(R.recorded("062"))
            states = try await session.states(deployment, summary: R.deploymentSummary, until: { $0 == deadline })
            #expect(states.last == deadline, "b: \(states)")
            let stuckSets = try await session.replay("063")
            func revisions(_ list: JSONValue?) -> [String] {
                (list?["items"]?.arrayValue ?? []).map { R.text($0[path: ["metadata", "annotations", "deployment.kubernetes.io/revision"]]) }.sorted()
            }
            #expect(revisions(stuckSets) == revisions(R.recorded("063")))
            func podStates(_ list: JSONValue?) -> [String] {
                (list?["items"]?.arrayValue ?? []).map { pod in
                    "\(R.text(pod[path: ["status", "phase"]])) \(R.text(pod[path: ["status", "containerStatuses"]]?.arrayValue?.first?[path: ["state", "waiting", "reason"]]))"
                }.sorted()
            }
            #expect(podStates(try await session.replay("064")) == podStates(R.recorded("064")))

            // c: the original template again. The controller records the new generation
            // while its condition is still the stuck rollout's, then the rollout completes.
            let recordedRollback = progress(R.events(R.recordedText("066", "jsonl") ?? ""), generationAndProgress)
            let rollback = try await watch("065", "066", applying: "067", until: { R.inOrder(recordedRollback, in: progress($0, generationAndProgress)) })
            #expect(R.inOrder(recordedRollback, in: progress(rollback, generationAndProgress)), "c: \(progress(rollback, generationAndProgress)) vs \(recordedRollback)")
            let rolledBack = R.deploymentSummary(R.recorded("069"))
            states = try await session.states(deployment, summary: R.deploymentSummary, until: { $0 == rolledBack })
            #expect(states.last == rolledBack, "c: \(states)")
            #expect(revisions(try await session.replay("070")) == revisions(R.recorded("070")))

            // d: replicas only. Available turns False while the second pod starts, Progressing
            // stays NewReplicaSetAvailable.
            @Sendable func generationAndAvailable(_ object: JSONValue) -> String {
                let available = object[path: ["status", "conditions"]]?.arrayValue?.first { $0["type"] == "Available" }?["status"]
                let progressing = object[path: ["status", "conditions"]]?.arrayValue?.first { $0["type"] == "Progressing" }?["reason"]
                return "observedGen=\(R.text(object[path: ["status", "observedGeneration"]])) Available=\(R.text(available)) \(R.text(progressing))"
            }
            let recordedScale = progress(R.events(R.recordedText("073", "jsonl") ?? ""), generationAndAvailable)
            let scale = try await watch("072", "073", applying: "074", until: { R.inOrder(recordedScale, in: progress($0, generationAndAvailable)) })
            #expect(R.inOrder(recordedScale, in: progress(scale, generationAndAvailable)), "d: \(progress(scale, generationAndAvailable)) vs \(recordedScale)")
            let scaled = R.deploymentSummary(R.recorded("078"))
            states = try await session.states(deployment, summary: R.deploymentSummary, until: { $0 == scaled })
            #expect(states.last == scaled, "d: \(states)")
        }
    }

    /// 079–092: a service account that may use ConfigMaps only, impersonated.
    @Test func impersonatedReadsWatchesAndDeletes() async throws {
        try await Self.withSession { session in
            try await session.namespace("rec-imp")
            for number in ["079", "080", "081", "082", "083", "084"] { try await session.replay(number) }
            #expect(try await session.replay("085")?[path: ["metadata", "name"]] == "cm-1")
            R.expectStatus(try await session.replay("086"), like: "086")
            #expect(R.names(try await session.replay("087")) == R.names(R.recorded("087")))
            let version = try await session.get("/api/v1/namespaces/rec-imp/configmaps")?[path: ["metadata", "resourceVersion"]]?.stringValue ?? ""
            let path = R.lines["088"]!.path.replacingOccurrences(of: "resourceVersion=7727", with: "resourceVersion=\(version)")
                .replacingOccurrences(of: "timeoutSeconds=5", with: "timeoutSeconds=60")
            let recorded = R.events(R.recordedText("088", "jsonl") ?? "")
            @Sendable func shape(_ list: [JSONValue]) -> [String] {
                list.filter { $0["type"] != "BOOKMARK" }.map { "\(R.text($0["type"])) \(R.text($0[path: ["object", "metadata", "name"]]))" }
            }
            let expected = shape(recorded)
            let events = try await session.events(path, impersonate: R.lines["088"]!.impersonate, until: { shape($0).count >= expected.count }) {
                try await Task.sleep(for: .milliseconds(200))
                try await session.replay("089")
                try await session.replay("090")
            }
            #expect(shape(events) == expected)
            let deleted = try await session.replay("091")
            #expect(deleted?[path: ["metadata", "finalizers"]] == R.recorded("091")?[path: ["metadata", "finalizers"]])
            R.expectStatus(try await session.replay("092"), like: "092")
        }
    }

    /// 093–109: Jobs: the API server's defaults, an immutable template, a Job that completes
    /// and one that fails, their pods and log, a foreground delete.
    @Test func jobsThroughTheirLives() async throws {
        try await Self.withSession { session in
            try await session.namespace("rec-jobs")
            let ok = R.series("jobs-job-ok")
            let createdBox = Box()
            let okStates = try await session.watchStates("/apis/batch/v1/namespaces/rec-jobs/jobs", name: "job-ok", summary: R.jobSummary,
                                                         until: { $0 == ok.last }, during: { await createdBox.set(try await session.replay("093")) })
            #expect(R.inOrder(ok, in: okStates), "\(okStates) vs \(ok)")
            let created = await createdBox.value
            let expected = R.recorded("093")
            #expect(created?[path: ["metadata", "labels"]]?.objectValue?.keys.sorted() == expected?[path: ["metadata", "labels"]]?.objectValue?.keys.sorted())
            for key in ["backoffLimit", "completions", "parallelism", "completionMode", "suspend"] {
                #expect(created?[path: ["spec", key]] == expected?[path: ["spec", key]], "093: spec.\(key)")
            }
            #expect(created?[path: ["spec", "selector", "matchLabels"]]?.objectValue?.keys.sorted() == expected?[path: ["spec", "selector", "matchLabels"]]?.objectValue?.keys.sorted())
            #expect(created?[path: ["spec", "template", "metadata", "labels"]]?.objectValue?.keys.sorted()
                    == expected?[path: ["spec", "template", "metadata", "labels"]]?.objectValue?.keys.sorted())
            #expect(created?["status"] == expected?["status"])
            let again = try await session.replay("094")
            // Unchanged: the same generation and slipway's apply entry untouched (the Job
            // controller may have written the status in between).
            #expect(again?[path: ["metadata", "generation"]] == created?[path: ["metadata", "generation"]], "094: unchanged")
            #expect(again?[path: ["metadata", "managedFields"]]?.arrayValue?.first { $0["manager"] == "slipway" }
                    == created?[path: ["metadata", "managedFields"]]?.arrayValue?.first { $0["manager"] == "slipway" }, "094: unchanged")
            let immutable = try await session.replay("095")
            let recordedImmutable = R.recorded("095")
            for key in ["kind", "status", "reason", "code"] { #expect(immutable?[key] == recordedImmutable?[key], "095: \(key)") }
            #expect(immutable?[path: ["details", "causes"]]?.arrayValue?.first?["field"] == "spec.template")
            #expect(immutable?[path: ["details", "causes"]]?.arrayValue?.first?["reason"] == "FieldValueInvalid")
            #expect(immutable?["message"]?.stringValue?.hasPrefix("Job.batch \"job-ok\" is invalid: spec.template: Invalid value: ") == true)
            #expect(immutable?["message"]?.stringValue?.hasSuffix(": field is immutable") == true)

            // (job-ok's states were written while the checks above ran: read below from its pods' view.)
            for number in ["100", "101"] {
                let pods = try await session.replay(number)
                #expect(R.names(pods).count == 1, "\(number)")
                #expect(pods?["items"]?.arrayValue?.first?[path: ["metadata", "ownerReferences"]]?.arrayValue?.first?["kind"] == "Job")
            }
            let podName = R.names(try await session.get("/api/v1/namespaces/rec-jobs/pods?labelSelector=job-name%3Djob-ok")).first ?? ""
            let log = try await session.send("GET", R.lines["102"]!.path.replacingOccurrences(of: "job-ok-d95hx", with: podName))
            #expect(log.status == 200)
            #expect(String(decoding: log.body, as: UTF8.self) == R.recordedText("102", "log"))

            let fail = R.series("jobs-job-fail")
            let failStates = try await session.watchStates("/apis/batch/v1/namespaces/rec-jobs/jobs", name: "job-fail", summary: R.jobSummary,
                                                           until: { $0 == fail.last }, during: { try await session.replay("103") })
            #expect(R.inOrder(fail, in: failStates), "\(failStates) vs \(fail)")
            let failedPods = try await session.replay("106")
            #expect(failedPods?["items"]?.arrayValue?.map { $0[path: ["status", "phase"]] } == R.recorded("106")?["items"]?.arrayValue?.map { $0[path: ["status", "phase"]] })

            let deleted = try await session.replay("107")
            #expect(deleted?[path: ["metadata", "finalizers"]] == ["foregroundDeletion"])
            _ = try await session.states(R.lines["108"]!.path, summary: { $0 == nil ? "gone" : "there" }, until: { $0 == "gone" })
            R.expectStatus(try await session.replay("108"), like: "108")
            let left = try await session.states(R.lines["109"]!.path, summary: { "\(R.names($0).count)" }, until: { $0 == "0" })
            #expect(left.last == "0")
        }
    }

    /// 110–128: bare Pods: one that succeeds, one that exits 7, one past its deadline, one
    /// whose image is not on the node.
    @Test func podsThroughTheirLives() async throws {
        try await Self.withSession { session in
            try await session.namespace("rec-pods")
            for (apply, name, series) in [("110", "p-ok", "pods-p-ok"), ("116", "p-exit7", "pods-p-exit7"),
                                          ("121", "p-deadline", "pods-p-deadline"), ("126", "p-missing", "pods-p-missing")] {
                let expected = R.series(series)
                let created = Box()
                let seen = try await session.watchStates("/api/v1/namespaces/rec-pods/pods", name: name, summary: R.podSummary,
                                                         until: { $0 == expected.last }, during: { await created.set(try await session.replay(apply)) })
                #expect(R.inOrder(expected, in: seen), "\(name): \(seen) vs \(expected)")
                #expect(await created.value?["status"] == R.recorded(apply)?["status"], "\(apply): status at creation")
            }
            let log = try await session.send("GET", R.lines["115"]!.path)
            #expect(String(decoding: log.body, as: UTF8.self) == R.recordedText("115", "log"))
        }
    }

    /// 134–144: three init containers, the second fails; their logs.
    @Test func initContainersOneAfterAnother() async throws {
        try await Self.withSession { session in
            try await session.namespace("rec-init")
            let expected = R.series("init-init3")
            let seen = try await session.watchStates("/api/v1/namespaces/rec-init/pods", name: "init3", summary: R.podSummary,
                                                     until: { $0 == expected.last }, during: { try await session.replay("134") })
            #expect(R.inOrder(expected, in: seen), "\(seen) vs \(expected)")
            for number in ["140", "141"] {
                let log = try await session.send("GET", R.lines[number]!.path)
                #expect(String(decoding: log.body, as: UTF8.self) == R.recordedText(number, "log"), "\(number)")
            }
            for number in ["142", "143", "144"] { R.expectStatus(try await session.replay(number), like: number) }
        }
    }

    /// 145–162: logs: before the container starts, followed with timestamps, after it ended,
    /// tailLines, sinceTime, limitBytes, previous, an unknown container, a refused media type,
    /// during an init container, of a deleted pod.
    @Test func podLogs() async throws {
        try await Self.withSession { session in
            try await session.namespace("rec-logs")
            try await session.replay("145")
            // Right after the apply the container is still being created: refused, not a
            // stream that waits. (On a loaded machine the request may come after it started.)
            let early = try await session.send("GET", R.lines["146"]!.path)
            if early.status == 400 {
                R.expectStatus(try JSONDecoder().decode(JSONValue.self, from: early.body), like: "146")
            } else {
                #expect(try await session.get("/api/v1/namespaces/rec-logs/pods/ticker")?[path: ["status", "containerStatuses"]]?.arrayValue?.first?[path: ["state", "waiting"]] == nil)
            }
            _ = try await session.states(R.lines["148"]!.path, summary: { R.text($0?[path: ["status", "phase"]]) }, until: { $0 == "Running" })
            let followed = try await session.stream(R.lines["147"]!.path) {}
            let lines = followed.split(separator: "\n")
            let recordedLines = (R.recordedText("147", "log") ?? "").split(separator: "\n")
            #expect(lines.count == recordedLines.count, "\(followed)")
            for (line, recorded) in zip(lines, recordedLines) {
                #expect(line.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z "#, options: .regularExpression) != nil, "\(line)")
                #expect(line.split(separator: " ", maxSplits: 1).last == recorded.split(separator: " ", maxSplits: 1).last)
            }
            _ = try await session.states(R.lines["149"]!.path, summary: { R.text($0?[path: ["status", "phase"]]) }, until: { $0 == "Succeeded" })
            let after = try await session.stream(R.lines["150"]!.path) {}
            #expect(after == R.recordedText("150", "log"))
            let stamped = String(decoding: try await session.send("GET", R.lines["151"]!.path).body, as: UTF8.self)
            #expect(stamped.split(separator: "\n").count == (R.recordedText("151", "log") ?? "").split(separator: "\n").count)
            #expect(String(decoding: try await session.send("GET", R.lines["152"]!.path).body, as: UTF8.self) == R.recordedText("152", "log"))
            // sinceTime: from the third line's second on (the recording's third line was the first of its second).
            let third = String(stamped.split(separator: "\n")[2].prefix(19)) + "Z"
            let since = String(decoding: try await session.send("GET", "/api/v1/namespaces/rec-logs/pods/ticker/log?container=main&timestamps=true&sinceTime=\(third)").body, as: UTF8.self)
            #expect(since.split(separator: "\n").allSatisfy { String($0.prefix(19)) + "Z" >= third }, "\(since)")
            #expect(stamped.hasSuffix(since))
            #expect(String(decoding: try await session.send("GET", R.lines["154"]!.path).body, as: UTF8.self) == R.recordedText("154", "log"))
            R.expectStatus(try await session.replay("155"), like: "155")
            R.expectStatus(try await session.replay("156"), like: "156")
            let refused = try await session.send("GET", R.lines["157"]!.path, accept: "text/plain")
            #expect(refused.status == 406)
            R.expectStatus(try JSONDecoder().decode(JSONValue.self, from: refused.body), like: "157")
            try await session.replay("158")
            R.expectStatus(try await session.replay("159"), like: "159")
            try await session.replay("160")
            _ = try await session.states("/api/v1/namespaces/rec-logs/pods/gone", summary: { R.text($0?[path: ["status", "phase"]]) }, until: { $0 == "Succeeded" })
            let deleted = try await session.replay("161")
            #expect(deleted?[path: ["metadata", "deletionTimestamp"]] != nil)
            _ = try await session.states("/api/v1/namespaces/rec-logs/pods/gone", summary: { $0 == nil ? "gone" : "there" }, until: { $0 == "gone" })
            R.expectStatus(try await session.replay("162"), like: "162")
        }
    }

    /// 163–176: a pod that reads a Secret it owns; the Secret goes with the pod.
    @Test func aSecretOwnedByAPodGoesWithIt() async throws {
        try await Self.withSession { session in
            try await session.namespace("rec-gc")
            let before = R.series("gc-owner-before-secret")
            let owner = Box()
            var seen = try await session.watchStates("/api/v1/namespaces/rec-gc/pods", name: "owner", summary: R.podSummary,
                                                     until: { $0 == before.last }, during: { await owner.set(try await session.replay("163")) })
            #expect(R.inOrder(before, in: seen), "\(seen) vs \(before)")
            let uid = await owner.value?[path: ["metadata", "uid"]]?.stringValue ?? ""
            let body = (R.recordedText("166", "request") ?? "").replacingOccurrences(of: "a3de3e48-25f4-43b2-b8d7-a7933db8257a", with: uid)
            let after = R.series("gc-owner-after-secret")
            seen = try await session.watchStates("/api/v1/namespaces/rec-gc/pods", name: "owner", summary: R.podSummary,
                                                 until: { $0 == after.last }, during: { try await session.replay("166", body: Data(body.utf8)) })
            #expect(R.inOrder(after, in: seen), "\(seen) vs \(after)")
            let ownerLog = String(decoding: try await session.send("GET", R.lines["169"]!.path).body, as: UTF8.self)
            #expect(ownerLog == R.recordedText("169", "log"), "\(ownerLog)")
            #expect(R.names(try await session.replay("170")) == ["owner"])
            #expect(R.names(try await session.replay("171")) == ["owned"])
            let version = try await session.get("/api/v1/namespaces/rec-gc/pods")?[path: ["metadata", "resourceVersion"]]?.stringValue ?? ""
            @Sendable func watchPath(_ number: String) -> String {
                R.lines[number]!.path.replacingOccurrences(of: "resourceVersion=8946", with: "resourceVersion=\(version)")
                    .replacingOccurrences(of: "timeoutSeconds=10", with: "timeoutSeconds=60")
            }
            let secretEvents = Events()
            let podEvents = try await session.events(watchPath("172"), until: { $0.last?["type"] == "DELETED" }) {
                let secret = Task {
                    await secretEvents.set(try await session.events(watchPath("173"), until: { $0.last?["type"] == "DELETED" }) {})
                }
                try await Task.sleep(for: .milliseconds(200))
                let deleted = try await session.replay("174")
                #expect(deleted?[path: ["metadata", "deletionTimestamp"]] != nil)
                #expect(deleted?[path: ["metadata", "deletionGracePeriodSeconds"]] == R.recorded("174")?[path: ["metadata", "deletionGracePeriodSeconds"]])
                try await secret.value
            }
            #expect(podEvents.last?["type"] == "DELETED", "\(podEvents.map { $0["type"] })")
            #expect(podEvents.dropLast().last?[path: ["object", "status", "phase"]] == "Succeeded")
            #expect((await secretEvents.value).map { R.text($0["type"]) } == R.events(R.recordedText("173", "jsonl") ?? "").map { R.text($0["type"]) })
            R.expectStatus(try await session.replay("176"), like: "176")
        }
    }

    actor Box {
        var value: JSONValue?
        func set(_ value: JSONValue?) { self.value = value }
    }

    actor Events {
        var value: [JSONValue] = []
        func set(_ value: [JSONValue]) { self.value = value }
    }

    /// 177–187: dry runs of a Pod and a Job leave nothing; a hostNetwork pod runs; YAML with
    /// a complex key is refused; the node.
    @Test func dryRunsYAMLKeysAndTheNode() async throws {
        try await Self.withSession { session in
            try await session.namespace("rec-dryrun")
            try await session.namespace("rec-yaml")
            for number in ["177", "178", "179", "180"] {
                let answer = try await session.replay(number)
                if R.lines[number]!.status == 404 { R.expectStatus(answer, like: number) }
            }
            try await session.replay("181")
            let running = try await session.states(R.lines["182"]!.path, summary: { R.text($0?[path: ["status", "phase"]]) }, until: { $0 == "Running" })
            #expect(running.last == R.text(R.recorded("182")?[path: ["status", "phase"]]))
            for number in ["183", "184", "185", "186"] { R.expectStatus(try await session.replay(number), like: number) }
            let node = try await session.replay("187")
            #expect(node?[path: ["metadata", "labels"]] == R.recorded("187")?[path: ["metadata", "labels"]])
        }
    }
}
