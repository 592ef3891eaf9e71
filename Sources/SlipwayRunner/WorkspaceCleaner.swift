import Foundation

/// Removes finished jobs' workspaces, keeping the newest few for debugging. Workspaces of
/// running jobs (`inUse`) and of diffs in progress are never touched.
struct WorkspaceCleaner {
    let directory: String
    let keep: Int
    /// Workspace names (`APP-JOBID`) of jobs still running.
    let inUse: Set<String>

    func clean() {
        let fileManager = FileManager.default
        guard let names = try? fileManager.contentsOfDirectory(atPath: directory) else { return }
        let finished = names.filter { !inUse.contains($0) && !$0.hasPrefix("diff-") }
        let dated = finished.compactMap { name -> (String, Date)? in
            let path = (directory as NSString).appendingPathComponent(name)
            guard let modified = (try? fileManager.attributesOfItem(atPath: path))?[.modificationDate] as? Date else { return nil }
            return (path, modified)
        }
        for (path, _) in dated.sorted(by: { $0.1 > $1.1 }).dropFirst(keep) {
            try? fileManager.removeItem(atPath: path)
        }
    }
}
