import DrayAPI
import DrayEngine
import Hummingbird
import Logging

/// Every route, once: what registers it (``JobRoutes/add(to:)``), what answers 405 with
/// `Allow`, and what labels a request's metrics, all read this table.
enum Routes {
    struct Route: Sendable {
        var method: HTTPRequest.Method
        /// The path, with `{id}` for a job's id and `{step}` for a step's name or number.
        var pattern: String
        /// The least scope a caller's token needs.
        var scope: Scope = .read
        var handle: @Sendable (JobRoutes, Request, Path) async throws -> Response

        /// The audit log's name of what the route does: `job.submit`, `schedule.delete`…
        var action: String {
            let parts = pattern.split(separator: "/").filter { !$0.hasPrefix("{") }
            let noun = parts.first.map { $0.hasSuffix("s") ? String($0.dropLast()) : String($0) } ?? "route"
            if parts.count > 1, let verb = parts.last { return "\(noun).\(verb == "runs" ? "run" : verb)" }
            switch method {
            case .post: return "\(noun).\(noun == "job" ? "submit" : "create")"
            case .put: return "\(noun).put"
            case .delete: return "\(noun).\(noun == "token" ? "revoke" : "delete")"
            default: return "\(noun).read"
            }
        }
    }

    /// The values of a route's `{id}` and `{step}`; empty where the route has none.
    struct Path: Sendable {
        var id = ""
        var step = ""
        var name = ""
    }

