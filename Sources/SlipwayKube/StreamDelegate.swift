import AsyncHTTPClient
import NIOCore
import NIOHTTP1

/// A piece of a streamed answer: its status first, then the body as it comes.
enum StreamPart: Sendable {
    case status(Int)
    case body(ByteBuffer)
}

/// Hands a streamed answer to an async stream as it arrives (AsyncHTTPClient's delegate API
/// gives a task that can be cancelled, which a watch needs when its reader stops).
final class StreamDelegate: HTTPClientResponseDelegate, Sendable {
    typealias Response = Void
    let continuation: AsyncThrowingStream<StreamPart, any Error>.Continuation

    init(continuation: AsyncThrowingStream<StreamPart, any Error>.Continuation) {
        self.continuation = continuation
    }

    func didReceiveHead(task: HTTPClient.Task<Void>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        continuation.yield(.status(Int(head.status.code)))
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<Void>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        continuation.yield(.body(buffer))
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didFinishRequest(task: HTTPClient.Task<Void>) throws {
        continuation.finish()
    }

    func didReceiveError(task: HTTPClient.Task<Void>, _ error: any Error) {
        continuation.finish(throwing: error)
    }
}
