import Foundation
import SlipwayCore

/// What a container does. The test server runs no programs: it plays the `sh -c` scripts of
/// the recordings and of Slipway's tests, made of `echo`, `sleep`, `exit`,
/// `for V in …; do …; done` and `trap 'exit 0' TERM` (anything else is passed over). A
/// container without a command runs until it is stopped (a server's entrypoint) or, in a pod
/// that is meant to end (a Job's, restartPolicy Never), ends at once: with exit code 1 when
/// its image is tagged `fails`, else 0.
struct ContainerProgram: Equatable {
    enum Step: Equatable {
        case echo(String)
        case sleep(Double)
        case exit(Int32)
        case forever
    }

    var steps: [Step]
    /// `trap 'exit 0' TERM`: the container ends at once, successfully, when told to stop.
    var exitsOnTerm = false

    /// A script second takes this long here, so the recorded lifetimes play out quickly.
    static let timeScale = 0.1

    static func read(_ container: JSONValue, endsOnItsOwn: Bool) -> ContainerProgram {
        let words = ((container["command"]?.arrayValue ?? []) + (container["args"]?.arrayValue ?? [])).compactMap(\.stringValue)
        guard !words.isEmpty else {
            if !endsOnItsOwn { return ContainerProgram(steps: [.forever]) }
            let image = container["image"]?.stringValue ?? ""
            return ContainerProgram(steps: [.exit(image.hasSuffix(":fails") ? 1 : 0)])
        }
        guard words.count >= 3, words[0].hasSuffix("sh"), words[1] == "-c" else { return ContainerProgram(steps: [.forever]) }
        return script(words[2])
    }

    static func script(_ text: String) -> ContainerProgram {
        var program = ContainerProgram(steps: [])
        var body = text
        for trap in ["trap 'exit 0' TERM;", "trap 'exit 0' TERM"] where body.contains(trap) {
            program.exitsOnTerm = true
            body = body.replacingOccurrences(of: trap, with: "")
        }
        body = expandLoops(body)
        for raw in body.split(whereSeparator: { $0 == ";" || $0 == "\n" }) {
            let statement = raw.trimmingCharacters(in: .whitespaces)
            let parts = statement.split(separator: " ", maxSplits: 1).map(String.init)
            switch parts.first {
            case "echo": program.steps.append(.echo(parts.count > 1 ? parts[1] : ""))
            case "sleep":
                // `sleep N & wait`: the same as sleeping in the foreground.
                let seconds = parts.count > 1 ? parts[1].split(separator: " ").first.flatMap { Double($0) } : nil
                program.steps.append(.sleep(seconds ?? 0))
            case "exit": program.steps.append(.exit(Int32(parts.count > 1 ? parts[1] : "0") ?? 0))
            default: continue
            }
        }
        return program
    }

    /// `for V in A B; do BODY; done` written out, `$V` replaced in each copy.
    private static func expandLoops(_ text: String) -> String {
        guard let loop = text.range(of: #"for (\w+) in ([^;]*); do (.*?); done"#, options: .regularExpression) else { return text }
        let match = String(text[loop])
        let header = match.dropFirst(4)
        let variable = String(header.prefix { $0 != " " })
        let afterIn = match.range(of: " in ")!.upperBound
        let values = match[afterIn...].prefix { $0 != ";" }.split(separator: " ").map(String.init)
        let bodyStart = match.range(of: "; do ")!.upperBound
        let bodyEnd = match.range(of: "; done", options: .backwards)!.lowerBound
        let body = String(match[bodyStart..<bodyEnd])
        let written = values.map { value in
            body.replacingOccurrences(of: "${\(variable)}", with: value).replacingOccurrences(of: "$\(variable)", with: value)
        }.joined(separator: "; ")
        return expandLoops(text.replacingCharacters(in: loop, with: written))
    }
}

/// One container of a pod on the simulated node: its state as the kubelet reports it, its
/// log, and how far its program has run.
struct ContainerRun {
    enum State: Equatable {
        case waiting(reason: String, message: String?)
        case running(started: Date)
        case terminated(exitCode: Int32, reason: String, started: Date?, finished: Date)
    }

    var name: String
    var image: String
    var program: ContainerProgram
    var environment: [String: String] = [:]
    var state: State
    var log: [(time: Date, line: String)] = []
    var nextStep = 0
    var wake: ContinuousClock.Instant?
    /// When a container told to stop is killed (SIGKILL after the grace period).
    var killAt: ContinuousClock.Instant?
    /// When a container that could not be created is tried again (the kubelet's back-off:
    /// 10 s, at the time scale).
    var retryAt: ContinuousClock.Instant?
    /// In process mode: the container's command, running.
    var process: ContainerProcess?

    var isRunning: Bool { if case .running = state { true } else { false } }
    var isTerminated: Bool { if case .terminated = state { true } else { false } }
    var exitCode: Int32? { if case .terminated(let code, _, _, _) = state { code } else { nil } }

    /// Runs the program until it sleeps or ends. `starting`: the pass that started it, which
    /// prints what comes first but leaves the end to a later pass (a container is seen running).
    mutating func advance(now: ContinuousClock.Instant, starting: Bool = false) {
        guard case .running(let started) = state else { return }
        if let process {
            if let killAt, now >= killAt {
                process.signal(SIGKILL)
                self.killAt = nil
            }
            let (lines, exitCode) = process.collect()
            log += lines
            if let exitCode {
                state = .terminated(exitCode: exitCode, reason: exitCode == 0 ? "Completed" : "Error", started: started, finished: Date())
            }
            return
        }
        if let killAt, now >= killAt {
            state = .terminated(exitCode: 137, reason: "Error", started: started, finished: Date())
            return
        }
        if let wake, now < wake { return }
        wake = nil
        while nextStep < program.steps.count {
            let step = program.steps[nextStep]
            if starting, case .exit = step { return }
            nextStep += 1
            switch step {
            case .echo(let text):
                log.append((Date(), expand(text)))
            case .sleep(let seconds):
                wake = now.advanced(by: .milliseconds(Int(seconds * ContainerProgram.timeScale * 1000)))
                return
            case .exit(let code):
                state = .terminated(exitCode: code, reason: code == 0 ? "Completed" : "Error", started: started, finished: Date())
                return
            case .forever:
                nextStep -= 1
                return
            }
        }
        if starting { return }
        state = .terminated(exitCode: 0, reason: "Completed", started: started, finished: Date())
    }

    /// SIGTERM: a program that traps it ends now; the others are killed at `killAt`.
    mutating func terminate(killAt: ContinuousClock.Instant) {
        guard case .running(let started) = state else { return }
        if let process {
            if self.killAt == nil { process.signal(SIGTERM) }
            self.killAt = self.killAt ?? killAt
        } else if program.exitsOnTerm {
            state = .terminated(exitCode: 0, reason: "Completed", started: started, finished: Date())
        } else if self.killAt == nil {
            self.killAt = killAt
        }
    }

    /// `$NAME`, `${NAME}` and `${#NAME}` (its length) from the container's environment.
    private func expand(_ text: String) -> String {
        var result = text
        for (name, value) in environment {
            result = result.replacingOccurrences(of: "${#\(name)}", with: String(value.count))
                .replacingOccurrences(of: "${\(name)}", with: value).replacingOccurrences(of: "$\(name)", with: value)
        }
        return result
    }
}
