import DrayAPI
import DrayEngine
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOFileSystem

/// The seed's REST API, and `/healthz`, `/readyz`, `/metrics`, `/openapi.yaml` and the
/// dashboard around it: the handlers of ``Routes/table``.
struct JobRoutes: Sendable {
    let service: JobService
    let maxBodyBytes: Int
    let openAPI: ByteBuffer
    /// False when the server was started with `--no-metrics`.
    let metrics: Bool

    /// Registers every route of ``Routes/table`` with its handler, behind its ``Scope`` and
    /// the caller's project, and records in the audit log each request that changes something
    /// and each one refused.
    func add(to router: Router<DrayRequestContext>) {
        for route in Routes.table {
            let path = RouterPath(
                route.pattern.replacingOccurrences(of: "{id}", with: ":id").replacingOccurrences(
                    of: "{step}", with: ":step"
                ).replacingOccurrences(of: "{name}", with: ":name"))
            router.on(path, method: route.method) { request, context in
                let values = Routes.Path(
                    id: context.parameters.get("id") ?? "", step: context.parameters.get("step") ?? "",
                    name: context.parameters.get("name") ?? "")
                return try await authorized(route, request, values, address: context.clientAddress)
            }
        }
    }

    /// Runs `route` when the caller's scope allows it and what its path names is the caller's
    /// project's (else 403, or 404 as if it did not exist), then records it when it changes
    /// something (every method but GET and HEAD) or was refused.
    func authorized(_ route: Routes.Route, _ request: Request, _ path: Routes.Path, address: String?) async throws
        -> Response
    {
        let caller = Caller.current
        let changes = route.method != .get && route.method != .head
        guard changes || caller.token != nil else { return try await route.handle(self, request, path) }
        let note = AuditNote()
        note.set(target: path.id.isEmpty ? (path.name.isEmpty ? nil : path.name) : path.id, project: caller.project)
        let entry = { (outcome: String, detail: String?) in
            AuditEntry(
                action: route.action, outcome: outcome, project: note.project, target: note.target,
                token: caller.token.map { .init(id: $0.id, name: $0.name) } ?? .server, address: address,
                detail: detail)
        }
        do {
            guard caller.scope >= route.scope else {
                throw DrayError(
                    .forbidden,
                    "this token's scope is \(caller.scope.rawValue); \(route.method) \(route.pattern) needs \(route.scope.rawValue)"
                )
            }
            let response = try await AuditNote.$current.withValue(note) {
                if let project = try await service.targetProject(of: route.pattern, path) {
                    note.set(project: project)
                }
                return try await route.handle(self, request, path)
            }
            if changes { await service.record(entry(response.status.code < 400 ? "ok" : "failed", nil)) }
            return response
        } catch let error as DrayError where [.forbidden, .notFound].contains(error.code) {
            // A project's token that reaches for another's is refused; a 404 is only that.
            let refused = error.code == .forbidden || error.cause is JobService.HiddenTarget
            if changes || refused { await service.record(entry(refused ? "refused" : "failed", error.message)) }
            throw error
        } catch {
            let detail = (error as? APIError)?.message ?? "\(error)"
            if changes { await service.record(entry("failed", String(detail.prefix(500)))) }
            throw error
        }
    }

