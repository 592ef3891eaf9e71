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
            body = try SlipwayJSON.data(object)
        } catch {
            throw .configuration("cannot send \(object["kind"]?.stringValue ?? "object") \(name): \(error)")
        }
        // JSON is YAML: the apply content type takes either, and the server reads it as YAML 1.1
        // (which is why the body comes from SlipwayJSON and nothing else).
        do {
            return try await call(.PATCH, info.path(namespace: namespace, name: name), query: query, body: body,
                                  contentType: "application/apply-patch+yaml", onRetry: onRetry)
        } catch {
            // A 404 may mean the cached discovery is stale (a CRD was removed or replaced).
            if error.code == 404 { await discovery.forget(info.apiVersion) }
            throw error
        }
    }

    /// A JSON merge patch (`application/merge-patch+json`) as `fieldManager`: for a change that
    /// is not part of any manifest, such as a rollout scaling a Deployment (recorded: 12).
    public func mergePatch(apiVersion: String, kind: String, namespace: String?, name: String, _ patch: JSONValue,
                           fieldManager: String) async throws(KubeError) -> JSONValue {
        let info = try await resource(apiVersion: apiVersion, kind: kind)
        let body: Data
        do {
            body = try SlipwayJSON.data(patch)
        } catch {
            throw .configuration("cannot send the patch of \(kind) \(name): \(error)")
        }
        return try await call(.PATCH, info.path(namespace: info.namespaced ? namespace : nil, name: name), query: [("fieldManager", fieldManager)],
                              body: body, contentType: "application/merge-patch+json")
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
    /// one LIST request per page of `pageSize`, however many objects.
    public func list(apiVersion: String, kind: String, namespace: String?, labelSelector: String) async throws(KubeError) -> [JSONValue] {
        try await listWithVersion(apiVersion: apiVersion, kind: kind, namespace: namespace, labelSelector: labelSelector).items
    }

    /// `list`, with the resourceVersion of the list: where a watch starts.
    public func listWithVersion(apiVersion: String, kind: String, namespace: String?, labelSelector: String,
                                pageSize: Int = 500) async throws(KubeError) -> (items: [JSONValue], resourceVersion: String) {
        var items: [JSONValue] = []
        let resourceVersion = try await listPages(apiVersion: apiVersion, kind: kind, namespace: namespace, labelSelector: labelSelector,
                                                  pageSize: pageSize) { items.append(contentsOf: $0) }
        return (items, resourceVersion)
    }

    /// Lists page by page, handing each page's objects to `page` before the next is asked for,
    /// so a caller that keeps only a summary of each never holds all of them; returns the
    /// list's resourceVersion.
    public func listPages(apiVersion: String, kind: String, namespace: String?, labelSelector: String, pageSize: Int = 500,
                          _ page: ([JSONValue]) async -> Void) async throws(KubeError) -> String {
        let info = try await resource(apiVersion: apiVersion, kind: kind)
        var resourceVersion = ""
        var next: String?
        repeat {
            var query = [("labelSelector", labelSelector), ("limit", String(pageSize))]
            if let next { query.append(("continue", next)) }
            var body = try await call(.GET, info.path(namespace: namespace), query: query)
            resourceVersion = body[path: ["metadata", "resourceVersion"]]?.stringValue ?? resourceVersion
            next = body[path: ["metadata", "continue"]]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
            var items = body["items"]?.arrayValue ?? []
            body = .null
            // Items of a list carry no apiVersion and kind of their own.
            for index in items.indices {
                items[index]["apiVersion"] = .string(apiVersion)
                items[index]["kind"] = .string(kind)
            }
            await page(items)
        } while next != nil
        return resourceVersion
    }

    /// Deletes an object, its dependents first (foreground propagation, as Argo CD prunes);
    /// returns false when it was already gone. `dryRun` only asks whether it could.
    /// `gracePeriod`: how long a pod's containers have between SIGTERM and SIGKILL.
    @discardableResult
    public func delete(apiVersion: String, kind: String, namespace: String?, name: String, dryRun: Bool = false,
                       propagation: String = "Foreground", gracePeriod: Duration? = nil) async throws(KubeError) -> Bool {
        let info = try await resource(apiVersion: apiVersion, kind: kind)
        var options: JSONValue = ["kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": .string(propagation)]
        if let gracePeriod { options["gracePeriodSeconds"] = .int(max(0, gracePeriod.components.seconds)) }
        let body = try? SlipwayJSON.data(options)
        let (status, answer) = try await send(.DELETE, info.path(namespace: namespace, name: name), query: dryRun ? [("dryRun", "All")] : [],
                                              body: body, contentType: "application/json")
        if status == 404 { return false }
        guard (200..<300).contains(status) else { throw KubeError.fromStatus(answer, code: status) }
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
