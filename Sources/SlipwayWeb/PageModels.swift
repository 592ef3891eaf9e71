public import Foundation
public import SlipwayCore

// What each dashboard page shows, already in words: the templates only lay it out.

/// The frame of every page: who is signed in, where the assets are.
public struct PageChrome: Sendable {
    public var user: String?
    public var role: String?
    public var csrfToken: String?
    public var notice: String?
    public var onApps = false
    public var onJobs = false
    public let cssPath = WebAsset.stylesheet.path
    public let jsPath = WebAsset.script.path

    public init(user: String? = nil, role: String? = nil, csrfToken: String? = nil, notice: String? = nil) {
        self.user = user
        self.role = role
        self.csrfToken = csrfToken
        self.notice = notice
    }
}

/// A time as the pages show it, with its machine-readable form.
public struct ShownTime: Sendable {
    public var iso: String
    public var text: String

    public init(_ date: Date) {
        iso = date.formatted(.iso8601)
        text = date.formatted(.iso8601.year().month().day().dateSeparator(.dash).time(includingFractionalSeconds: false).timeSeparator(.colon)
            .dateTimeSeparator(.space)) + " UTC"
    }
}

/// Words and colour classes for statuses: the colour is never the only sign.
public enum StatusStyle {
    public static func cssClass(_ word: String?) -> String {
        switch word {
        case "succeeded", "Synced", "Healthy", "create", "promoted", "successful": "s-ok"
        case "failed", "Degraded", "Missing", "prune", "missing", "aborted", "error": "s-bad"
        case "running", "Progressing", "update", "changed", "progressing", "analysing", "promoting": "s-run"
        case "cancelled", "interrupted", "blocked", "OutOfSync", "extra", "paused": "s-warn"
        default: "s-off"
        }
    }

    /// `1m 05s`, `42s`, or `–` for a job that never started.
    public static func duration(from start: Date?, to end: Date?, now: Date = Date()) -> String {
        guard let start else { return "–" }
        let seconds = max(0, Int((end ?? now).timeIntervalSince(start).rounded()))
        return seconds < 60 ? "\(seconds)s" : "\(seconds / 60)m \(String(format: "%02d", seconds % 60))s"
    }
}

public struct CommitSummary: Sendable {
    public var short: String
    public var message: String?
    public var author: String?
    public var when: ShownTime?

    public init(commit: String, message: String?, author: String?, when: Date?) {
        short = String(commit.prefix(12))
        self.message = message.map { String($0.split(separator: "\n", maxSplits: 1).first ?? "") }
        self.author = author
        self.when = when.map(ShownTime.init)
    }
}

public struct JobLink: Sendable {
    public var id: Int64
    public var status: String
    public var statusClass: String

    public init(id: Int64, status: String) {
        self.id = id
        self.status = status
        statusClass = StatusStyle.cssClass(status)
    }
}

public struct AppRow: Sendable {
    public var name: String
    public var sync: String
    public var syncClass: String
    public var health: String
    public var healthClass: String
    public var deployed: CommitSummary?
    public var lastJob: JobLink?
    public var drifted: Int
    public var reconciled: ShownTime?
    public var message: String?

    public init(name: String, sync: String, health: String?, deployed: CommitSummary?, lastJob: JobLink?, drifted: Int,
                reconciledAt: Date?, message: String?) {
        self.name = name
        self.sync = sync
        syncClass = StatusStyle.cssClass(sync)
        self.health = health ?? "Unknown"
        healthClass = StatusStyle.cssClass(health)
        self.deployed = deployed
        self.lastJob = lastJob
        self.drifted = drifted
        reconciled = reconciledAt.map(ShownTime.init)
        self.message = message
    }
}

public struct FieldRow: Sendable {
    public var path: String
    public var live: String
    public var desired: String

    public init(path: String, live: String?, desired: String?) {
        self.path = path
        self.live = live ?? "(absent)"
        self.desired = desired ?? "(absent)"
    }
}

/// One object of a drift report or of a commit's preview.
public struct ObjectRow: Sendable {
    // Stored, not computed: Mustache sees a value's stored properties only.
    public var object: String
    /// `changed`, `missing`, `extra` for drift; `create`, `update`, `prune` for a preview.
    public var kind: String
    public var kindClass: String
    public var fields: [FieldRow]
    public var hasFields: Bool
    /// Long field lists start collapsed.
    public var open: Bool

    public init(object: String, kind: String, fields: [FieldRow]) {
        self.object = object
        self.kind = kind
        kindClass = StatusStyle.cssClass(kind)
        self.fields = fields
        hasFields = !fields.isEmpty
        open = fields.count <= 20
    }
}

public struct PreviewView: Sendable {
    public var commit: String
    public var summary: String
    public var objects: [ObjectRow]
    public var error: String?

    public init(commit: String, summary: String = "", objects: [ObjectRow] = [], error: String? = nil) {
        self.commit = commit
        self.summary = summary
        self.objects = objects
        self.error = error
    }
}

public struct JobRow: Sendable {
    public var id: Int64
    public var app: String
    public var commitShort: String
    public var message: String?
    public var author: String?
    public var ref: String
    public var trigger: String
    public var status: String
    public var statusClass: String
    public var reason: String?
    public var created: ShownTime
    public var duration: String
    public var attemptNote: String?
    /// In the deploy history: what became of the commit.
    public var note: String?

