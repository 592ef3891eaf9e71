public import Foundation
public import SlipwayCore

/// A push payload in a forge's own shape, for `slipway send-test-hook`: the way a user
/// checks that an app's secret, URL and branch are set up right without pushing.
public enum TestPush {
    /// The body a forge would send for a push of `commit` to `branch`.
    public static func body(forge: Forge, repository: String, cloneURL: String, branch: String, before: String, commit: String, message: String) -> Data {
        let ref = PushEvent.branchPrefix + branch
        let author: JSONValue = ["name": "Slipway test", "email": "slipway@localhost", "username": "slipway"]
        let object: JSONValue
        switch forge {
        case .github, .gitea, .forgejo:
            let head: JSONValue = ["id": .string(commit), "message": .string(message), "author": author, "added": [], "removed": [], "modified": []]
            object = [
                "ref": .string(ref), "before": .string(before), "after": .string(commit), "created": false, "deleted": false, "forced": false,
                "repository": ["full_name": .string(repository), "clone_url": .string(cloneURL)],
                "head_commit": head, "commits": [head],
            ]
        case .gitlab:
            object = [
                "object_kind": "push", "ref": .string(ref), "before": .string(before), "after": .string(commit), "checkout_sha": .string(commit),
                "project": ["path_with_namespace": .string(repository), "git_http_url": .string(cloneURL)],
                "commits": [["id": .string(commit), "message": .string(message), "author": ["name": "Slipway test", "email": "slipway@localhost"]]],
            ]
        case .bitbucketCloud:
            let name = branch
            object = [
                "repository": ["full_name": .string(repository)],
                "push": ["changes": [[
                    "old": ["type": "branch", "name": .string(name), "target": ["hash": .string(before)]],
                    "new": ["type": "branch", "name": .string(name), "target": ["hash": .string(commit), "message": .string(message)]],
                    "created": false, "closed": false, "forced": false,
                ]]],
            ]
        case .bitbucketServer:
            let parts = repository.split(separator: "/", maxSplits: 1).map(String.init)
            object = [
                "eventKey": "repo:refs_changed",
                "repository": ["slug": .string(parts.last ?? repository), "project": ["key": .string(parts.first ?? repository)]],
                "changes": [["refId": .string(ref), "fromHash": .string(before), "toHash": .string(commit), "type": "UPDATE"]],
            ]
        }
        // Sorted keys make the body, and so its signature, reproducible.
        return (try? SlipwayJSON.data(object)) ?? Data()
    }
}
