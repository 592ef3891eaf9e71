public import Foundation

extension KubeClient {
    /// A container's log as it is written (`GET …/pods/NAME/log?follow=true&timestamps=true`):
    /// raw bytes, each line prefixed by the kubelet's RFC 3339 time. The stream ends when the
    /// container exits (recorded: workloads 147). A container that has not started yet is a
    /// 400 "is waiting to start" (146, 159): the caller asks again once it runs.
    /// - Parameter sinceTime: lines from this second on (the API takes whole seconds).
    public func followLog(namespace: String, pod: String, container: String, sinceTime: Date? = nil) -> AsyncThrowingStream<Data, any Error> {
        var query = [("container", container), ("follow", "true"), ("timestamps", "true")]
        if let sinceTime { query.append(("sinceTime", sinceTime.formatted(.iso8601))) }
        return streamedBody("/api/v1/namespaces/\(namespace)/pods/\(pod)/log", query: query, what: "the log of \(pod)/\(container)")
    }
}
