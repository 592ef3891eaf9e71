public import Foundation
public import SlipwayCore

/// One commit status as the app's forge wants it, from each forge's published API.
public enum CommitStatusRequest {
    /// What forges show next to the status (GitHub cuts at 140 characters).
    static func describe(_ state: CommitState, reason: String?) -> String {
        let text: String = switch state {
        case .queued: "queued"
        case .running: "running"
        case .succeeded: "deployed"
        case .failed: "failed" + (reason.map { ": \($0)" } ?? "")
        case .cancelled: "cancelled" + (reason.map { ": \($0)" } ?? "")
        }
        return text.count > 140 ? String(text.prefix(139)) + "…" : text
    }

    /// The token as each forge takes it.
    static func authentication(forge: Forge, api: ForgeAPI) -> [(String, String)] {
        let token = api.token.value
        return switch forge {
        case .github: [("Authorization", "Bearer \(token)"), ("Accept", "application/vnd.github+json"), ("X-GitHub-Api-Version", "2022-11-28")]
        case .gitlab: [("PRIVATE-TOKEN", token)]
        case .gitea, .forgejo: [("Authorization", "token \(token)")]
        case .bitbucketCloud, .bitbucketServer: [("Authorization", "Bearer \(token)")]
        }
    }

    /// GitLab names a project by its URL-encoded full path.
    static func projectPath(_ api: ForgeAPI) -> String {
        api.repository.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? api.repository
    }

    /// `preview`: the status of a pull request's preview, under a context of its own
    /// (`slipway/APP/preview`) so it never stands for the app's deploy.
    public static func make(forge: Forge, api: ForgeAPI, app: String, preview: Bool = false, commit: String, state: CommitState, reason: String?,
                            link: String) -> ForgeRequest {
        let context = preview ? "slipway/\(app)/preview" : "slipway/\(app)"
        let description = preview && state == .succeeded ? describePreview(reason) : describe(state, reason: reason)
        let headers = authentication(forge: forge, api: api)
        func json(_ value: [String: String]) -> Data {
            (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])) ?? Data()
        }
        switch forge {
        case .github:
            // POST /repos/{owner}/{repo}/statuses/{sha}
            let value = switch state { case .queued, .running: "pending"; case .succeeded: "success"; case .failed: "failure"; case .cancelled: "error" }
            return ForgeRequest(
                url: "\(api.url)/repos/\(api.repository)/statuses/\(commit)", headers: headers,
                body: json(["state": value, "target_url": link, "description": description, "context": context]))
        case .gitlab:
            // POST /projects/{id or url-encoded path}/statuses/{sha}
            let value = switch state { case .queued: "pending"; case .running: "running"; case .succeeded: "success"; case .failed: "failed"; case .cancelled: "canceled" }
            return ForgeRequest(
                url: "\(api.url)/projects/\(projectPath(api))/statuses/\(commit)", headers: headers,
                body: json(["state": value, "name": context, "target_url": link, "description": description]))
        case .gitea, .forgejo:
            // POST /repos/{owner}/{repo}/statuses/{sha}
            let value = switch state { case .queued, .running: "pending"; case .succeeded: "success"; case .failed: "failure"; case .cancelled: "error" }
            return ForgeRequest(
                url: "\(api.url)/repos/\(api.repository)/statuses/\(commit)", headers: headers,
                body: json(["state": value, "target_url": link, "description": description, "context": context]))
        case .bitbucketCloud:
            // POST /2.0/repositories/{workspace}/{repo_slug}/commit/{commit}/statuses/build
            let value = switch state { case .queued, .running: "INPROGRESS"; case .succeeded: "SUCCESSFUL"; case .failed: "FAILED"; case .cancelled: "STOPPED" }
            return ForgeRequest(
                url: "\(api.url)/repositories/\(api.repository)/commit/\(commit)/statuses/build", headers: headers,
                body: json(["key": context.replacingOccurrences(of: "/", with: "-"), "state": value, "name": context, "url": link, "description": description]))
        case .bitbucketServer:
            // POST /rest/build-status/1.0/commits/{commitId}
            let value = switch state { case .queued, .running: "INPROGRESS"; case .succeeded: "SUCCESSFUL"; case .failed, .cancelled: "FAILED" }
            return ForgeRequest(
                url: "\(api.url)/rest/build-status/1.0/commits/\(commit)", headers: headers,
                body: json(["key": context.replacingOccurrences(of: "/", with: "-"), "state": value, "name": context, "url": link, "description": description]))
        }
    }

    /// A finished preview says what the merge would change.
    static func describePreview(_ summary: String?) -> String {
        let text = "preview: " + (summary ?? "done")
        return text.count > 140 ? String(text.prefix(139)) + "…" : text
    }
}
