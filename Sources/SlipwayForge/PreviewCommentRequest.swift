public import Foundation
public import SlipwayCore

/// Creating or editing the one comment an app keeps on a pull request, as each forge's API
/// takes it: GitHub and Gitea/Forgejo (issue comments), GitLab (merge request notes),
/// Bitbucket Cloud and Data Center (pull-request comments; Data Center edits name the
/// comment's version).
public enum PreviewCommentRequest {
    /// Creates the comment when `commentID` is nil, else edits it.
    public static func make(forge: Forge, api: ForgeAPI, pullRequest: Int, commentID: String?, commentVersion: Int?, text: String) -> ForgeRequest {
        let headers = CommitStatusRequest.authentication(forge: forge, api: api)
        let editing = commentID != nil
        let id = commentID ?? ""
        func json(_ value: [String: Any]) -> Data {
            (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])) ?? Data()
        }
        switch forge {
        case .github, .gitea, .forgejo:
            // POST /repos/{owner}/{repo}/issues/{number}/comments; PATCH /repos/{owner}/{repo}/issues/comments/{id}
            let url = editing ? "\(api.url)/repos/\(api.repository)/issues/comments/\(id)" : "\(api.url)/repos/\(api.repository)/issues/\(pullRequest)/comments"
            return ForgeRequest(method: editing ? "PATCH" : "POST", url: url, headers: headers, body: json(["body": text]))
        case .gitlab:
            // POST /projects/{id}/merge_requests/{iid}/notes; PUT /projects/{id}/merge_requests/{iid}/notes/{note_id}
            let base = "\(api.url)/projects/\(CommitStatusRequest.projectPath(api))/merge_requests/\(pullRequest)/notes"
            return ForgeRequest(method: editing ? "PUT" : "POST", url: editing ? "\(base)/\(id)" : base, headers: headers, body: json(["body": text]))
        case .bitbucketCloud:
            // POST /2.0/repositories/{workspace}/{repo_slug}/pullrequests/{id}/comments; PUT …/comments/{comment_id}
            let base = "\(api.url)/repositories/\(api.repository)/pullrequests/\(pullRequest)/comments"
            return ForgeRequest(method: editing ? "PUT" : "POST", url: editing ? "\(base)/\(id)" : base, headers: headers,
                                         body: json(["content": ["raw": text]]))
        case .bitbucketServer:
            // POST /rest/api/1.0/projects/{key}/repos/{slug}/pull-requests/{id}/comments; PUT …/comments/{id} with the version
            let parts = api.repository.split(separator: "/", maxSplits: 1).map(String.init)
            let (key, slug) = (parts.first?.uppercased() ?? "", parts.count > 1 ? parts[1] : "")
            let base = "\(api.url)/rest/api/1.0/projects/\(key)/repos/\(slug)/pull-requests/\(pullRequest)/comments"
            var body: [String: Any] = ["text": text]
            if editing { body["version"] = commentVersion ?? 0 }
            return ForgeRequest(method: editing ? "PUT" : "POST", url: editing ? "\(base)/\(id)" : base, headers: headers, body: json(body))
        }
    }

    /// Bitbucket Data Center: reading the comment, for the version an edit must name after
    /// someone else edited it (`GET …/comments/{id}`).
    public static func current(api: ForgeAPI, pullRequest: Int, commentID: String) -> ForgeRequest {
        let edit = make(forge: .bitbucketServer, api: api, pullRequest: pullRequest, commentID: commentID, commentVersion: nil, text: "")
        return ForgeRequest(method: "GET", url: edit.url, headers: edit.headers, body: Data())
    }

    /// The comment's id (and Data Center's version) from the forge's answer.
    public static func created(from answer: Data) -> (id: String, version: Int?)? {
        guard let object = (try? JSONSerialization.jsonObject(with: answer)) as? [String: Any] else { return nil }
        let id: String? = switch object["id"] {
        case let number as Int: String(number)
        case let text as String: text
        default: nil
        }
        return id.map { ($0, object["version"] as? Int) }
    }
}
