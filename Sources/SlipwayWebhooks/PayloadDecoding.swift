import Foundation

/// JSON decoding of payload bodies with errors that say which field was wrong.
enum PayloadDecoding {
    static func decode<T: Decodable>(_ type: T.Type, from body: Data) throws(WebhookError) -> T {
        do {
            return try JSONDecoder().decode(type, from: body)
        } catch let error as DecodingError {
            throw .malformedPayload(describe(error))
        } catch {
            throw .malformedPayload("\(error)")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ codingPath: [any CodingKey]) -> String {
            let text = codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return text.isEmpty ? "the top level" : String(text.drop(while: { $0 == "." }))
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "missing field '\(key.stringValue)' at \(path(context.codingPath))"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "unexpected value at \(path(context.codingPath)): \(context.debugDescription)"
        case .dataCorrupted(let context):
            if let underlying = context.underlyingError as NSError?,
               let detail = underlying.userInfo[NSDebugDescriptionErrorKey] as? String {
                return "invalid JSON: \(detail)"
            }
            return "invalid JSON at \(path(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    /// Whether the object id means "no commit" (a created or deleted ref).
    static func isZero(_ sha: String?) -> Bool {
        guard let sha else { return true }
        return sha.isEmpty || sha.allSatisfy { $0 == "0" }
    }
}
