import DrayAPI
import DrayEngine
import Foundation
import Hummingbird
import NIOCore

/// The handlers of `/tokens`, `/projects`, `/audit` and `/me`.
extension JobRoutes {
    /// What `POST /tokens` takes.
    struct TokenRequest: Decodable, Sendable {
        var project: String?
        var scope: Scope
        var name: String
        /// `90d`, `12h`, `1h30m`, or seconds; nil, no end.
        var expiresIn: String?

        enum CodingKeys: String, CodingKey, CaseIterable { case project, scope, name, expiresIn }

        init(from decoder: any Decoder) throws {
            try UnknownFields.check(decoder, known: CodingKeys.allCases.map(\.rawValue), object: "a token request")
            let container = try decoder.container(keyedBy: CodingKeys.self)
            project = try container.decodeIfPresent(String.self, forKey: .project)
            scope = try container.decode(Scope.self, forKey: .scope)
            name = try container.decode(String.self, forKey: .name)
            if let seconds = try? container.decodeIfPresent(Int.self, forKey: .expiresIn) {
                expiresIn = "\(seconds)s"
            } else {
                expiresIn = try container.decodeIfPresent(String.self, forKey: .expiresIn)
            }
        }
    }

    /// `POST /tokens`: 201 with `{"id", "token", …}`, the only answer that shows the token.
    func createToken(_ request: Request) async throws -> Response {
        let body = try await self.body(of: request)
        let reading = try JobDocument.readJSON(TokenRequest.self, from: Data(body.readableBytesView))
        var expiresIn: Duration?
        if let text = reading.value.expiresIn {
            guard let seconds = CronSpec.seconds(text.lowercased()) else {
                throw APIError(
                    .badRequest,
                    "expiresIn must be a duration from 1s to 366d, such as 90d or 12h, not \"\(text.prefix(50))\"")
            }
            expiresIn = .seconds(seconds)
        }
        let made = try await service.createToken(
            project: reading.value.project, scope: reading.value.scope, name: reading.value.name, expiresIn: expiresIn)
        AuditNote.current?.set(target: made.record.id, project: made.record.project)
        return JSONResponse.make(TokenView(made.record, token: made.token), status: .created)
    }

    /// `GET /tokens`: `{"tokens": […]}`, the caller's project's (any one's, or `?project=`'s, for
    /// the server's token), oldest first.
    func tokens(_ request: Request) async throws -> Response {
        let project = try Self.project(request.uri.queryParameters)
        return JSONResponse.make(["tokens": try await service.tokens(project: project).map { TokenView($0) }])
    }

    /// `PUT /projects/{name}`: the project's quotas; 201 when it is new, else 200.
    func putProject(_ name: String, _ request: Request) async throws -> Response {
        let body = try await self.body(of: request)
        var project = Project(name: name)
        if body.readableBytes > 0 {
            project = try JobDocument.readJSON(ProjectQuotas.self, from: Data(body.readableBytesView)).value.project(
                named: name)
        }
        let created = try await service.putProject(project)
        return JSONResponse.make(project, status: created ? .created : .ok)
    }

    /// `GET /audit`: `{"entries": […], "next"}`, newest first, `limit` (100 by default) at a
    /// time; `next` is the cursor of the next page (also in a `Link`), absent on the last.
    func audit(_ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        let limit = try Self.number(query["limit"].map(String.init), name: "limit", minimum: 1) ?? 100
        guard limit <= Self.maxPageSize else {
            throw APIError(
                .badRequest, "limit must be at most \(Self.maxPageSize), not \(limit): follow the Link for more")
        }
        let project = try Self.project(query)
        let page = try await service.audit(project: project, limit: limit, cursor: query["cursor"].map(String.init))
        struct Page: Encodable {
            var entries: [AuditEntry]
            var next: String?
        }
        var response = JSONResponse.make(Page(entries: page.entries, next: page.next))
        if let next = page.next {
            var link = "/audit?limit=\(limit)&cursor=\(next)"
            if let project { link += "&project=\(project)" }
            response.headers[.init("Link")!] = "<\(link)>; rel=\"next\""
        }
        return response
    }

    /// `GET /me`: who the caller is, for a client (the dashboard) to offer only what it may do.
    func me() -> Response {
        let caller = Caller.current
        struct Me: Encodable {
            var project: String?
            var scope: Scope
            var token: AuditEntry.TokenName
        }
        return JSONResponse.make(
            Me(
                project: caller.project, scope: caller.scope,
                token: caller.token.map { .init(id: $0.id, name: $0.name) } ?? .server))
    }
}

/// What `PUT /projects/{name}` takes: the quotas, each optional.
struct ProjectQuotas: Decodable, Sendable {
    var maxRunningJobs: Int?
    var maxQueuedJobs: Int?
    var maxStepMemory: MemorySize?
    var maxStepCPUs: Double?

    enum CodingKeys: String, CodingKey, CaseIterable { case maxRunningJobs, maxQueuedJobs, maxStepMemory, maxStepCPUs }

    init(from decoder: any Decoder) throws {
        try UnknownFields.check(decoder, known: CodingKeys.allCases.map(\.rawValue), object: "a project")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        maxRunningJobs = try container.decodeWholeIfPresent(forKey: .maxRunningJobs, as: "a whole number from 0")
        maxQueuedJobs = try container.decodeWholeIfPresent(forKey: .maxQueuedJobs, as: "a whole number from 0")
        maxStepMemory = try container.decodeIfPresent(MemorySize.self, forKey: .maxStepMemory)
        maxStepCPUs = try container.decodeIfPresent(Double.self, forKey: .maxStepCPUs)
    }

    func project(named name: String) -> Project {
        Project(
            name: name, maxRunningJobs: maxRunningJobs, maxQueuedJobs: maxQueuedJobs, maxStepMemory: maxStepMemory,
            maxStepCPUs: maxStepCPUs)
    }
}
