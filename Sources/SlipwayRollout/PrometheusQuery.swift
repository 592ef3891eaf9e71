public import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
public import SlipwayCore

/// One instant query against a Prometheus HTTP API (`GET /api/v1/query`), read as a single
/// number: a vector of exactly one sample, or a scalar.
public struct PrometheusQuery: Sendable {
    public let provider: MetricsProvider
    public let client: HTTPClient

    public init(provider: MetricsProvider, client: HTTPClient) {
        self.provider = provider
        self.client = client
    }

    /// The value of `query` now, or why there is none. Never throws: an analysis counts a
    /// missing value as a failed measurement.
    public func value(_ query: String, timeout: Duration) async -> Result<Double, AnalysisProblem> {
        // Go reads '+' in a query string as a space: only unreserved characters go unescaped.
        let unreserved = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
        let encoded = query.addingPercentEncoding(withAllowedCharacters: unreserved) ?? ""
        var request = HTTPClientRequest(url: "\(provider.url)/api/v1/query?query=\(encoded)")
        request.headers.add(name: "Accept", value: "application/json")
        if let token = provider.token { request.headers.add(name: "Authorization", value: "Bearer \(token.value)") }
        let body: ByteBuffer
        let status: UInt
        do {
            let response = try await client.execute(request, timeout: .milliseconds(max(100, Int64(timeout.seconds * 1000))))
            status = response.status.code
            body = try await response.body.collect(upTo: 4 << 20)
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            return .failure(AnalysisProblem("Prometheus at \(provider.url) did not answer within \(DurationText.short(timeout))"))
        } catch {
            return .failure(AnalysisProblem("Prometheus at \(provider.url) could not be asked: \(error)"))
        }
        return Self.read(body: Data(buffer: body), status: status)
    }

    /// Reads an answer of `/api/v1/query` (a vector of one sample or a scalar) as one number.
    static func read(body: Data, status: UInt) -> Result<Double, AnalysisProblem> {
        guard let answer = try? JSONDecoder().decode(JSONValue.self, from: body) else {
            return .failure(AnalysisProblem("Prometheus answered \(status) with something that is not JSON"))
        }
        guard answer["status"]?.stringValue == "success" else {
            let type = answer["errorType"]?.stringValue ?? "error"
            return .failure(AnalysisProblem("Prometheus refused the query (\(status) \(type)): \(answer["error"]?.stringValue ?? "no reason given")"))
        }
        let data = answer["data"] ?? [:]
        let sample: JSONValue?
        switch data["resultType"]?.stringValue {
        case "scalar":
            sample = data["result"]
        case "vector":
            let results = data["result"]?.arrayValue ?? []
            guard results.count == 1 else {
                return .failure(AnalysisProblem(results.isEmpty ? "the query returned no value" : "the query returned \(results.count) values, not one"))
            }
            sample = results[0]["value"]
        default:
            return .failure(AnalysisProblem("the query returned a \(data["resultType"]?.stringValue ?? "?"), not a single value (a vector of one sample or a scalar)"))
        }
        // A sample is [time, "value"]; the value is a string ("NaN" and "+Inf" included).
        guard let text = sample?.arrayValue?.last?.stringValue, let value = Double(text) else {
            return .failure(AnalysisProblem("the query's sample could not be read"))
        }
        guard !value.isNaN else { return .failure(AnalysisProblem("the query's value is NaN (a division by zero: no requests measured?)")) }
        return .success(value)
    }
}

/// Why a measurement has no value.
public struct AnalysisProblem: Error, Sendable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
