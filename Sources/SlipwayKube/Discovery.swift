public import SlipwayCore

/// What a kind is called on the API: its URL name and whether it lives in namespaces.
public struct ResourceInfo: Sendable, Hashable {
    public var apiVersion: String
    public var kind: String
    public var plural: String
    public var namespaced: Bool

    /// `/api/v1` or `/apis/GROUP/VERSION`.
    public var basePath: String { apiVersion.contains("/") ? "/apis/\(apiVersion)" : "/api/\(apiVersion)" }

    public func path(namespace: String?, name: String? = nil) -> String {
        var path = basePath
        if namespaced, let namespace { path += "/namespaces/\(namespace)" }
        path += "/\(plural)"
        if let name { path += "/\(name)" }
        return path
    }
}

/// Caches discovery per group version; forget a group version when the cluster may have
/// changed (a CRD became Established, or a 404 says the cache is stale).
public actor Discovery {
    private var groupVersions: [String: [String: ResourceInfo]] = [:]

    func resources(_ apiVersion: String, fetch: () async throws(KubeError) -> JSONValue?) async throws(KubeError) -> [String: ResourceInfo] {
        if let cached = groupVersions[apiVersion] { return cached }
        guard let list = try await fetch() else { return [:] }
        var byKind: [String: ResourceInfo] = [:]
        for entry in list["resources"]?.arrayValue ?? [] {
            guard let name = entry["name"]?.stringValue, !name.contains("/"), let kind = entry["kind"]?.stringValue else { continue }
            byKind[kind] = ResourceInfo(apiVersion: apiVersion, kind: kind, plural: name, namespaced: entry["namespaced"]?.boolValue ?? true)
        }
        groupVersions[apiVersion] = byKind
        return byKind
    }

    public func forget(_ apiVersion: String? = nil) {
        if let apiVersion { groupVersions[apiVersion] = nil } else { groupVersions.removeAll() }
    }
}

extension KubeClient {
    /// The resource for an apiVersion and kind, from (cached) discovery. A kind missing from a
    /// cached list is looked up once more, fresh, before it is declared unknown.
    public func resource(apiVersion: String, kind: String) async throws(KubeError) -> ResourceInfo {
        for fresh in [false, true] {
            if fresh { await discovery.forget(apiVersion) }
            let resources = try await discovery.resources(apiVersion) { () throws(KubeError) -> JSONValue? in
                let info = ResourceInfo(apiVersion: apiVersion, kind: "", plural: "", namespaced: false)
                let (status, body) = try await send(.GET, info.basePath, impersonate: false)
                if status == 404 { return nil }
                guard (200..<300).contains(status) else { throw KubeError.fromStatus(body, code: status) }
                return body
            }
            if let info = resources[kind] { return info }
        }
        throw .unknownKind(apiVersion: apiVersion, kind: kind)
    }
}
