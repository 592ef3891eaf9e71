public import Foundation
public import SlipwayCore

/// A push payload in a forge's own shape, for `slipway send-test-hook`: the way a user
/// checks that an app's secret, URL and branch are set up right without pushing.
public enum TestPush {
    /// The body a forge would send for a push of `commit` to `branch`.
    public static func body(forge: Forge, repository: String, cloneURL: String, branch: String, before: String, commit: String, message: String) -> Data {
        let ref = PushEvent.branchPrefix + branch
        let author: [String: Any] = ["name": "Slipway test", "email": "slipway@localhost", "username": "slipway"]
        let object: [String: Any]
        switch forge {
        case .github, .gitea, .forgejo:
            let head: [String: Any] = ["id": commit, "message": message, "author": author, "added": [], "removed": [], "modified": []]
            object = [
                "ref": ref, "before": before, "after": commit, "created": false, "deleted": false, "forced": false,
                "repository": ["full_name": repository, "clone_url": cloneURL],
                "head_commit": head, "commits": [head],
            ]
        case .gitlab:
            object = [
                "object_kind": "push", "ref": ref, "before": before, "after": commit, "checkout_sha": commit,
                "project": ["path_with_namespace": repository, "git_http_url": cloneURL],
                "commits": [["id": commit, "message": message, "author": ["name": "Slipway test", "email": "slipway@localhost"]]],
            ]
        case .bitbucketCloud:
            let name = branch
            object = [
                "repository": ["full_name": repository],
                "push": ["changes": [[
                    "old": ["type": "branch", "name": name, "target": ["hash": before]],
                    "new": ["type": "branch", "name": name, "target": ["hash": commit, "message": message]],
                    "created": false, "closed": false, "forced": false,
                ]]],
            ]
        case .bitbucketServer:
            let parts = repository.split(separator: "/", maxSplits: 1).map(String.init)
            object = [
                "eventKey": "repo:refs_changed",
                "repository": ["slug": parts.last ?? repository, "project": ["key": parts.first ?? repository]],
                "changes": [["refId": ref, "fromHash": before, "toHash": commit, "type": "UPDATE"]],
            ]
        }
        // Sorted keys make the body, and so its signature, reproducible.
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
    }
}
