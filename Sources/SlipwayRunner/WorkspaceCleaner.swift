import Foundation

/// Removes finished jobs' workspaces, keeping the newest few for debugging.
struct WorkspaceCleaner {
    let directory: String
    let keep: Int

    func clean() {
        let fileManager = FileManager.default
        guard let names = try? fileManager.contentsOfDirectory(atPath: directory) else { return }
        let dated = names.compactMap { name -> (String, Date)? in
            let path = (directory as NSString).appendingPathComponent(name)
            guard let modified = (try? fileManager.attributesOfItem(atPath: path))?[.modificationDate] as? Date else { return nil }
            return (path, modified)
        }
        for (path, _) in dated.sorted(by: { $0.1 > $1.1 }).dropFirst(keep) {
            try? fileManager.removeItem(atPath: path)
        }
    }
}
