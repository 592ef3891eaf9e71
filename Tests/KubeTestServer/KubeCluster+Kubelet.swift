import Foundation
import SlipwayCore

/// A pod on the simulated node: its containers and what the kubelet has reported of it.
struct PodRun {
    var key: KubeCluster.ObjectKey
    var initContainers: [ContainerRun]
    var containers: [ContainerRun]
    var startTime: Date
    /// Creating the pod's sandbox takes the runtime about a second (recorded), at the time scale.
    var createdAt = ContinuousClock.now.advanced(by: .milliseconds(Int(1000 * ContainerProgram.timeScale)))
    /// In process mode: the pod's volumes as local folders, by name.
    var volumes: [String: String] = [:]
    /// How long a second of the pod's life takes here: its programs' scripted seconds, or
    /// real seconds for real processes.
    var timeScale = ContainerProgram.timeScale
    var deadline: ContinuousClock.Instant?
    var deadlineExceeded = false
    /// The pod was deleted while its containers ran: removed once they have stopped.
    var deleting = false
    /// All containers have ended and the conditions say so; the phase follows a pass later
    /// (recorded: the container `terminated` while the phase still says Running).
    var endingReported = false

    var allContainers: [ContainerRun] { initContainers + containers }
}

/// The scheduler, the kubelet of one node and the Job controller, as the recordings show
/// them (Fixtures/kube/workloads 110–182): a pod is bound to the node `slipway-node-1` when
/// its nodeSelector allows (else Pending with `PodScheduled=False Unschedulable`), its
/// containers wait `ContainerCreating`, run their program (`ContainerRun`), end as
/// `terminated` while the phase still says Running, and a pass later the phase is Succeeded or
/// Failed. Init containers run one after another; one that fails fails the pod. An image
/// missing from the node with `imagePullPolicy: Never` waits `ErrImageNeverPull`; a Secret an
/// env var names and that does not exist, `CreateContainerConfigError`. `activeDeadlineSeconds`
/// and deletion send SIGTERM and kill after the grace period. Logs are kept per container.
extension KubeCluster {
    static let nodeName = "slipway-node-1"

    /// The node of the recording (its labels and images), served as `nodes/slipway-node-1`.
    func addRecordedNode(_ node: JSONValue) {
        let key = ObjectKey(group: "", plural: "nodes", namespace: "", name: Self.nodeName)
        var stored = Stored(object: node, managers: [])
        stored.object["metadata"]?["managedFields"] = nil
        bumpVersion()
        stored.object["metadata"]?["resourceVersion"] = .string(String(resourceVersion))
        objects[key] = stored
    }

    /// Process mode, the pods' folders under `root`.
    func setRunsProcesses(root: URL, podWork: @escaping @Sendable () -> Void) {
        runsProcesses = true
        podsRoot = root
        self.podWork = podWork
    }

    /// Kills every container process (the server stops; nothing it ran may outlive it).
    func stopProcesses() {
        for run in podRuns.values {
            for container in run.allContainers { container.process?.signal(SIGKILL) }
        }
    }

    private var node: JSONValue? { objects[ObjectKey(group: "", plural: "nodes", namespace: "", name: Self.nodeName)]?.object }

    /// One pass of the scheduler and the kubelet over every pod.
    func runPods() {
        let now = ContinuousClock.now
        for (key, stored) in objects where key.group.isEmpty && key.plural == "pods" {
            let uid = stored.object[path: ["metadata", "uid"]]?.stringValue ?? ""
            if stored.object[path: ["spec", "nodeName"]] == nil {
                schedule(key, stored)
                continue
            }
            guard var run = podRuns[uid] else { continue }
            let endedBefore = run.allContainers.filter(\.isTerminated).count
            advance(&run, stored: stored, now: now)
            // Process mode: a container that just ended lets the next start in a pass now.
            if runsProcesses, run.allContainers.filter(\.isTerminated).count > endedBefore { podWork?() }
            podRuns[uid] = run
            let phase = stored.object[path: ["status", "phase"]]?.stringValue
            // A deleted pod goes once its containers have stopped and the phase says so, or at
            // once when it is still Pending with nothing running (an image that cannot be had).
            if run.deleting && run.allContainers.allSatisfy({ !$0.isRunning }) && (phase == "Succeeded" || phase == "Failed" || phase == "Pending") {
                podRuns[uid] = nil
                remove(key, uid: uid)
                continue
            }
            var updated = stored
            updated.object["status"] = status(of: &run, previous: stored.object["status"] ?? [:], spec: stored.object["spec"] ?? [:])
            podRuns[uid] = run
            if updated.object["status"] != stored.object["status"] {
                bump(&updated)
                put(key, updated)
            }
        }
    }

