import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Bounds what a request's head may hold, as a receiver on the open internet does: too many
/// or too large header lines get 431 Request Header Fields Too Large, a too long request target
/// 414 URI Too Long, and the connection is closed. Heads far beyond the limits are stopped by
/// the HTTP decoder itself (its limits are set a little above these), and answered 431 here too.
final class RequestHeadLimits: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundOut = HTTPResponsePart

    struct Limits: Sendable {
        var headerBytes: Int
        var headerCount: Int
        var requestTarget: Int

        /// What the request's head breaks, as a status and a reason; nil when it fits.
        func check(_ request: HTTPRequest) -> (HTTPResponse.Status, String)? {
            if (request.path?.utf8.count ?? 0) > requestTarget {
                return (.uriTooLong, "the request target is longer than \(requestTarget) bytes")
            }
            if request.headerFields.count > headerCount {
                return (.requestHeaderFieldsTooLarge, "the request has more than \(headerCount) header lines")
            }
            // Each line is `name: value\r\n`.
            let bytes = request.headerFields.reduce(0) { $0 + $1.name.rawName.utf8.count + $1.value.utf8.count + 4 }
            if bytes > headerBytes {
                return (.requestHeaderFieldsTooLarge, "the request's header lines are larger than \(headerBytes) bytes")
            }
            return nil
        }
    }

    private let limits: Limits
    private var refusing = false

    init(limits: Limits) {
        self.limits = limits
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refusing else { return }
        if case .head(let request) = unwrapInboundIn(data), let (status, reason) = limits.check(request) {
            refuse(context: context, status: status, reason: reason)
            return
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let parserError = error as? HTTPParserError, parserError == .headerOverflow, !refusing {
            refuse(context: context, status: .requestHeaderFieldsTooLarge, reason: "the request's header lines are too large")
            return
        }
        context.fireErrorCaught(error)
    }

    private func refuse(context: ChannelHandlerContext, status: HTTPResponse.Status, reason: String) {
        refusing = true
        var body = context.channel.allocator.buffer(capacity: reason.utf8.count + 16)
        body.writeString(#"{"error":""# + reason + "\"}\n")
        let head = HTTPResponse(status: status, headerFields: [.contentType: "application/json; charset=utf-8", .connection: "close",
                                                               .contentLength: String(body.readableBytes)])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
    }
}
