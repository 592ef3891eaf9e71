import SlipwayCore
import SlipwayDeploy

/// The text of the one comment an app keeps on a pull request: a summary line, then per
/// object the fields old → new (long ones collapsed where the forge renders `<details>`),
/// and the rule or API message of anything refused. Secret values are already masked by
/// `ObjectDiff`; the app's secrets are masked again over the whole text.
struct PreviewComment {
    /// GitHub allows 65,536 characters; the others more. The rest is in the job's log.
    static let limit = 60_000
    /// Objects with more changed fields than this are collapsed (or cut, where nothing collapses).
    static let shortList = 8

    var app: AppConfig
    var job: Job
    var link: String

    /// `2 to create, 1 to change, 0 to prune, 1 refused`
    static func summary(_ objects: [DeployPreview.ObjectChange]) -> String {
        let count = { (action: DeployPreview.ObjectChange.Action) in objects.filter { $0.action == action }.count }
        var text = "\(count(.create)) to create, \(count(.update)) to change, \(count(.prune)) to prune, \(count(.refused)) refused"
        if count(.unchanged) > 0 { text += " (\(count(.unchanged)) unchanged)" }
        return text
    }

    /// GitHub, GitLab, Gitea and Forgejo render `<details>`; Bitbucket shows it as text.
    private var collapses: Bool {
        switch app.forge {
        case .github, .gitlab, .gitea, .forgejo: true
        case .bitbucketCloud, .bitbucketServer: false
        }
    }

    private var heading: String {
        let number = job.pullRequest.map { "#\($0)" } ?? "this pull request"
        let place = app.target.map { " (cluster `\($0.cluster)`, namespace `\($0.namespace)`)" } ?? ""
        return "### Slipway preview: `\(app.name)`\n\nMerging \(number) at `\(job.commit.prefix(12))` would change the live cluster\(place):"
    }

    func markdown(_ objects: [DeployPreview.ObjectChange], masker: SecretMasker) -> String {
        var parts = [heading, "**\(Self.summary(objects))** · [job \(job.id)](\(link))"]
        if job.fromFork { parts.append("_From a fork: rendered without the app's secrets; no pipeline steps ran._") }
        // Each part and the blank line after it.
        var length = parts.reduce(0) { $0 + $1.count + 2 }
        let shown = objects.filter { $0.action != .unchanged }
        for (index, object) in shown.enumerated() {
            let section = self.section(object)
            guard length + section.count + 2 < Self.limit else {
                parts.append("… and \(shown.count - index) more object(s): see [the job's log](\(link)).")
                break
            }
            length += section.count + 2
            parts.append(section)
        }
        return masker.masking(parts.joined(separator: "\n\n")) + "\n"
    }

    /// A preview that could not be made: the comment says why, so the request is not left
    /// showing an older preview as if it were current.
    func failure(_ reason: String, masker: SecretMasker) -> String {
        masker.masking("\(heading)\n\n**The preview failed:** \(Self.inline(reason)) · [job \(job.id)](\(link))") + "\n"
    }

    private func section(_ object: DeployPreview.ObjectChange) -> String {
        let name = Self.inline(object.object)
        switch object.action {
        case .create:
            return fields("**create** \(name)", object.changes, diff: { "+ \($0.path): \($0.desired ?? "null")" })
        case .update:
            return fields("**change** \(name)", object.changes, diff: { "~ \($0.path): \($0.live ?? "(absent)") → \($0.desired ?? "(absent)")" })
        case .prune:
            return "**prune** \(name): no longer in git; it would be deleted"
        case .refused:
            return "**refused** \(name): \(Self.inline(object.reason ?? "refused"))"
        case .unchanged:
            return ""
        }
    }

    private func fields(_ title: String, _ changes: [FieldChange], diff: (FieldChange) -> String) -> String {
        let noun = changes.count == 1 ? "field" : "fields"
        let lines = changes.map(diff)
        if lines.count <= Self.shortList {
            return "\(title) (\(lines.count) \(noun))\n\n" + Self.codeBlock(lines)
        }
        if collapses {
            return "<details><summary>\(title) (\(lines.count) \(noun))</summary>\n\n\(Self.codeBlock(lines))\n</details>"
        }
        let more = "… \(lines.count - Self.shortList) more \(noun) in the job's log"
        return "\(title) (\(lines.count) \(noun))\n\n" + Self.codeBlock(Array(lines.prefix(Self.shortList)) + [more])
    }

    /// A fenced block whose fence is longer than any run of backticks inside, so values from
    /// the request cannot end it and write markdown of their own.
    static func codeBlock(_ lines: [String]) -> String {
        let text = lines.joined(separator: "\n")
        let fence = String(repeating: "`", count: max(3, longestBacktickRun(text) + 1))
        return "\(fence)\n\(text)\n\(fence)"
    }

    /// One line of text from the request or the API inside markdown: code, fenced the same way.
    static func inline(_ text: String) -> String {
        let flat = text.replacingOccurrences(of: "\n", with: " ")
        let fence = String(repeating: "`", count: longestBacktickRun(flat) + 1)
        return fence.count == 1 ? "`\(flat)`" : "\(fence) \(flat) \(fence)"
    }

    private static func longestBacktickRun(_ text: String) -> Int {
        var longest = 0
        var run = 0
        for character in text {
            run = character == "`" ? run + 1 : 0
            longest = max(longest, run)
        }
        return longest
    }
}
