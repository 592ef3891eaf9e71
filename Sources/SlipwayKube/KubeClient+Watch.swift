import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
public import SlipwayCore

/// One event of a watch: an object that changed, or a bookmark (the stream's position).
public enum WatchEvent: Sendable, Equatable {
    case added(JSONValue)
    case modified(JSONValue)
    case deleted(JSONValue)
    case bookmark(resourceVersion: String)
}

extension KubeClient {
    /// Watches objects of a kind matching `labelSelector` from `resourceVersion` (a LIST's).
    /// The stream ends when the server closes the watch after `timeout`; it fails with a
    /// `KubeError` of code 410 (`Expired`) when that version is too old, and the caller lists
    /// again.
    public func watch(apiVersion: String, kind: String, namespace: String?, labelSelector: String, resourceVersion: String,
                      timeout: Duration = .seconds(45)) -> AsyncThrowingStream<WatchEvent, any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                do throws(KubeError) {
                    let info = try await resource(apiVersion: apiVersion, kind: kind)
                    let seconds = max(1, timeout.components.seconds)
                    // The server ends the watch after timeoutSeconds (under the client's 60 s read
                    // timeout, so a quiet watch ends cleanly); the reader lists and watches again.
                    let query = [("labelSelector", labelSelector), ("watch", "1"), ("allowWatchBookmarks", "true"),
                                 ("resourceVersion", resourceVersion), ("timeoutSeconds", String(seconds))]
                    var pending = Data()
                    do {
                        for try await chunk in streamedBody(info.path(namespace: namespace), query: query, what: "the watch of \(kind)") {
                            pending.append(chunk)
                            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                                let line = pending[pending.startIndex..<newline]
                                pending = Data(pending[(newline + 1)...])
                                guard !line.isEmpty else { continue }
                                if let event = try Self.watchEvent(Data(line), apiVersion: apiVersion, kind: kind) { continuation.yield(event) }
                            }
                        }
                    } catch let error as KubeError {
                        throw error
                    } catch {
                        throw KubeError.transport("the watch of \(kind) broke off: \(error)")
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// One line of a watch stream; an `ERROR` event becomes the `KubeError` it carries.
    static func watchEvent(_ line: Data, apiVersion: String, kind: String) throws(KubeError) -> WatchEvent? {
        guard let event = try? JSONDecoder().decode(JSONValue.self, from: line), var object = event["object"] else {
            throw .transport("the watch of \(kind) sent a line that is not an event")
        }
        if object["apiVersion"] == nil { object["apiVersion"] = .string(apiVersion) }
        if object["kind"] == nil { object["kind"] = .string(kind) }
        switch event["type"]?.stringValue {
        case "ADDED": return .added(object)
        case "MODIFIED": return .modified(object)
        case "DELETED": return .deleted(object)
        case "BOOKMARK": return .bookmark(resourceVersion: object[path: ["metadata", "resourceVersion"]]?.stringValue ?? "")
        case "ERROR": throw KubeError.fromStatus(object, code: object["code"]?.intValue.map(Int.init) ?? 500)
        default: return nil
        }
    }
}