    private func schedule(_ key: ObjectKey, _ stored: Stored) {
        guard stored.object[path: ["metadata", "deletionTimestamp"]] == nil else { return }
        let spec = stored.object["spec"] ?? [:]
        let message = unschedulable(spec)
        var updated = stored
        if let message {
            // Reported once; the scheduler tries again without writing anything new.
            guard stored.object[path: ["status", "conditions"]] == nil else { return }
            updated.object["status"] = ["phase": "Pending", "qosClass": "BestEffort", "conditions": [[
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": .string(message),
                "lastProbeTime": .null, "lastTransitionTime": .string(Self.now()),
            ]]]
        } else {
            updated.object["spec"]?["nodeName"] = .string(Self.nodeName)
            let endsOnItsOwn = spec["restartPolicy"]?.stringValue != "Always" && spec["restartPolicy"] != nil
            func runs(_ list: String, waiting: String) -> [ContainerRun] {
                (spec[list]?.arrayValue ?? []).map { container in
                    ContainerRun(name: container["name"]?.stringValue ?? "main", image: container["image"]?.stringValue ?? "",
                                 program: ContainerProgram.read(container, endsOnItsOwn: endsOnItsOwn), state: .waiting(reason: waiting, message: nil))
                }
            }
            let hasInit = !(spec["initContainers"]?.arrayValue ?? []).isEmpty
            var run = PodRun(key: key, initContainers: runs("initContainers", waiting: "PodInitializing"),
                             containers: runs("containers", waiting: hasInit ? "PodInitializing" : "ContainerCreating"), startTime: Date())
            if runsProcesses {
                // The stand-in starts processes at once; each emptyDir volume is a folder.
                run.timeScale = 1
                run.createdAt = .now
                let uid = stored.object[path: ["metadata", "uid"]]?.stringValue ?? UUID().uuidString
                for volume in spec["volumes"]?.arrayValue ?? [] {
                    guard let name = volume["name"]?.stringValue else { continue }
                    let folder = podFolder(uid).appendingPathComponent(name).path
                    try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                    // emptyDir is writable by every user of the pod.
                    chmod(folder, 0o777)
                    run.volumes[name] = folder
                }
            }
            if let seconds = spec["activeDeadlineSeconds"]?.intValue {
                run.deadline = ContinuousClock.now.advanced(by: .milliseconds(Int(Double(seconds) * run.timeScale * 1000)))
            }
            updated.object["status"] = status(of: &run, previous: [:], spec: updated.object["spec"] ?? [:])
            podRuns[stored.object[path: ["metadata", "uid"]]?.stringValue ?? ""] = run
        }
        bump(&updated)
        put(key, updated)
    }

