import Foundation
import SlipwayCore
import SlipwayKube

/// The job pod's changes, and where pods reach Slipway.
extension PodStepRunner {
    /// The pod's changes as events: a watch by the job's label from the pod's version, picked
    /// up again where it ended (the server ends watches); a GET when the version has expired.
    func watch(_ jobPod: JobPod, from created: JSONValue, into sink: AsyncStream<Event>.Continuation) async {
        var version = created[path: ["metadata", "resourceVersion"]]?.stringValue ?? ""
        let selector = "\(JobPod.jobLabel)=\(created[path: ["metadata", "labels", JobPod.jobLabel]]?.stringValue ?? "")"
        while !Task.isCancelled {
            do {
                for try await event in client.watch(apiVersion: "v1", kind: "Pod", namespace: jobPod.namespace, labelSelector: selector,
                                                    resourceVersion: version, timeout: .seconds(50)) {
                    switch event {
                    case .added(let pod), .modified(let pod):
                        guard pod[path: ["metadata", "name"]]?.stringValue == jobPod.name else { continue }
                        version = pod[path: ["metadata", "resourceVersion"]]?.stringValue ?? version
                        sink.yield(.pod(pod))
                    case .deleted(let pod):
                        guard pod[path: ["metadata", "name"]]?.stringValue == jobPod.name else { continue }
                        sink.yield(.gone)
                        return
                    case .bookmark(let resourceVersion):
                        version = resourceVersion
                    }
                }
            } catch {
                if Task.isCancelled { return }
                // 410 (expired) or a broken connection: read the pod as it is now.
                try? await Task.sleep(for: .milliseconds((error as? KubeError)?.code == 410 ? 0 : 500))
                do {
                    guard let pod = try await client.get(apiVersion: "v1", kind: "Pod", namespace: jobPod.namespace, name: jobPod.name) else {
                        sink.yield(.gone)
                        return
                    }
                    version = pod[path: ["metadata", "resourceVersion"]]?.stringValue ?? version
                    sink.yield(.pod(pod))
                } catch {
                    continue
                }
            }
        }
    }

    /// The server's host, port and an address of it, for a pod that may reach nothing else.
    static func address(of serverURL: String) -> (host: String, port: Int, ip: String)? {
        guard let url = URL(string: serverURL), let host = url.host else { return nil }
        let port = url.port ?? (url.scheme == "http" ? 80 : 443)
        if host.allSatisfy({ $0.isNumber || $0 == "." }) || host.contains(":") { return (host, port, host) }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return nil }
        defer { freeaddrinfo(result) }
        var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        guard getnameinfo(first.pointee.ai_addr, first.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 else { return nil }
        return (host, port, String(cString: buffer))
    }
}