    public init(_ job: Job, now: Date = Date(), note: String? = nil) {
        id = job.id
        app = job.app
        commitShort = String(job.commit.prefix(12))
        message = job.message.map { String($0.split(separator: "\n", maxSplits: 1).first ?? "") }
        author = job.author
        ref = job.ref
        // A preview names its pull request, and whether it came from a fork (no secrets, no steps).
        trigger = job.pullRequest.map { "\(job.trigger.rawValue) of pull request #\($0)\(job.fromFork ? " (fork)" : "")" } ?? job.trigger.rawValue
        status = job.status.rawValue
        statusClass = StatusStyle.cssClass(job.status.rawValue)
        reason = job.reason
        created = ShownTime(job.createdAt)
        duration = StatusStyle.duration(from: job.startedAt, to: job.finishedAt, now: now)
        var attempt: [String] = []
        if job.attempt > 1 { attempt.append("attempt \(job.attempt)") }
        if let retryOf = job.retryOf { attempt.append("continues job #\(retryOf)") }
        if let retriedAs = job.retriedAs { attempt.append("continued by job #\(retriedAs)") }
        attemptNote = attempt.isEmpty ? nil : attempt.joined(separator: ", ")
        self.note = note
    }
}

public struct StepRow: Sendable {
    public var stage: String
    public var name: String
    public var status: String
    public var statusClass: String
    public var duration: String
    public var exitCode: String?
    public var message: String?

    public init(_ step: StepRecord, now: Date = Date()) {
        stage = step.stage
        name = step.name
        status = step.status.rawValue
        statusClass = StatusStyle.cssClass(step.status == .succeeded ? "succeeded" : step.status.rawValue)
        duration = step.startedAt == nil ? "" : StatusStyle.duration(from: step.startedAt, to: step.finishedAt, now: now)
        exitCode = step.exitCode.map(String.init)
        message = step.message
    }
}

/// One line of a job's log: its number (for `#L120` links), its time stamp, its text as HTML.
public struct LogLineView: Sendable {
    public var number: Int
    public var time: String?
    public var html: String

    /// Splits a log into lines, the first numbered `firstNumber`.
    public static func lines(of text: String, firstNumber: Int = 1) -> [LogLineView] {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last == "" { lines.removeLast() }
        return lines.enumerated().map { offset, line in
            // `2026-11-28T02:41:08Z [source] text`: the stamp is 20 characters and a space.
            var time: String?
            var rest = Substring(line)
            if line.utf8.count > 21, line.dropFirst(19).first == "Z", line.dropFirst(20).first == " ", line.first?.isNumber == true {
                time = String(line.prefix(20))
                rest = line.dropFirst(21)
            }
            return LogLineView(number: firstNumber + offset, time: time, html: ANSIText.html(String(rest)))
        }
    }
}

// MARK: Pages

public struct LoginPage: Sendable {
    public var chrome = PageChrome()
    public var error: String?
    public var next: String

    public init(error: String? = nil, next: String = "/apps") {
        self.error = error
        self.next = next
    }
}

public struct AppsPage: Sendable {
    public var chrome: PageChrome
    public var apps: [AppRow]

    public init(chrome: PageChrome, apps: [AppRow]) {
        self.chrome = chrome
        self.chrome.onApps = true
        self.apps = apps
    }
}

public struct AppPage: Sendable {
    public var chrome: PageChrome
    public var app: AppRow
    public var canAdmin: Bool
    public var drift: [ObjectRow]
    public var history: [JobRow]
    public var preview: PreviewView?
    public var rollout: RolloutView?

    public init(chrome: PageChrome, app: AppRow, canAdmin: Bool, drift: [ObjectRow], history: [JobRow], preview: PreviewView?, rollout: RolloutView? = nil) {
        self.rollout = rollout
        self.chrome = chrome
        self.chrome.onApps = true
        self.app = app
        self.canAdmin = canAdmin
        self.drift = drift
        self.history = history
        self.preview = preview
    }
}

public struct Choice: Sendable {
    public var value: String
    public var selected: Bool

    public init(value: String, selected: Bool) {
        self.value = value
        self.selected = selected
    }
}

public struct JobsPage: Sendable {
    public var chrome: PageChrome
    public var apps: [Choice]
    public var statuses: [Choice]
    public var filterApp: String
    public var filterStatus: String
    public var jobs: [JobRow]
    public var firstPage: Bool
    public var nextBefore: Int64?

    public init(chrome: PageChrome, appNames: [String], filterApp: String?, filterStatus: String?, jobs: [JobRow], firstPage: Bool, nextBefore: Int64?) {
        self.chrome = chrome
        self.chrome.onJobs = true
        apps = appNames.map { Choice(value: $0, selected: $0 == filterApp) }
        statuses = JobStatus.allCases.map { Choice(value: $0.rawValue, selected: $0.rawValue == filterStatus) }
        self.filterApp = filterApp ?? ""
        self.filterStatus = filterStatus ?? ""
        self.jobs = jobs
        self.firstPage = firstPage
        self.nextBefore = nextBefore
    }
}

public struct JobPage: Sendable {
    public var chrome: PageChrome
    public var job: JobRow
    public var canCancel: Bool
    public var steps: [StepRow]
    public var lines: [LogLineView]
    public var lineCount: Int
    public var lastSeq: Int64
    /// The job has not ended: the script follows its log.
    public var live: Bool
    public var truncated: String?

    public init(chrome: PageChrome, job: JobRow, canCancel: Bool, steps: [StepRow], lines: [LogLineView], lastSeq: Int64, live: Bool, truncated: String?) {
        self.chrome = chrome
        self.chrome.onJobs = true
        self.job = job
        self.canCancel = canCancel
        self.steps = steps
        self.lines = lines
        lineCount = lines.last?.number ?? 0
        self.lastSeq = lastSeq
        self.live = live
        self.truncated = truncated
    }
}

public struct MessagePage: Sendable {
    public var chrome: PageChrome
    public var heading: String
    public var text: String

    public init(chrome: PageChrome, heading: String, text: String) {
        self.chrome = chrome
        self.heading = heading
        self.text = text
    }
}
