import SlipwayCore
import Foundation
public import Hummingbird

/// An error answered as `{"error": "..."}` with a status code.
public struct APIError: HTTPResponseError, Sendable {
    public let status: HTTPResponse.Status
    public let message: String
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        JSONBody.response(status, ["error": message], headers: headers)
    }
}

/// JSON answers with stable key order, so responses are easy to read and to diff.
enum JSONBody {
    static func response(_ status: HTTPResponse.Status, _ value: some Encodable, headers: HTTPFields = [:]) -> Response {
        response(status, data: try? SlipwayJSON.data(value), headers: headers)
    }

    /// The same for a JSON tree, which is written without going through `Encodable`.
    static func response(_ status: HTTPResponse.Status, _ value: JSONValue, headers: HTTPFields = [:]) -> Response {
        response(status, data: try? SlipwayJSON.data(value), headers: headers)
    }

    private static func response(_ status: HTTPResponse.Status, data: Data?, headers: HTTPFields) -> Response {
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        let data = data ?? Data(#"{"error":"response could not be encoded"}"#.utf8)
        var buffer = ByteBuffer()
        buffer.reserveCapacity(data.count + 1)
        buffer.writeBytes(data)
        buffer.writeInteger(UInt8(ascii: "\n"))
        return Response(status: status, headers: fields, body: .init(byteBuffer: buffer))
    }
}
