public import Foundation
import SlipwayConfig
public import SlipwayCore

/// Turns a deploy spec and a checked-out commit into manifests: files or a render command's
/// output, variables substituted, every document checked before anything is applied.
public enum Renderer {
    /// The variables manifests may use: Slipway's own plus the spec's (which may use Slipway's).
    public static func variables(spec: DeploySpec, builtIn: [String: String]) throws(DeployError) -> [String: String] {
        var all = builtIn
        for (name, value) in spec.variables.sorted(by: { $0.key < $1.key }) {
            do {
                all[name] = try VariableSubstitution.apply(value, variables: builtIn)
            } catch {
                throw DeployError("deploy.variables.\(name): variable ${\(error.name)} is not defined")
            }
        }
        return all
    }

    /// Reads every .yaml, .yml and .json file under `path` (a folder or one file), in path order.
    public static func renderFolder(_ path: String, workspace: String, variables: [String: String]) throws(DeployError) -> [Manifest] {
        let root = URL(fileURLWithPath: workspace).appendingPathComponent(path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root.path, isDirectory: &isDirectory) else {
            throw DeployError("deploy.manifests: \(path) is not in the repository")
        }
        var files: [String] = []
        if isDirectory.boolValue {
            let enumerator = FileManager.default.enumerator(atPath: root.path)
            while let relative = enumerator?.nextObject() as? String {
                if ["yaml", "yml", "json"].contains((relative as NSString).pathExtension.lowercased()) {
                    files.append((path as NSString).appendingPathComponent(relative))
                }
            }
        } else {
            files = [path]
        }
        var manifests: [Manifest] = []
        for file in files.sorted() {
            // The server reads these files itself: never through a link out of the workspace.
            guard let resolved = WorkspaceFile.path(file, in: workspace) else {
                throw DeployError("\(file): leads outside the workspace (a symbolic link); manifests must be files in the repository")
            }
            let text: String
            do {
                text = try String(contentsOfFile: resolved, encoding: .utf8)
            } catch {
                throw DeployError("\(file): cannot be read: \(error.localizedDescription)")
            }
            manifests += try documents(text, source: file, variables: variables)
        }
        return manifests
    }

    /// Reads a render command's standard output.
    public static func renderOutput(_ text: String, variables: [String: String]) throws(DeployError) -> [Manifest] {
        try documents(text, source: "render command output", variables: variables)
    }

    static func documents(_ text: String, source: String, variables: [String: String]) throws(DeployError) -> [Manifest] {
        let substituted: String
        do {
            substituted = try VariableSubstitution.apply(text, variables: variables)
        } catch {
            throw DeployError("\(source):\(error.line): variable ${\(error.name)} is not defined (give it a value in deploy.variables, or a default with ${\(error.name):=value})")
        }
        let documents: [YAMLDocument]
        do {
            documents = try YAMLDocuments.parse(substituted, file: source)
        } catch {
            throw DeployError(error.description)
        }
        var manifests: [Manifest] = []
        for document in documents {
            let manifest = Manifest(object: document.value, source: source, index: document.index, line: document.line)
            // A List (what `kubectl get -o yaml` prints) holds several objects.
            if manifest.kind == "List", let items = document.value["items"]?.arrayValue {
                manifests += items.map { Manifest(object: $0, source: source, index: document.index, line: document.line) }
            } else {
                manifests.append(manifest)
            }
        }
        return manifests
    }

    /// Every document must be an object with apiVersion, kind and metadata.name, and no object
    /// may appear twice.
    public static func validate(_ manifests: [Manifest]) throws(DeployError) {
        var seen: [String: Manifest] = [:]
        for manifest in manifests {
            guard manifest.object.objectValue != nil else { throw DeployError("\(manifest.place): is not a mapping") }
            for (field, value) in [("apiVersion", manifest.apiVersion), ("kind", manifest.kind), ("metadata.name", manifest.name)] where value.isEmpty {
                throw DeployError("\(manifest.place): missing \(field)")
            }
            let identity = manifest.reference.identity
            if let first = seen[identity] {
                throw DeployError("\(manifest.place): \(manifest.reference) is also defined in \(first.place)")
            }
            seen[identity] = manifest
        }
    }
}