    /// Starts what may start and runs what runs.
    private func advance(_ run: inout PodRun, stored: Stored, now: ContinuousClock.Instant) {
        let spec = stored.object["spec"] ?? [:]
        guard now >= run.createdAt else { return }
        let namespace = run.key.namespace
        func start(_ container: inout ContainerRun, _ definition: JSONValue?) {
            if case .waiting(let reason, _) = container.state, reason == "ErrImageNeverPull" { return }
            if let retryAt = container.retryAt, now < retryAt { return }
            let present = (node?[path: ["status", "images"]]?.arrayValue ?? []).contains { ($0["names"]?.arrayValue ?? []).contains(.string(container.image)) }
            if definition?["imagePullPolicy"]?.stringValue == "Never" && !present {
                container.state = .waiting(reason: "ErrImageNeverPull", message: "Container image \"\(container.image)\" is not present with pull policy of Never")
                return
            }
            if container.image.hasSuffix(":broken") {
                container.state = .waiting(reason: "ErrImagePull", message: "rpc error: code = NotFound desc = failed to pull and unpack image \"\(container.image)\": not found")
                return
            }
            var environment: [String: String] = [:]
            for variable in definition?["env"]?.arrayValue ?? [] {
                guard let name = variable["name"]?.stringValue else { continue }
                if let value = variable["value"]?.stringValue { environment[name] = value; continue }
                guard let reference = variable[path: ["valueFrom", "secretKeyRef"]], let secretName = reference["name"]?.stringValue else { continue }
                guard let secret = objects[ObjectKey(group: "", plural: "secrets", namespace: namespace, name: secretName)]?.object else {
                    container.state = .waiting(reason: "CreateContainerConfigError", message: "secret \"\(secretName)\" not found")
                    container.retryAt = now.advanced(by: .milliseconds(Int(10 * ContainerProgram.timeScale * 1000)))
                    return
                }
                let key = reference["key"]?.stringValue ?? ""
                if let encoded = secret[path: ["data", key]]?.stringValue, let data = Data(base64Encoded: encoded) {
                    environment[name] = String(decoding: data, as: UTF8.self)
                } else if let plain = secret[path: ["stringData", key]]?.stringValue {
                    environment[name] = plain
                }
            }
            container.environment = environment
            container.state = .running(started: Date())
            if runsProcesses, let definition { launch(&container, definition, volumes: run.volumes) }
        }
        let definitions = (first: spec["initContainers"]?.arrayValue ?? [], main: spec["containers"]?.arrayValue ?? [])
        if let index = run.initContainers.firstIndex(where: { !$0.isTerminated }) {
            // Init containers one after another; the first that fails ends the pod.
            let failedBefore = run.initContainers[..<index].contains { $0.exitCode != 0 }
            if !failedBefore && !run.initContainers[index].isRunning && !run.deleting {
                start(&run.initContainers[index], definitions.first.indices.contains(index) ? definitions.first[index] : nil)
                run.initContainers[index].advance(now: now, starting: true)
            } else {
                run.initContainers[index].advance(now: now)
            }
        } else if !run.initContainers.contains(where: { $0.exitCode != 0 }) {
            for index in run.containers.indices {
                if case .waiting = run.containers[index].state, !run.deleting {
                    start(&run.containers[index], definitions.main.indices.contains(index) ? definitions.main[index] : nil)
                    run.containers[index].advance(now: now, starting: true)
                    continue
                }
                run.containers[index].advance(now: now)
            }
        }
        // The deadline counts once the kubelet has reported the pod running (as the real one
        // does first), so the running state is always seen.
        if let deadline = run.deadline, now >= deadline, !run.deadlineExceeded, run.allContainers.contains(where: \.isRunning),
           stored.object[path: ["status", "phase"]] == "Running" {
            run.deadlineExceeded = true
            stop(&run, grace: spec["terminationGracePeriodSeconds"]?.intValue ?? 30, now: now)
        }
    }

