public import Foundation
public import SlipwayCore

extension KubeClient {
    /// A container's log as it is written (`GET …/pods/NAME/log?follow=true&timestamps=true`):
    /// raw bytes, each line prefixed by the kubelet's RFC 3339 time. The stream ends when the
    /// container exits (recorded: workloads 147). A container that has not started yet is a
    /// 400 "is waiting to start" (146, 159): the caller asks again once it runs.
    /// - Parameter sinceTime: lines from this second on (the API takes whole seconds).
    public func followLog(namespace: String, pod: String, container: String, sinceTime: Date? = nil) -> AsyncThrowingStream<Data, any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                do throws(KubeError) {
                    var query = [("container", container), ("follow", "true"), ("timestamps", "true")]
                    if let sinceTime { query.append(("sinceTime", sinceTime.formatted(.iso8601))) }
                    let parts = try stream("/api/v1/namespaces/\(namespace)/pods/\(pod)/log", query: query)
                    var status = 0
                    var errorBody = Data()
                    do {
                        for try await part in parts {
                            switch part {
                            case .status(let code): status = code
                            case .body(let chunk) where status != 200: errorBody.append(contentsOf: chunk.readableBytesView)
                            case .body(let chunk): continuation.yield(Data(chunk.readableBytesView))
                            }
                        }
                    } catch {
                        if Task.isCancelled { throw KubeError.transport("the log of \(pod)/\(container) was no longer read") }
                        throw KubeError.transport("the log of \(pod)/\(container) broke off: \(error)")
                    }
                    if status != 200 {
                        throw KubeError.fromStatus(try? JSONDecoder().decode(JSONValue.self, from: errorBody), code: status)
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}