    static let table: [Route] =
        [
            Route(method: .get, pattern: "/jobs") { routes, request, _ in try await routes.list(request) },
            Route(method: .post, pattern: "/jobs", scope: .submit) { routes, request, _ in
                try await routes.submit(request)
            },
            Route(method: .get, pattern: "/jobs/{id}") { routes, _, path in try await routes.get(path.id) },
            Route(method: .delete, pattern: "/jobs/{id}", scope: .submit) { routes, _, path in
                try await routes.delete(path.id)
            },
            Route(method: .get, pattern: "/jobs/{id}/log") { routes, request, path in
                try await routes.log(path.id, request)
            },
            Route(method: .get, pattern: "/jobs/{id}/output") { routes, request, path in
                try await routes.output(path.id, request)
            },
            Route(method: .get, pattern: "/jobs/{id}/steps/{step}/output") { routes, request, path in
                try await routes.stepOutput(path.id, step: path.step, request)
            },
            Route(method: .get, pattern: "/jobs/{id}/steps/{step}/tap") { routes, request, path in
                try await TapResponse.make(request, id: path.id, step: path.step, service: routes.service)
            },
            Route(method: .post, pattern: "/schedules", scope: .submit) { routes, request, _ in
                try await routes.createSchedule(request)
            },
            Route(method: .get, pattern: "/schedules") { routes, _, _ in
                JSONResponse.make(["schedules": try await routes.service.schedules().map { ScheduleView($0) }])
            },
            Route(method: .get, pattern: "/schedules/{id}") { routes, _, path in
                JSONResponse.make(ScheduleView(try await routes.service.schedule(id: path.id)))
            },
            Route(method: .delete, pattern: "/schedules/{id}", scope: .submit) { routes, _, path in
                try await routes.service.deleteSchedule(id: path.id)
                return Response(status: .noContent)
            },
            Route(method: .post, pattern: "/schedules/{id}/pause", scope: .submit) { routes, _, path in
                JSONResponse.make(ScheduleView(try await routes.service.pauseSchedule(id: path.id, true)))
            },
            Route(method: .post, pattern: "/schedules/{id}/resume", scope: .submit) { routes, _, path in
                JSONResponse.make(ScheduleView(try await routes.service.pauseSchedule(id: path.id, false)))
            },
            Route(method: .get, pattern: "/templates") { routes, _, _ in
                JSONResponse.make(["templates": try await routes.service.templates()])
            },
            Route(method: .put, pattern: "/templates/{name}", scope: .submit) { routes, request, path in
                try await routes.putTemplate(path.name, request)
            },
            Route(method: .get, pattern: "/templates/{name}") { routes, request, path in
                try await routes.template(path.name, request)
            },
            Route(method: .delete, pattern: "/templates/{name}", scope: .submit) { routes, _, path in
                try await routes.service.deleteTemplate(name: path.name)
                return Response(status: .noContent)
            },
            Route(method: .post, pattern: "/templates/{name}/runs", scope: .submit) { routes, request, path in
                try await routes.runTemplate(path.name, request)
            },
            Route(method: .get, pattern: "/jobs/{id}/deliveries") { routes, _, path in
                JSONResponse.make(DeliveriesView(try await routes.service.deliveries(id: path.id)))
            },
            Route(method: .post, pattern: "/jobs/{id}/cancel", scope: .submit) { routes, _, path in
                JSONResponse.make(JobView(try await routes.service.cancel(id: path.id)))
            },
            Route(method: .post, pattern: "/jobs/{id}/resume", scope: .submit) { routes, _, path in
                JSONResponse.make(JobView(try await routes.service.resume(id: path.id)), status: .accepted)
            },
            Route(method: .get, pattern: "/cache") { routes, _, _ in try await routes.cacheStats() },
            Route(method: .delete, pattern: "/cache", scope: .admin) { routes, _, _ in try await routes.clearCache() },
            Route(method: .post, pattern: "/tokens", scope: .admin) { routes, request, _ in
                try await routes.createToken(request)
            },
            Route(method: .get, pattern: "/tokens", scope: .admin) { routes, request, _ in
                try await routes.tokens(request)
            },
            Route(method: .delete, pattern: "/tokens/{id}", scope: .admin) { routes, _, path in
                JSONResponse.make(TokenView(try await routes.service.revokeToken(id: path.id)))
            },
            Route(method: .get, pattern: "/projects") { routes, _, _ in
                JSONResponse.make(["projects": try await routes.service.projects()])
            },
            Route(method: .put, pattern: "/projects/{name}", scope: .admin) { routes, request, path in
                try await routes.putProject(path.name, request)
            },
            Route(method: .get, pattern: "/audit", scope: .admin) { routes, request, _ in
                try await routes.audit(request)
            },
            Route(method: .get, pattern: "/me") { routes, _, _ in routes.me() },
            Route(method: .get, pattern: "/healthz") { _, _, _ in JSONResponse.make(["status": "ok"]) },
            Route(method: .get, pattern: "/readyz") { routes, _, _ in await routes.ready() },
            Route(method: .get, pattern: "/metrics") { routes, _, _ in try routes.metricsText() },
            Route(method: .get, pattern: "/openapi.yaml") { routes, _, _ in
                Response(
                    status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: routes.openAPI))
            },
            Route(method: .get, pattern: "/schema/job.json") { _, _, _ in
                Response(
                    status: .ok, headers: [.contentType: "application/schema+json"],
                    body: .init(byteBuffer: DrayServer.jobSchema))
            },
        ]
        + DashboardRoutes.files.keys.sorted().map { path in
            Route(method: .get, pattern: path) { _, request, _ in
                DashboardRoutes.response(DashboardRoutes.files[path]!, ifNoneMatch: request.headers[.ifNoneMatch])
            }
        }

    static func methods(forPath path: String) -> [String]? {
        let methods = table.filter { matches($0.pattern, path) }.map(\.method.rawValue)
        guard !methods.isEmpty else { return nil }
        // HEAD is served wherever GET is.
        return methods.flatMap { $0 == "GET" ? ["GET", "HEAD"] : [$0] }
    }

    /// The route's pattern (`/jobs/{id}/log`), or nil for a path that is none of the API's.
    static func pattern(forPath path: String) -> String? {
        table.first { matches($0.pattern, path) }?.pattern
    }

    /// True when `path` is `pattern` with any one segment in place of each `{id}` and `{step}`.
    static func matches(_ pattern: String, _ path: String) -> Bool {
        let want = pattern.split(separator: "/", omittingEmptySubsequences: true)
        let have = path.split(separator: "/", omittingEmptySubsequences: true)
        return want.count == have.count && zip(want, have).allSatisfy { $0.hasPrefix("{") || $0 == $1 }
    }
}