    /// Process mode: runs a container's command (and args) as a local process, its volume
    /// mounts' paths in the command, variables and working directory turned into the pod's
    /// folders. A command that cannot run ends the container as the runtime would
    /// (`StartError`, exit code 128).
    private func launch(_ container: inout ContainerRun, _ definition: JSONValue, volumes: [String: String]) {
        let mounts = (definition["volumeMounts"]?.arrayValue ?? []).compactMap { mount -> (String, String)? in
            guard let path = mount["mountPath"]?.stringValue, let name = mount["name"]?.stringValue, let folder = volumes[name] else { return nil }
            return (path, folder)
        }.sorted { $0.0.count > $1.0.count }
        func local(_ text: String) -> String {
            var result = text
            for (path, folder) in mounts {
                let escaped = NSRegularExpression.escapedPattern(for: path)
                result = result.replacingOccurrences(of: #"(^|[\s'"=])"# + escaped + #"(?=$|[/\s'";])"#, with: "$1" + folder, options: .regularExpression)
            }
            return result
        }
        let words = ((definition["command"]?.arrayValue ?? []) + (definition["args"]?.arrayValue ?? [])).compactMap(\.stringValue).map(local)
        let directory = definition["workingDir"]?.stringValue.map(local) ?? volumes.values.sorted().first ?? NSTemporaryDirectory()
        do {
            guard !words.isEmpty else { throw CocoaError(.fileNoSuchFile) }
            container.process = try ContainerProcess(command: words, environment: container.environment.mapValues(local), directory: directory,
                                                     ended: podWork ?? {})
        } catch {
            container.state = .terminated(exitCode: 128, reason: "StartError", started: nil, finished: Date())
        }
    }

    /// The local folder of a pod's volumes (process mode).
    func podFolder(_ uid: String) -> URL {
        (podsRoot ?? URL(fileURLWithPath: NSTemporaryDirectory())).appendingPathComponent(uid)
    }

    /// SIGTERM to every running container, SIGKILL after the grace period.
    private func stop(_ run: inout PodRun, grace: Int64, now: ContinuousClock.Instant) {
        let killAt = now.advanced(by: .milliseconds(Int(Double(grace) * run.timeScale * 1000)))
        for index in run.initContainers.indices { run.initContainers[index].terminate(killAt: killAt) }
        for index in run.containers.indices { run.containers[index].terminate(killAt: killAt) }
    }

    /// DELETE of a pod on the node: marked (deletionTimestamp, its grace period), its
    /// containers stopped, and removed once the kubelet has reported them ended (recorded:
    /// 161, 174–175). Nil: a pod no node runs, which goes at once.
    func deletePod(_ key: ObjectKey, propagation: String?, gracePeriod: Int64?) -> KubeAnswer? {
        guard var stored = objects[key], let uid = stored.object[path: ["metadata", "uid"]]?.stringValue, var run = podRuns[uid] else { return nil }
        let grace = gracePeriod ?? stored.object[path: ["spec", "terminationGracePeriodSeconds"]]?.intValue ?? 30
        if stored.object[path: ["metadata", "deletionTimestamp"]] == nil {
            stored.object["metadata"]?["deletionTimestamp"] = .string(Self.now())
            stored.object["metadata"]?["deletionGracePeriodSeconds"] = .int(grace)
            if propagation == "Foreground" { stored.object["metadata"]?["finalizers"] = ["foregroundDeletion"] }
            bump(&stored)
            put(key, stored)
        }
        run.deleting = true
        stop(&run, grace: grace, now: .now)
        podRuns[uid] = run
        return .json(200, render(stored))
    }

    /// The pod's status as the kubelet writes it.
    private func status(of run: inout PodRun, previous: JSONValue, spec: JSONValue) -> JSONValue {
        let mains = run.containers, inits = run.initContainers
        let initFailed = inits.contains { ($0.exitCode ?? 0) != 0 }
        let initialized = inits.allSatisfy { $0.exitCode == 0 }
        let mainsEnded = !mains.isEmpty && mains.allSatisfy(\.isTerminated)
        let ended = initFailed || mainsEnded || (run.deadlineExceeded && run.allContainers.allSatisfy { !$0.isRunning })
        let succeeded = !initFailed && mainsEnded && mains.allSatisfy { $0.exitCode == 0 } && !run.deadlineExceeded
        let failing = initFailed || run.deadlineExceeded || (mainsEnded && !succeeded)
        let previousPhase = previous["phase"]?.stringValue ?? "Pending"
        var phase = mains.contains(where: \.isRunning) ? "Running" : previousPhase
        if ended {
            if run.endingReported { phase = succeeded ? "Succeeded" : "Failed" } else { run.endingReported = true }
        }
        func condition(_ type: String, _ status: Bool, reason: String? = nil, message: String? = nil) -> JSONValue {
            var value: JSONValue = ["type": .string(type), "status": status ? "True" : "False", "lastProbeTime": .null]
            if let reason { value["reason"] = .string(reason) }
            if let message { value["message"] = .string(message) }
            return value
        }
        let incomplete = inits.filter { $0.exitCode != 0 }.map(\.name)
        let unready = failing ? "PodFailed" : (succeeded && mainsEnded ? "PodCompleted" : "ContainersNotReady")
        let ready = !failing && !mainsEnded && !mains.isEmpty && mains.allSatisfy(\.isRunning)
        let conditions: [JSONValue] = [
            initialized ? condition("Initialized", true, reason: succeeded && mainsEnded ? "PodCompleted" : nil)
                : condition("Initialized", false, reason: "ContainersNotInitialized", message: "containers with incomplete status: [\(incomplete.joined(separator: " "))]"),
            ready ? condition("Ready", true) : condition("Ready", false, reason: unready,
                                                         message: unready == "ContainersNotReady" ? "containers with unready status: [\(mains.filter { !$0.isRunning }.map(\.name).joined(separator: " "))]" : nil),
            ready ? condition("ContainersReady", true) : condition("ContainersReady", false, reason: unready,
                                                                   message: unready == "ContainersNotReady" ? "containers with unready status: [\(mains.filter { !$0.isRunning }.map(\.name).joined(separator: " "))]" : nil),
            condition("PodScheduled", true),
        ]
        let previousConditions = previous["conditions"]?.arrayValue ?? []
        let stamped = conditions.map { condition -> JSONValue in
            var value = condition
            let before = previousConditions.first { $0["type"] == condition["type"] }
            value["lastTransitionTime"] = before?["status"] == condition["status"] ? before?["lastTransitionTime"] ?? .string(Self.now()) : .string(Self.now())
            return value
        }
        let ip: JSONValue = "127.0.0.1"
        var status: JSONValue = ["phase": .string(phase), "conditions": .array(stamped), "hostIP": ip, "podIP": ip, "podIPs": [["ip": ip]],
                                 "qosClass": "BestEffort", "startTime": .string(run.startTime.formatted(.iso8601)),
                                 "containerStatuses": .array(mains.map { containerStatus($0, isInit: false) })]
        if !inits.isEmpty { status["initContainerStatuses"] = .array(inits.map { containerStatus($0, isInit: true) }) }
        if run.deadlineExceeded && phase == "Failed" {
            status["reason"] = "DeadlineExceeded"
            status["message"] = "Pod was active on the node longer than the specified deadline"
        }
        return status
    }

    private func containerStatus(_ container: ContainerRun, isInit: Bool) -> JSONValue {
        // What the runtime reports of an image that ran: its first name for the same image id.
        let names = (node?[path: ["status", "images"]]?.arrayValue ?? []).first { ($0["names"]?.arrayValue ?? []).contains(.string(container.image)) }?["names"]?.arrayValue
        let ran = names?.first?.stringValue ?? container.image
        let time = { (date: Date) -> JSONValue in .string(date.formatted(.iso8601)) }
        var value: JSONValue = ["name": .string(container.name), "restartCount": 0, "lastState": [:]]
        switch container.state {
        case .waiting(let reason, let message):
            var waiting: JSONValue = ["reason": .string(reason)]
            if let message { waiting["message"] = .string(message) }
            value["state"] = ["waiting": waiting]
            value["image"] = .string(container.image)
            value["imageID"] = ""
            value["ready"] = false
            value["started"] = false
        case .running(let started):
            value["state"] = ["running": ["startedAt": time(started)]]
            value["image"] = .string(ran)
            value["ready"] = .bool(!isInit)
            value["started"] = true
        case .terminated(let code, let reason, let started, let finished):
            var terminated: JSONValue = ["exitCode": .int(Int64(code)), "reason": .string(reason), "finishedAt": time(finished)]
            if let started { terminated["startedAt"] = time(started) }
            value["state"] = ["terminated": terminated]
            value["image"] = .string(ran)
            value["ready"] = .bool(isInit && code == 0)
            value["started"] = false
        }
        return value
    }

    // MARK: Logs

    /// `GET …/pods/NAME/log`, with the query parameters and answers recorded in 140–162.
    func podLog(namespace: String, name: String, query: [String: String], accept: String?) -> (KubeAnswer?, AsyncStream<String>?) {
        if let accept, !accept.contains("*/*"), !accept.contains("application/json"), !accept.contains("application/yaml"),
           !accept.contains("protobuf") {
            return (.failure(406, reason: "NotAcceptable", message: "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf"), nil)
        }
        let key = ObjectKey(group: "", plural: "pods", namespace: namespace, name: name)
        guard let stored = objects[key], let uid = stored.object[path: ["metadata", "uid"]]?.stringValue else { return (.notFound("pods", name), nil) }
        let spec = stored.object["spec"] ?? [:]
        let mainNames = (spec["containers"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
        let allNames = (spec["initContainers"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue } + mainNames
        let containerName: String
        if let given = query["container"] {
            guard allNames.contains(given) else {
                return (.failure(400, reason: "BadRequest", message: "container \(given) is not valid for pod \(name)"), nil)
            }
            containerName = given
        } else {
            guard mainNames.count == 1 else {
                return (.failure(400, reason: "BadRequest", message: "a container name must be specified for pod \(name), choose one of: [\(allNames.joined(separator: " "))]"), nil)
            }
            containerName = mainNames[0]
        }
        if query["previous"] == "true" {
            return (.failure(400, reason: "BadRequest", message: "previous terminated container \"\(containerName)\" in pod \"\(name)\" not found"), nil)
        }
        let run = podRuns[uid]
        guard let container = run?.allContainers.first(where: { $0.name == containerName }) else {
            // Not on the node yet: a main container of a pod with init containers waits for them.
            let waiting = mainNames.contains(containerName) && !(spec["initContainers"]?.arrayValue ?? []).isEmpty ? "PodInitializing" : "ContainerCreating"
            return (.failure(400, reason: "BadRequest", message: "container \"\(containerName)\" in pod \"\(name)\" is waiting to start: \(waiting)"), nil)
        }
        if case .waiting(let reason, _) = container.state {
            return (.failure(400, reason: "BadRequest", message: "container \"\(containerName)\" in pod \"\(name)\" is waiting to start: \(reason)"), nil)
        }
        var lines = container.log
        if let since = query["sinceTime"].flatMap({ try? Date($0, strategy: .iso8601) }) { lines = lines.filter { $0.time >= since } }
        if let tail = query["tailLines"].flatMap(Int.init) { lines = Array(lines.suffix(tail)) }
        let timestamps = query["timestamps"] == "true"
        func text(_ entries: [(time: Date, line: String)]) -> String {
            entries.map { (timestamps ? Self.nanoTimestamp($0.time) + " " : "") + $0.line + "\n" }.joined()
        }
        var body = text(lines)
        if let limit = query["limitBytes"].flatMap(Int.init) { body = String(decoding: Array(body.utf8).prefix(limit), as: UTF8.self) }
        guard query["follow"] == "true", container.isRunning else { return (.text(200, body), nil) }
        // Follow: what is there, then each new line until the container ends. A reader that
        // goes away, or the server's stop, ends it (a quiet container would keep it open, and
        // a graceful stop waits for every open answer).
        let (stream, continuation) = AsyncStream<String>.makeStream()
        if !body.isEmpty { continuation.yield(body) }
        let seen = container.log.count
        let id = UUID()
        let poller = Task {
            var sent = seen
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(20))
                guard let (newLines, running) = await self.logSince(uid: uid, container: containerName, from: sent) else { break }
                if !newLines.isEmpty { continuation.yield(text(newLines)) }
                sent += newLines.count
                if !running { break }
            }
            continuation.finish()
            await self.forgetLogFollower(id)
        }
        logFollowers[id] = continuation
        continuation.onTermination = { _ in poller.cancel() }
        return (nil, stream)
    }

    private func forgetLogFollower(_ id: UUID) {
        logFollowers[id] = nil
    }

    /// Ends every followed log (the server stops).
    func endAllLogFollows() {
        for continuation in logFollowers.values { continuation.finish() }
        logFollowers.removeAll()
    }

    private func logSince(uid: String, container name: String, from index: Int) -> ([(time: Date, line: String)], Bool)? {
        guard let container = podRuns[uid]?.allContainers.first(where: { $0.name == name }) else { return nil }
        return (Array(container.log.dropFirst(index)), container.isRunning)
    }

    /// `2026-12-07T09:50:26.021359633Z`, as the kubelet prefixes log lines.
    static func nanoTimestamp(_ date: Date) -> String {
        let seconds = date.formatted(.iso8601).dropLast()
        let fraction = date.timeIntervalSince1970 - date.timeIntervalSince1970.rounded(.down)
        return seconds + "." + String(format: "%09d", Int(fraction * 1_000_000_000)) + "Z"
    }

    // MARK: Jobs

    /// Fields the API server sets on a new Job (recorded: 093): the controller uid labels, the
    /// selector, the template's labels and the spec's defaults.
    func defaultJob(_ stored: inout Stored) {
        let uid = stored.object[path: ["metadata", "uid"]] ?? ""
        let name = stored.object[path: ["metadata", "name"]] ?? ""
        let added: [String: JSONValue] = ["batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name, "controller-uid": uid, "job-name": name]
        var labels = stored.object[path: ["metadata", "labels"]]?.objectValue ?? [:]
        for (key, value) in added where labels[key] == nil { labels[key] = value }
        stored.object["metadata"]?["labels"] = .object(labels)
        var spec = stored.object["spec"] ?? [:]
        for (key, value) in [("backoffLimit", JSONValue.int(6)), ("completions", 1), ("parallelism", 1), ("completionMode", "NonIndexed"), ("suspend", false)]
        where spec[key] == nil { spec[key] = value }
        if spec["selector"] == nil { spec["selector"] = ["matchLabels": ["batch.kubernetes.io/controller-uid": uid]] }
        var template = spec["template"] ?? [:]
        var templateLabels = template[path: ["metadata", "labels"]]?.objectValue ?? [:]
        for (key, value) in added { templateLabels[key] = value }
        template["metadata"] = (template["metadata"] ?? [:])
        template["metadata"]?["labels"] = .object(templateLabels)
        spec["template"] = template
        stored.object["spec"] = spec
        stored.object["status"] = [:]
    }

    /// 422 for a Job whose pod template an apply would change (recorded: 095).
    func jobTemplateRefusal(_ before: Stored?, _ after: JSONValue, name: String) -> KubeAnswer? {
        guard let before, before.object["kind"] == "Job", before.object[path: ["spec", "template"]] != after[path: ["spec", "template"]] else { return nil }
        let dump = (try? SlipwayJSON.string(after[path: ["spec", "template"]] ?? [:])) ?? ""
        let message = "Invalid value: \(dump): field is immutable"
        return .failure(422, reason: "Invalid", message: "Job.batch \"\(name)\" is invalid: spec.template: \(message)",
                        details: ["name": .string(name), "group": "batch", "kind": "Job",
                                  "causes": [["reason": "FieldValueInvalid", "message": .string(message), "field": "spec.template"]]])
    }

    /// The Job controller: a pod for each Job that needs one, and the Job's status from its pods.
    func runJobs() {
        for (key, stored) in objects where key.group == "batch" && key.plural == "jobs" {
            guard stored.object[path: ["metadata", "deletionTimestamp"]] == nil else { continue }
            let conditions = stored.object[path: ["status", "conditions"]]?.arrayValue ?? []
            guard !conditions.contains(where: { $0["status"] == "True" }) else { continue }
            let uid = stored.object[path: ["metadata", "uid"]]?.stringValue ?? ""
            let pods = owned(by: uid, plural: "pods", namespace: key.namespace).map(\.value.object)
            let phases = pods.map { $0[path: ["status", "phase"]]?.stringValue ?? "Pending" }
            let succeeded = phases.filter { $0 == "Succeeded" }.count, failed = phases.filter { $0 == "Failed" }.count
            let active = pods.count - succeeded - failed
            let ready = pods.filter { pod in (pod[path: ["status", "conditions"]]?.arrayValue ?? []).contains { $0["type"] == "Ready" && $0["status"] == "True" } }.count
            let backoffLimit = Int(stored.object[path: ["spec", "backoffLimit"]]?.intValue ?? 6)
            let completions = Int(stored.object[path: ["spec", "completions"]]?.intValue ?? 1)
            let now = JSONValue.string(Self.now())
            var status = stored.object["status"] ?? [:]
            status["startTime"] = status["startTime"] ?? now
            status["uncountedTerminatedPods"] = [:]
            status["ready"] = .int(Int64(ready))
            status["active"] = active > 0 ? .int(Int64(active)) : nil
            status["succeeded"] = succeeded > 0 ? .int(Int64(succeeded)) : nil
            status["failed"] = failed > 0 ? .int(Int64(failed)) : nil
            if succeeded >= completions {
                status["completionTime"] = now
                status["conditions"] = [["type": "Complete", "status": "True", "lastProbeTime": now, "lastTransitionTime": now]]
            } else if failed > backoffLimit {
                status["conditions"] = [["type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                                         "message": "Job has reached the specified backoff limit", "lastProbeTime": now, "lastTransitionTime": now]]
            } else if active == 0 {
                createJobPod(key, stored)
                status["active"] = 1
            }
            var updated = stored
            updated.object["status"] = status
            if updated.object["status"] != stored.object["status"] {
                bump(&updated)
                put(key, updated)
            }
        }
    }

    private func createJobPod(_ key: ObjectKey, _ job: Stored) {
        let template = job.object[path: ["spec", "template"]] ?? [:]
        let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")
        let podName = "\(key.name)-" + String((0..<5).map { _ in alphabet.randomElement()! })
        let owner: JSONValue = ["apiVersion": "batch/v1", "kind": "Job", "name": .string(key.name), "uid": job.object[path: ["metadata", "uid"]] ?? "",
                                "controller": true, "blockOwnerDeletion": true]
        addPod(podName, namespace: key.namespace, labels: template[path: ["metadata", "labels"]] ?? [:], owner: owner, spec: template["spec"] ?? [:])
    }

    /// A pod a controller creates for its owner, Pending until the scheduler binds it.
    private func addPod(_ name: String, namespace: String, labels: JSONValue, owner: JSONValue, spec: JSONValue) {
        var pod = Stored(object: ["apiVersion": "v1", "kind": "Pod",
                                  "metadata": ["name": .string(name), "namespace": .string(namespace), "labels": labels, "ownerReferences": [owner]],
                                  "spec": spec],
                         managers: [])
        if let type = catalog.type(group: "", version: "v1", plural: "pods") { created(&pod, type: type) }
        bump(&pod)
        put(ObjectKey(group: "", plural: "pods", namespace: namespace, name: name), pod)
    }

    /// The pods of a ReplicaSet, as many as it wants.
    func syncPods(of setKey: ObjectKey) {
        guard let set = objects[setKey], let uid = set.object[path: ["metadata", "uid"]]?.stringValue else { return }
        let wanted = Int(set.object[path: ["spec", "replicas"]]?.intValue ?? 0)
        let pods = owned(by: uid, plural: "pods", namespace: setKey.namespace).sorted { $0.key.name < $1.key.name }
        for (key, pod) in pods.dropFirst(wanted) {
            podRuns[pod.object[path: ["metadata", "uid"]]?.stringValue ?? ""] = nil
            remove(key, uid: pod.object[path: ["metadata", "uid"]]?.stringValue ?? "")
        }
        guard pods.count < wanted else { return }
        let template = set.object[path: ["spec", "template"]] ?? [:]
        for index in pods.count..<wanted {
            let podName = "\(setKey.name)-\(String(index, radix: 36))x\(setKey.name.suffix(3))"
            let owner: JSONValue = ["apiVersion": "apps/v1", "kind": "ReplicaSet", "name": .string(setKey.name), "uid": .string(uid),
                                    "controller": true, "blockOwnerDeletion": true]
            var spec = template["spec"] ?? [:]
            spec["restartPolicy"] = spec["restartPolicy"] ?? "Always"
            addPod(podName, namespace: setKey.namespace, labels: template[path: ["metadata", "labels"]] ?? [:], owner: owner, spec: spec)
        }
    }
}
