public import Foundation
import HTTPTypes
import Hummingbird
import Logging
public import SlipwayCore

/// A forge's commit status and pull-request comment APIs on loopback, as each forge publishes
/// them: it checks method, path, authentication header and body of every call against that
/// forge's API (and refuses what the real one would refuse), records what it took, and can be
/// told to answer 429, 5xx or 401 for a while.
public final class FakeForgeAPI: Sendable {
    /// One status the forge took.
    public struct Status: Sendable, Equatable {
        public var commit: String
        public var state: String
        public var context: String
        public var targetURL: String
        public var description: String
    }

    /// One comment on a pull request, as it now reads.
    public struct Comment: Sendable, Equatable {
        public var id: Int
        public var pullRequest: Int
        public var body: String
        /// How many times it was edited.
        public var edits: Int
        /// Bitbucket Data Center's optimistic-locking version.
        public var version: Int
    }

    private actor Book {
        var taken: [Status] = []
        var comments: [Comment] = []
        var calls = 0
        var refusals: [String] = []
        var scripted: [(code: Int, headers: [(String, String)], body: String)] = []
        var always: (code: Int, body: String)?

        func next() -> (Int, [(String, String)], String)? {
            calls += 1
            if let always { return (always.code, [], always.body) }
            return scripted.isEmpty ? nil : scripted.removeFirst()
        }
        func take(_ status: Status) { taken.append(status) }
        func create(pullRequest: Int, body: String) -> Comment {
            let comment = Comment(id: 9000 + comments.count + 1, pullRequest: pullRequest, body: body, edits: 0, version: 0)
            comments.append(comment)
            return comment
        }
        /// The edited comment, or nil when there is none with that id (on that request).
        func edit(id: Int, pullRequest: Int?, body: String) -> Comment? {
            guard let index = comments.firstIndex(where: { $0.id == id && (pullRequest == nil || $0.pullRequest == pullRequest) }) else { return nil }
            comments[index].body = body
            comments[index].edits += 1
            comments[index].version += 1
            return comments[index]
        }
        func comment(id: Int) -> Comment? { comments.first { $0.id == id } }
        func delete(id: Int) { comments.removeAll { $0.id == id } }
        func refuse(_ why: String) { refusals.append(why) }
        func script(_ answers: [(Int, [(String, String)], String)]) { scripted += answers.map { ($0.0, $0.1, $0.2) } }
        func setAlways(_ answer: (Int, String)?) { always = answer }
    }

    public let forge: Forge
    public let token: String
    public let repository: String
    private let served: ServedApplication
    private let book: Book

    public var port: Int { served.port }
    /// The base to configure as `forge_api.url`.
    public var url: String {
        switch forge {
        case .github: "http://127.0.0.1:\(port)"
        case .gitlab: "http://127.0.0.1:\(port)/api/v4"
        case .gitea, .forgejo: "http://127.0.0.1:\(port)/api/v1"
        case .bitbucketCloud: "http://127.0.0.1:\(port)/2.0"
        case .bitbucketServer: "http://127.0.0.1:\(port)"
        }
    }

