import Foundation
import Hummingbird
import Logging
import SlipwayConfig
import SlipwayCore
import SlipwayRunner
import SlipwayStore

/// `GET /api/v1/jobs/{id}/workspace`: the job's commit as a tar archive, for the first
/// container of its pod. Only with the job's own token, only while the job runs; the API's
/// tokens are not accepted here (and this token is accepted nowhere else).
struct WorkspaceRoutes: Sendable {
    let config: ServerConfig
    let store: any JobStore
    let archives: WorkspaceArchive?
    let logger: Logger
    let now: @Sendable () -> Date

    func register(on router: Router<SlipwayRequestContext>) {
        router.get("/api/v1/jobs/:id/workspace") { request, context in try await workspace(request, context: context) }
    }

    private func workspace(_ request: Request, context: SlipwayRequestContext) async throws -> Response {
        guard let id = context.parameters.get("id").flatMap(JobID.init) else { throw APIError(.badRequest, "the job id must be a number") }
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer ") else {
            throw APIError(.unauthorized, "the job's workspace token is required (Authorization: Bearer)", headers: [.wwwAuthenticate: "Bearer"])
        }
        let token = header.dropFirst(7).trimmingCharacters(in: .whitespaces)
        let session = try await storeCall { try await store.session(digest: JobToken.digest(token), now: now()) }
        guard session?.tokenName == JobToken.sessionName(job: id) else {
            throw APIError(.unauthorized, "this token is not the workspace token of job \(id) (or the job's pod run has ended)", headers: [.wwwAuthenticate: "Bearer"])
        }
        guard let job = try await storeCall({ try await store.job(id: id) }), job.status == .running else {
            throw APIError(.forbidden, "job \(id) is not running: its workspace is no longer served")
        }
        guard let app = config.app(named: job.app), let archives else {
            throw APIError(.conflict, "job \(id)'s app '\(job.app)' is not served by this replica")
        }
        do {
            let file = try await archives.archive(of: job, app: app)
            let body = try await FileIO().loadFile(path: file, context: context)
            return Response(status: .ok, headers: [.contentType: "application/x-tar"], body: body)
        } catch let failure as WorkspaceArchive.Failure {
            logger.error("cannot serve a job's workspace", metadata: ["job-id": "\(id)", "error": "\(failure)"])
            throw APIError(.internalServerError, "job \(id)'s workspace could not be made: \(failure)")
        }
    }
}