    /// `GET /metrics`: Prometheus' text, or a 404 with `--no-metrics`.
    func metricsText() throws -> Response {
        guard metrics else {
            throw APIError(.notFound, "metrics are off: this server was started with --no-metrics")
        }
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: service.metrics.registry.emitToBuffer())))
    }

    /// `POST /jobs`: 201 with the job echoed and its new id; the job runs in the background.
    func submit(_ request: Request) async throws -> Response {
        let body = try await self.body(of: request)
        guard body.readableBytes > 0 else {
            throw APIError(.badRequest, "the request body is empty: send a job as JSON")
        }
        let strict = try Self.flag(request.uri.queryParameters["strict"].map(String.init), name: "strict")
        let reading = try JobDocument.read(Data(body.readableBytesView), strict: strict, maxBytes: maxBodyBytes)
        return try await submitted(reading.job, warnings: reading.warnings, request: request, body: body)
    }

    /// Submits `job`, made from `request` (its `Idempotency-Key`, over `body`, and its
    /// `traceparent`): 201 with the job echoed.
    func submitted(
        _ job: Job, warnings: [String], request: Request, body: ByteBuffer, template: TemplateReference? = nil
    ) async throws -> Response {
        let traceParent = try Self.traceParent(of: request)
        var record: JobRecord
        var replayed = false
        if let key = try Self.idempotencyKey(of: request) {
            // A template's run is another request than a job's with the same body.
            let digest = IdempotencyKey.digest(
                Data((template.map { "\($0.name)\n" } ?? "").utf8) + Data(body.readableBytesView))
            (record, replayed) = try await service.submit(
                job, idempotency: IdempotencyKey(key: key, digest: digest), traceParent: traceParent, template: template
            )
        } else {
            record = try await service.submit(job, traceParent: traceParent, template: template)
        }
        var response = JSONResponse.make(
            SubmittedJob(job: record.job, warnings: warnings.isEmpty ? nil : warnings), status: .created)
        response.headers.append(contentsOf: WarningHeader.fields(for: warnings))
        if replayed { response.headers[Self.replayedHeader] = "true" }
        return response
    }

    static let idempotencyHeader = HTTPField.Name("Idempotency-Key")!
    static let replayedHeader = HTTPField.Name("Idempotent-Replayed")!

    /// A submit's `Idempotency-Key`, checked: 1 to 255 visible ASCII characters.
    static func idempotencyKey(of request: Request) throws -> String? {
        let values = request.headers[values: idempotencyHeader]
        guard let key = values.first else { return nil }
        guard values.count == 1, (1...255).contains(key.utf8.count), key.utf8.allSatisfy({ (0x21...0x7E).contains($0) })
        else {
            throw APIError(
                .badRequest,
                "the Idempotency-Key header must be one key of 1 to 255 visible ASCII characters (such as a UUID), not \"\(values.joined(separator: ", ").prefix(300))\""
            )
        }
        return key
    }

    /// The W3C `traceparent` a submit was sent with, checked: the job's span is its child.
    static func traceParent(of request: Request) throws -> String? {
        let values = request.headers[values: HTTPField.Name(TraceContext.header)!]
        guard let value = values.first else { return nil }
        guard values.count == 1, TraceContext.isValid(value) else {
            throw APIError(
                .badRequest,
                "the traceparent header must be one W3C trace context, such as 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01, not \"\(values.joined(separator: ", ").prefix(200))\""
            )
        }
        return value
    }

    /// A request's whole body, at most `--max-body-bytes` (413 beyond).
    func body(of request: Request) async throws -> ByteBuffer {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maxBodyBytes {
            throw tooLarge()
        }
        do {
            return try await request.body.collect(upTo: maxBodyBytes)
        } catch is NIOTooManyBytesError {
            throw tooLarge()
        } catch {
            throw APIError(.badRequest, "the request body ended before its length: send all of it")
        }
    }

    private func tooLarge() -> APIError {
        APIError(.contentTooLarge, "the job description is larger than \(maxBodyBytes) bytes")
    }

    /// The most `GET /jobs` gives in one page.
    static let maxPageSize = 1000

    /// `GET /jobs`: job summaries, oldest first (`order=desc`: newest first), filtered by
    /// `status` and `phase` (each repeated or comma-separated). With `limit`, a page, and a
    /// `Link` to the next one (its `cursor`). Without, every job, streamed a page at a time.
    func list(_ request: Request) async throws -> Response {
        var listing = try service.visible(Self.listing(request.uri.queryParameters))
        guard listing.limit == nil else {
            let page = try await service.list(listing)
            var response = JSONResponse.make(json: SummaryJSON.array(page.jobs))
            if let next = page.next {
                listing.cursor = next
                response.headers[.init("Link")!] = "<\(Self.link(request.uri.path, listing))>; rel=\"next\""
            }
            return response
        }
        // The first page is read before answering, so a store that does not answer is a 503;
        // when it is the only one, the answer has a length.
        listing.limit = Self.maxPageSize
        let first = try await service.list(listing)
        if first.next == nil { return JSONResponse.make(json: SummaryJSON.array(first.jobs)) }
        let service = service
        let body = ResponseBody { [listing] writer in
            var listing = listing
            var page = first
            var opened = false
            while true {
                if !page.jobs.isEmpty {
                    var buffer = ByteBuffer()
                    buffer.writeString(opened ? "," : "[")
                    SummaryJSON.write(page.jobs, to: &buffer)
                    opened = true
                    try await writer.write(buffer)
                }
                guard let next = page.next else { break }
                listing.cursor = next
                page = try await service.list(listing)
            }
            try await writer.write(ByteBuffer(string: opened ? "]" : "[]"))
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: body)
    }

    /// The listing that `GET /jobs`'s query asks for; a 400 naming the parameter that is wrong.
    static func listing(_ query: Parameters) throws -> JobListing {
        var listing = JobListing()
        listing.limit = try number(query["limit"].map(String.init), name: "limit", minimum: 1)
        if let limit = listing.limit, limit > maxPageSize {
            throw APIError(.badRequest, "limit must be at most \(maxPageSize), not \(limit): follow the Link for more")
        }
        listing.cursor = query["cursor"].map(String.init)
        switch query["order"].map(String.init) {
        case nil, "asc": listing.newestFirst = false
        case "desc": listing.newestFirst = true
        case let other?: throw APIError(.badRequest, "order must be asc or desc, not \"\(other)\"")
        }
        listing.statuses = try values(query, "status", JobStatus.self)
        listing.phases = try values(query, "phase", JobPhase.self)
        listing.project = try project(query)
        return listing
    }

    /// A list's `?project=`, checked; nil when not given.
    static func project(_ query: Parameters) throws -> String? {
        guard let project = query["project"].map(String.init) else { return nil }
        if let problem = Project.nameProblem(project) { throw APIError(.badRequest, problem) }
        return project
    }

    /// The values of a parameter that may repeat or list several, comma-separated.
    static func values<Value: RawRepresentable & CaseIterable>(_ query: Parameters, _ name: String, _: Value.Type)
        throws -> Set<Value> where Value.RawValue == String
    {
        var values = Set<Value>()
        for text in query.getAll(name).flatMap({ $0.split(separator: ",", omittingEmptySubsequences: false) }) {
            guard let value = Value(rawValue: String(text)) else {
                let known = Value.allCases.map(\.rawValue).joined(separator: ", ")
                throw APIError(.badRequest, "\(name) must be one of \(known), not \"\(text)\"")
            }
            values.insert(value)
        }
        return values
    }

    /// The path and query of the page that `listing` asks for.
    static func link(_ path: String, _ listing: JobListing) -> String {
        var query: [(String, String)] = []
        if let limit = listing.limit { query.append(("limit", String(limit))) }
        if listing.newestFirst { query.append(("order", "desc")) }
        for status in listing.statuses.map(\.rawValue).sorted() { query.append(("status", status)) }
        for phase in listing.phases.map(\.rawValue).sorted() { query.append(("phase", phase)) }
        if let project = listing.project { query.append(("project", project)) }
        if let cursor = listing.cursor { query.append(("cursor", cursor)) }
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return path + "?"
            + query.map { "\($0)=\($1.addingPercentEncoding(withAllowedCharacters: allowed) ?? $1)" }
            .joined(separator: "&")
    }

    /// `GET /jobs/{id}`.
    func get(_ id: String) async throws -> Response {
        JSONResponse.make(JobView(try await service.job(id: id)))
    }

    /// `GET /jobs/{id}/log?index=N&limit=M`: lines from N (default 0), at most M. With
    /// `step=NAME` (or its number from 1), only that step's lines, N and M counting them alone.
    func log(_ id: String, _ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        let index = try Self.number(query["index"].map(String.init), name: "index", minimum: 0) ?? 0
        let limit = try Self.number(query["limit"].map(String.init), name: "limit", minimum: 1)
        let detail = try Self.flag(query["detail"].map(String.init), name: "detail")
        var step: Int?
        if let name = query["step"].map(String.init) {
            step = try service.step(named: name, in: try await service.job(id: id))
        }
        if try Self.flag(query["follow"].map(String.init), name: "follow") {
            return try await follow(id, from: index, step: step, detail: detail)
        }
        guard let limit else { return try await wholeLog(id, from: index, step: step, detail: detail) }
        guard let step else {
            return JSONResponse.make(LogPage(try await service.log(id: id, from: index, limit: limit), detail: detail))
        }
        var lines: [LogLine] = []
        try await service.forEachLogPage(id: id, from: index, to: index + limit, step: step) { lines += $0 }
        return JSONResponse.make(LogPage(lines, detail: detail))
    }

    /// `GET /jobs/{id}/log` without `limit`: the same JSON as a ``LogPage``, written as it is
    /// read from the store, a page at a time, so that the server's memory stays bounded however
    /// large the log (a whole log of 20 MB took a gigabyte as one page). With `detail=true`
    /// the steps and the streams are read in passes of their own, up to the line the first
    /// pass ended at, so that the three arrays have the same length while the job still logs.
    func wholeLog(_ id: String, from start: Int, step: Int?, detail: Bool) async throws -> Response {
        _ = try await service.job(id: id)
        let service = service
        let body = ResponseBody { writer in
            var buffer = ByteBuffer()
            func flushIfFull() async throws {
                guard buffer.readableBytes >= 64 << 10 else { return }
                try await writer.write(buffer)
                buffer.clear()
            }
            func array(_ name: StaticString, to end: Int?, _ item: (LogLine, inout ByteBuffer) -> Void)
                async throws -> Int
            {
                buffer.writeStaticString(name)
                var first = true
                let next = try await service.forEachLogPage(id: id, from: start, to: end, step: step) { page in
                    for line in page {
                        if !first { buffer.writeStaticString(",") }
                        first = false
                        item(line, &buffer)
                    }
                    try await flushIfFull()
                }
                buffer.writeStaticString("]")
                return next
            }
            let end = try await array(#"{"lines":["#, to: nil) { SummaryJSON.string($0.text, to: &$1) }
            if detail {
                _ = try await array(#","steps":["#, to: end) { $1.writeString(String($0.step + 1)) }
                _ = try await array(#","streams":["#, to: end) { SummaryJSON.string($0.stream.rawValue, to: &$1) }
            }
            buffer.writeStaticString("}")
            try await writer.write(buffer)
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: body)
    }

    /// `GET /jobs/{id}/log?follow=true`: the log as server-sent events, one `data:` event per
    /// line (its `id:` is the line's index) from `index`, then an `end` event with the job's
    /// status once the job has ended and every line was sent. With `detail=true`, each event's
    /// data is the JSON of a ``LogEntry``.
    func follow(_ id: String, from start: Int, step: Int?, detail: Bool) async throws -> Response {
        let events = try await service.follow(id: id, from: start, step: step, heartbeat: LiveLog.heartbeat)
        let body = ResponseBody { writer in
            for try await event in events {
                var buffer = ByteBuffer()
                switch event {
                case .lines(let first, let lines):
                    for (offset, line) in lines.enumerated() {
                        LiveLog.write(id: first + offset, data: detail ? LogEntry(line).json : line.text, to: &buffer)
                    }
                case .idle:
                    // Writing to a follower that went away fails, and ends this stream and its socket.
                    buffer.writeString(": keep-alive\n\n")
                case .ended(let record):
                    LiveLog.write(event: "end", data: LiveLog.end(record), to: &buffer)
                }
                try await writer.write(buffer)
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }

    /// `GET /jobs/{id}/output`: the final output of a complete job, byte for byte.
    func output(_ id: String, _ request: Request) async throws -> Response {
        let path = try await service.output(id: id)
        guard let digest = await SpoolDigest.of(path) else {
            throw DrayError(.storage, "cannot read the output of job \(id) in the spool")
        }
        return try OutputResponse.file(path, digest: digest, request: request)
    }

    /// `GET /jobs/{id}/steps/{step}/output`: what a step passed on, byte for byte, from this
    /// node's spool or, sent on with the caller's token, from the node that holds it.
    func stepOutput(_ id: String, step: String, _ request: Request) async throws -> Response {
        let forwarded = request.headers[OutputResponse.forwardedHeader] != nil
        switch try await service.stepOutput(id: id, step: step, forwarded: forwarded) {
        case .here(let path, let digest):
            return try OutputResponse.file(path, digest: digest, request: request)
        case .node(_, let url):
            let segment = step.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? step
            return try await OutputResponse.forward(
                request, to: url, path: "/jobs/\(id)/steps/\(segment)/output", from: service.configuration.node)
        }
    }

    /// `GET /cache`: the node's cache of step outputs: entries, bytes, its bound, hits and misses.
    func cacheStats() async throws -> Response {
        JSONResponse.make(try await cache().stats())
    }

    /// `DELETE /cache`: empties the node's cache; says what was dropped.
    func clearCache() async throws -> Response {
        // The cache serves every project: a project's admin does not empty it for the others.
        guard Caller.current.token == nil else {
            throw DrayError(.forbidden, "only the server's token empties the step cache, which every project shares")
        }
        let dropped = try await cache().clear()
        return JSONResponse.make(["entriesDropped": Int64(dropped.entries), "bytesDropped": dropped.bytes])
    }

    private func cache() throws -> StepCache {
        guard let cache = service.cache else {
            throw APIError(.notFound, "this server keeps no cache: it was started with --cache-dir off")
        }
        return cache
    }

    /// `DELETE /jobs/{id}`: stops the job if it runs, deletes its data and spools; 204.
    func delete(_ id: String) async throws -> Response {
        guard try await service.delete(id: id) else { throw DrayError.noJob(id) }
        return Response(status: .noContent)
    }

    /// `GET /readyz`: 200 when the store and the container engine answer, else 503 and why.
    func ready() async -> Response {
        let problems = await service.readiness()
        if problems.isEmpty { return JSONResponse.make(["status": "ready"]) }
        return JSONResponse.make(
            ["status": "unready", "error": problems.joined(separator: "; ")], status: .serviceUnavailable)
    }

    /// A true-or-false query parameter, false when absent; a 400 naming it when it is neither.
    static func flag(_ text: String?, name: String) throws -> Bool {
        switch text {
        case nil, "false", "0": return false
        case "true", "1", "": return true
        case let other?: throw APIError(.badRequest, "\(name) must be true or false, not \"\(other)\"")
        }
    }

    /// A whole-number query parameter, nil when absent; a 400 naming it when it is not one.
    static func number(_ text: String?, name: String, minimum: Int) throws -> Int? {
        guard let text else { return nil }
        guard let value = Int(text), value >= minimum else {
            throw APIError(.badRequest, "\(name) must be a whole number of at least \(minimum), not \"\(text)\"")
        }
        return value
    }
}
