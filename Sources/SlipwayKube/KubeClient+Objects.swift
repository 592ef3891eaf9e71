import Foundation
import NIOHTTP1
public import SlipwayCore

/// The object calls Slipway makes: server-side apply, get, list by label, delete.
extension KubeClient {
    /// Server-side apply of `object` as `fieldManager`. `dryRun` asks the server to validate
    /// and answer without storing anything.
    public func apply(_ object: JSONValue, fieldManager: String, force: Bool, dryRun: Bool = false,
                      onRetry: RetryObserver? = nil) async throws(KubeError) -> JSONValue {
        let (info, namespace, name) = try await identify(object)
        var query = [("fieldManager", fieldManager)]
        if force { query.append(("force", "true")) }
        if dryRun { query.append(("dryRun", "All")) }
        let body: Data
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            body = try encoder.encode(object)
        } catch {
            throw .transport("cannot encode \(object["kind"]?.stringValue ?? "object") \(name): \(error)")
        }
        // JSON is YAML: the apply content type takes either.
        do {
            return try await call(.PATCH, info.path(namespace: namespace, name: name), query: query, body: body,
                                  contentType: "application/apply-patch+yaml", onRetry: onRetry)
        } catch {
            // A 404 may mean the cached discovery is stale (a CRD was removed or replaced).
            if error.code == 404 { await discovery.forget(info.apiVersion) }
            throw error
        }
    }

    /// The live object, or nil when it does not exist.
    public func get(apiVersion: String, kind: String, namespace: String?, name: String) async throws(KubeError) -> JSONValue? {
        let info = try await resource(apiVersion: apiVersion, kind: kind)
        let (status, body) = try await send(.GET, info.path(namespace: namespace, name: name))
        if status == 404 { return nil }
        guard (200..<300).contains(status) else { throw KubeError.fromStatus(body, code: status) }
        return body
    }

    /// Objects of a kind matching a label selector, in one namespace or (nil) all of them:
    /// one LIST request, however many objects.
    public func list(apiVersion: String, kind: String, namespace: String?, labelSelector: String) async throws(KubeError) -> [JSONValue] {
        let info = try await resource(apiVersion: apiVersion, kind: kind)
        let body = try await call(.GET, info.path(namespace: namespace), query: [("labelSelector", labelSelector)])
        return (body["items"]?.arrayValue ?? []).map { item in
            var item = item
            item["apiVersion"] = .string(apiVersion)
            item["kind"] = .string(kind)
            return item
        }
    }

    /// Deletes an object; returns false when it was already gone.
    @discardableResult
    public func delete(apiVersion: String, kind: String, namespace: String?, name: String) async throws(KubeError) -> Bool {
        let info = try await resource(apiVersion: apiVersion, kind: kind)
        let (status, body) = try await send(.DELETE, info.path(namespace: namespace, name: name))
        if status == 404 { return false }
        guard (200..<300).contains(status) else { throw KubeError.fromStatus(body, code: status) }
        return true
    }

    private func identify(_ object: JSONValue) async throws(KubeError) -> (ResourceInfo, String?, String) {
        guard let apiVersion = object["apiVersion"]?.stringValue, let kind = object["kind"]?.stringValue,
              let name = object[path: ["metadata", "name"]]?.stringValue else {
            throw .transport("an object without apiVersion, kind or metadata.name cannot be sent")
        }
        let info = try await resource(apiVersion: apiVersion, kind: kind)
        return (info, info.namespaced ? object[path: ["metadata", "namespace"]]?.stringValue : nil, name)
    }
}