    public static func start(_ forge: Forge, token: String = "forge-token", repository: String = "acme/shop") async throws -> FakeForgeAPI {
        let book = Book()
        let router = Router()
        let server = Validator(forge: forge, token: token, repository: repository)
        for method in [HTTPRequest.Method.get, .post, .patch, .put] {
            router.on("**", method: method) { request, _ in try await server.answer(request, book) }
        }
        var logger = Logger(label: "fake-forge")
        logger.logLevel = .error
        let served = try await ServedApplication.start(logger: logger) { listening in
            Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                        onServerRunning: { listening($0.localAddress?.port ?? 0) }, logger: logger)
        }
        return FakeForgeAPI(forge: forge, token: token, repository: repository, served: served, book: book)
    }

    private init(forge: Forge, token: String, repository: String, served: ServedApplication, book: Book) {
        self.forge = forge
        self.token = token
        self.repository = repository
        self.served = served
        self.book = book
    }

    /// Statuses taken, in order.
    public func taken() async -> [Status] { await book.taken }
    /// Pull-request comments, as they now read, in the order they were created.
    public func comments() async -> [Comment] { await book.comments }
    /// Someone deletes a comment on the forge.
    public func deleteComment(_ id: Int) async { await book.delete(id: id) }
    /// Someone edits a comment on the forge (Data Center moves its version on).
    public func editByHand(_ id: Int, body: String) async { _ = await book.edit(id: id, pullRequest: nil, body: body) }
    /// Every call, taken or not.
    public func calls() async -> Int { await book.calls }
    /// Calls the fake found wrong for this forge's API (a test expects none).
    public func refusals() async -> [String] { await book.refusals }
    /// The next calls get these answers (status, headers, body), then normal service.
    public func answerNext(_ answers: [(Int, [(String, String)], String)]) async { await book.script(answers) }
    /// Every call gets this answer until `nil`.
    public func answerAlways(_ answer: (Int, String)?) async { await book.setAlways(answer) }

    public func stop() async { await served.stop() }

    /// What each forge's API expects.
    private struct Validator: Sendable {
        let forge: Forge
        let token: String
        let repository: String

        func answer(_ request: Request, _ book: Book) async throws -> Response {
            let data = Data(buffer: try await request.body.collect(upTo: 1 << 20))
            let fields = (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
            if let scripted = await book.next() {
                var headers = HTTPFields()
                for (name, value) in scripted.1 { headers[HTTPField.Name(name)!] = value }
                return Response(status: .init(code: scripted.0), headers: headers, body: .init(byteBuffer: ByteBuffer(string: scripted.2)))
            }
            let path = request.uri.path
            let header = { (name: String) in request.headers[HTTPField.Name(name)!] }
            if request.method == .get {
                // Reading one comment: Data Center, for its version.
                guard forge == .bitbucketServer, let route = commentRoute(.put, path), let id = route.comment else {
                    return Self.json(404, #"{"message":"Not Found"}"#)
                }
                guard authenticated(header) else { return Self.json(401, #"{"message":"Bad credentials"}"#) }
                guard let comment = await book.comment(id: id) else { return Self.json(404, #"{"errors":[{"message":"No such comment"}]}"#) }
                let text = String(data: try JSONSerialization.data(withJSONObject: ["id": comment.id, "version": comment.version, "text": comment.body]),
                                  encoding: .utf8) ?? "{}"
                return Self.json(200, text)
            }
            if let route = commentRoute(request.method, path) {
                return await answerComment(route, authenticated: authenticated(header), fields: fields, data: data, path: path, book)
            }
            let (pattern, auth, states, contextKey, linkKey): (String, Bool, [String], String, String) = switch forge {
            case .github:
                ("^/repos/\(repository)/statuses/([0-9a-f]{40})$", header("Authorization") == "Bearer \(token)" && header("Accept") == "application/vnd.github+json",
                 ["error", "failure", "pending", "success"], "context", "target_url")
            case .gitlab:
                ("^/api/v4/projects/\(repository.replacingOccurrences(of: "/", with: "%2F"))/statuses/([0-9a-f]{40})$", header("PRIVATE-TOKEN") == token,
                 ["pending", "running", "success", "failed", "canceled"], "name", "target_url")
            case .gitea, .forgejo:
                ("^/api/v1/repos/\(repository)/statuses/([0-9a-f]{40})$", header("Authorization") == "token \(token)",
                 ["pending", "success", "error", "failure", "warning"], "context", "target_url")
            case .bitbucketCloud:
                // Bitbucket Cloud also takes the short hashes its own pull-request payloads carry.
                ("^/2.0/repositories/\(repository)/commit/([0-9a-f]{12,40})/statuses/build$", header("Authorization") == "Bearer \(token)",
                 ["INPROGRESS", "SUCCESSFUL", "FAILED", "STOPPED"], "name", "url")
            case .bitbucketServer:
                ("^/rest/build-status/1.0/commits/([0-9a-f]{40})$", header("Authorization") == "Bearer \(token)",
                 ["INPROGRESS", "SUCCESSFUL", "FAILED"], "name", "url")
            }
            guard auth else {
                await book.refuse("\(path): wrong authentication headers")
                return Self.json(401, #"{"message":"Bad credentials"}"#)
            }
            let expression = try NSRegularExpression(pattern: pattern)
            guard let found = expression.firstMatch(in: path, range: NSRange(path.startIndex..., in: path)),
                  let range = Range(found.range(at: 1), in: path) else {
                await book.refuse("\(path): not this forge's status path for \(repository)")
                return Self.json(404, #"{"message":"Not Found"}"#)
            }
            guard request.headers[.contentType]?.hasPrefix("application/json") == true,
                  let state = fields["state"] as? String, states.contains(state),
                  let context = fields[contextKey] as? String, let link = fields[linkKey] as? String,
                  (forge != .bitbucketCloud && forge != .bitbucketServer) || fields["key"] is String else {
                await book.refuse("\(path): body \(String(decoding: data, as: UTF8.self)) is not a valid status for \(forge.rawValue)")
                return Self.json(422, #"{"message":"Validation Failed"}"#)
            }
            let description = fields["description"] as? String ?? ""
            if forge == .github, description.count > 140 {
                await book.refuse("description longer than 140 characters")
                return Self.json(422, #"{"message":"Validation Failed"}"#)
            }
            await book.take(Status(commit: String(path[range]), state: state, context: context, targetURL: link, description: description))
            return Self.json(201, #"{"id":1}"#)
        }

        /// Each forge's token header.
        func authenticated(_ header: (String) -> String?) -> Bool {
            switch forge {
            case .github: header("Authorization") == "Bearer \(token)" && header("Accept") == "application/vnd.github+json"
            case .gitlab: header("PRIVATE-TOKEN") == token
            case .gitea, .forgejo: header("Authorization") == "token \(token)"
            case .bitbucketCloud, .bitbucketServer: header("Authorization") == "Bearer \(token)"
            }
        }

        /// A comment call: create on the request (`POST`), or edit one (`PATCH` on GitHub and
        /// Gitea, `PUT` elsewhere); `pullRequest` and `comment` from the path.
        struct CommentRoute {
            var pullRequest: Int?
            var comment: Int?
        }

        func commentRoute(_ method: HTTPRequest.Method, _ path: String) -> CommentRoute? {
            let parts = path.split(separator: "/").map(String.init)
            func match(_ pattern: [String]) -> [Int]? {
                guard parts.count == pattern.count else { return nil }
                var numbers: [Int] = []
                for (part, expected) in zip(parts, pattern) {
                    if expected == "#" {
                        guard let number = Int(part) else { return nil }
                        numbers.append(number)
                    } else if part != expected {
                        return nil
                    }
                }
                return numbers
            }
            let repo = repository.split(separator: "/").map(String.init)
            let (create, edit, editMethod): ([String], [String], HTTPRequest.Method) = switch forge {
            case .github:
                (["repos"] + repo + ["issues", "#", "comments"], ["repos"] + repo + ["issues", "comments", "#"], .patch)
            case .gitea, .forgejo:
                (["api", "v1", "repos"] + repo + ["issues", "#", "comments"], ["api", "v1", "repos"] + repo + ["issues", "comments", "#"], .patch)
            case .gitlab:
                (["api", "v4", "projects", repository.replacingOccurrences(of: "/", with: "%2F"), "merge_requests", "#", "notes"],
                 ["api", "v4", "projects", repository.replacingOccurrences(of: "/", with: "%2F"), "merge_requests", "#", "notes", "#"], .put)
            case .bitbucketCloud:
                (["2.0", "repositories"] + repo + ["pullrequests", "#", "comments"], ["2.0", "repositories"] + repo + ["pullrequests", "#", "comments", "#"], .put)
            case .bitbucketServer:
                (["rest", "api", "1.0", "projects", repo[0].uppercased(), "repos", repo[1], "pull-requests", "#", "comments"],
                 ["rest", "api", "1.0", "projects", repo[0].uppercased(), "repos", repo[1], "pull-requests", "#", "comments", "#"], .put)
            }
            if method == .post, let numbers = match(create) { return CommentRoute(pullRequest: numbers[0], comment: nil) }
            if method == editMethod, let numbers = match(edit) {
                return numbers.count == 2 ? CommentRoute(pullRequest: numbers[0], comment: numbers[1]) : CommentRoute(pullRequest: nil, comment: numbers[0])
            }
            return nil
        }

        func answerComment(_ route: CommentRoute, authenticated: Bool, fields: [String: Any], data: Data, path: String, _ book: Book) async -> Response {
            guard authenticated else {
                await book.refuse("\(path): wrong authentication headers")
                return Self.json(401, #"{"message":"Bad credentials"}"#)
            }
            let text: String? = switch forge {
            case .github, .gitea, .forgejo, .gitlab: fields["body"] as? String
            case .bitbucketCloud: (fields["content"] as? [String: Any])?["raw"] as? String
            case .bitbucketServer: fields["text"] as? String
            }
            guard let text, !text.isEmpty, forge != .github || text.count <= 65_536 else {
                await book.refuse("\(path): body \(String(decoding: data.prefix(300), as: UTF8.self)) is not a valid comment for \(forge.rawValue)")
                return Self.json(422, #"{"message":"Validation Failed"}"#)
            }
            guard let id = route.comment else {
                let comment = await book.create(pullRequest: route.pullRequest ?? 0, body: text)
                return Self.json(201, #"{"id":\#(comment.id),"version":\#(comment.version)}"#)
            }
            if forge == .bitbucketServer {
                // Data Center edits name the version they change; a stale one is a conflict.
                guard let version = fields["version"] as? Int else {
                    await book.refuse("\(path): a Bitbucket Data Center edit names the comment's version")
                    return Self.json(400, #"{"errors":[{"message":"version is required"}]}"#)
                }
                if let current = await book.comment(id: id), current.version != version {
                    return Self.json(409, #"{"errors":[{"message":"You are attempting to modify a comment based on out-of-date information."}]}"#)
                }
            }
            guard let comment = await book.edit(id: id, pullRequest: route.pullRequest, body: text) else {
                return Self.json(404, #"{"message":"Not Found"}"#)
            }
            return Self.json(200, #"{"id":\#(comment.id),"version":\#(comment.version)}"#)
        }

        static func json(_ code: Int, _ body: String) -> Response {
            Response(status: .init(code: code), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
        }
    }
}
