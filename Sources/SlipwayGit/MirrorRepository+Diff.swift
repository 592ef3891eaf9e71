import CLibgit2
import Foundation

extension MirrorRepository {
    /// The files that differ between two commits' trees (both sides of a rename), sorted;
    /// with no `before` (a new branch) or a `before` the mirror does not have (force-pushed
    /// away before it was ever fetched), every file of `after`: all of it is new.
    func changedPaths(from before: String?, to after: String) throws(GitError) -> [String] {
        _ = LibGit2.initialised
        var repository: OpaquePointer?
        try LibGit2.check(git_repository_open_bare(&repository, path), "cannot open the mirror at \(path)")
        defer { git_repository_free(repository) }

        func tree(_ sha: String) -> OpaquePointer? {
            var oid = git_oid()
            guard sha.count == 40, git_oid_fromstr(&oid, sha) == 0 else { return nil }
            var commit: OpaquePointer?
            guard git_commit_lookup(&commit, repository, &oid) == 0 else { return nil }
            defer { git_commit_free(commit) }
            var tree: OpaquePointer?
            guard git_commit_tree(&tree, commit) == 0 else { return nil }
            return tree
        }
        guard let newTree = tree(after) else {
            throw GitError(.commitNotFound, "commit \(after) is not in \(url)")
        }
        defer { git_tree_free(newTree) }
        let oldTree = before.flatMap(tree)
        defer { if let oldTree { git_tree_free(oldTree) } }

        var diff: OpaquePointer?
        try LibGit2.check(git_diff_tree_to_tree(&diff, repository, oldTree, newTree, nil),
                          "cannot compare \(before?.prefix(12) ?? "nothing") with \(after.prefix(12))")
        defer { git_diff_free(diff) }
        var paths = Set<String>()
        for index in 0..<git_diff_num_deltas(diff) {
            guard let delta = git_diff_get_delta(diff, index)?.pointee else { continue }
            if let old = delta.old_file.path { paths.insert(String(cString: old)) }
            if let new = delta.new_file.path { paths.insert(String(cString: new)) }
        }
        return paths.sorted()
    }

    /// The best common ancestor of two commits: where a pull request's branch left its target.
    func mergeBase(_ one: String, _ other: String) throws(GitError) -> String {
        _ = LibGit2.initialised
        var repository: OpaquePointer?
        try LibGit2.check(git_repository_open_bare(&repository, path), "cannot open the mirror at \(path)")
        defer { git_repository_free(repository) }
        var a = git_oid()
        var b = git_oid()
        var base = git_oid()
        guard git_oid_fromstr(&a, one) == 0, git_oid_fromstr(&b, other) == 0, git_merge_base(&base, repository, &a, &b) == 0 else {
            throw GitError(.commitNotFound, "\(one.prefix(12)) and \(other.prefix(12)) have no common ancestor in \(url)")
        }
        var buffer = [CChar](repeating: 0, count: 41)
        git_oid_tostr(&buffer, 41, &base)
        return String(cString: buffer)
    }
}
