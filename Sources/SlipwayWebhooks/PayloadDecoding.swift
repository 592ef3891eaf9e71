import Foundation

/// JSON decoding of payload bodies with errors that say which field was wrong.
enum PayloadDecoding {
    /// Tells a payload whether to read each commit's file lists (`WebhookRequest.wantsChangedPaths`).
    static let changedPathsKey = CodingUserInfoKey(rawValue: "slipway.changedPaths")!

    static func decode<T: Decodable>(_ type: T.Type, from body: Data, changedPaths: Bool = true) throws(WebhookError) -> T {
        do {
            let decoder = JSONDecoder()
            if !changedPaths { decoder.userInfo[changedPathsKey] = false }
            return try decoder.decode(type, from: body)
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

    /// Every path the commits of a push list as added, removed or modified, once each, sorted;
    /// nil when the payload may not list them all: a new branch or a forced push (no commits
    /// or not the ones that changed), fewer commits listed than the push has (`total`), or the
    /// forges' caps reached (GitHub and GitLab list at most 20 commits, GitHub at most 3,000
    /// files). Then the mirror's diff of before..after decides.
    static func changedPaths(_ commits: [some ChangedPaths]?, total: Int?, created: Bool, forced: Bool) -> [String]? {
        guard let commits, !commits.isEmpty, !created, !forced, commits.count < 20 else { return nil }
        if let total, total > commits.count { return nil }
        let paths = Array(Set(commits.flatMap { ($0.added ?? []) + ($0.removed ?? []) + ($0.modified ?? []) })).sorted()
        return paths.count < 3000 ? paths : nil
    }

    /// Whether the object id means "no commit" (a created or deleted ref).
    static func isZero(_ sha: String?) -> Bool {
        guard let sha else { return true }
        return sha.isEmpty || sha.allSatisfy { $0 == "0" }
    }
}

/// A payload commit that lists the files it changed (GitHub, Gitea and GitLab do).
protocol ChangedPaths {
    var added: [String]? { get }
    var removed: [String]? { get }
    var modified: [String]? { get }
}
