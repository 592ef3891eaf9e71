import Foundation
import Hummingbird
import Logging
import SlipwayConfig
import SlipwayCore
import SlipwayRunner

/// `/api/v1/apps/{name}/…`: what a deploy would change.
struct AppRoutes: Sendable {
    let config: ServerConfig
    let preview: DeployPreview?

    func register(on api: RouterGroup<SlipwayRequestContext>) {
        api.get("apps/:name/diff") { request, context in try await diff(request, context: context) }
    }

    /// The server dry-run of a commit (default: the branch head) against the live objects.
    /// JSON, or text with `?format=text`.
    func diff(_ request: Request, context: SlipwayRequestContext) async throws -> Response {
        try context.require(.read)
        let name = context.parameters.get("name") ?? ""
        guard let app = config.app(named: name) else { throw APIError(.notFound, "no app named '\(name)' is configured") }
        guard let preview, app.target != nil else { throw APIError(.conflict, "app '\(name)' has no cluster configured") }
        let commit = request.uri.queryParameters.get("commit")
        if let commit, commit.count != 40 || !commit.allSatisfy(\.isHexDigit) {
            throw APIError(.badRequest, "commit must be a full 40-character commit id")
        }
        let result: DeployPreview.Result
        do {
            result = try await preview.preview(app: app, commit: commit)
        } catch {
            throw APIError(.unprocessableContent, "\(error)")
        }
        if request.uri.queryParameters.get("format") == "text" {
            return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: result.text)))
        }
        return JSONBody.response(.ok, result)
    }
}
