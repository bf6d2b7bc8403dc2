import DrayAPI
import DrayEngine
import Foundation
import Hummingbird
import NIOCore

/// The handlers of `/templates` (jobs kept with parameters, and their runs) and `/schedules`.
extension JobRoutes {
    /// `PUT /templates/{name}`: stores `{"job", "parameters"}` as the name's next version; 201
    /// for the first, 200 for a later one, with the template.
    func putTemplate(_ name: String, _ request: Request) async throws -> Response {
        let body = try await self.body(of: request)
        guard body.readableBytes > 0 else {
            throw APIError(.badRequest, "the request body is empty: send {\"job\": {…}, \"parameters\": {…}} as JSON")
        }
        let reading = try JobDocument.readJSON(JobTemplate.Definition.self, from: Data(body.readableBytesView))
        let template = try await service.putTemplate(name: name, reading.value)
        var response = JSONResponse.make(template, status: template.version == 1 ? .created : .ok)
        response.headers.append(contentsOf: WarningHeader.fields(for: reading.warnings))
        return response
    }

    /// `GET /templates/{name}`: its latest version, or `?version=N`.
    func template(_ name: String, _ request: Request) async throws -> Response {
        var version: Int?
        if let text = request.uri.queryParameters["version"].map(String.init) {
            guard let number = Int(text), number >= 1 else {
                throw APIError(.badRequest, "version must be a whole number from 1, not \"\(text.prefix(100))\"")
            }
            version = number
        }
        return JSONResponse.make(try await service.template(name: name, version: version))
    }

    /// `POST /templates/{name}/runs`: `{"params": {…}}` checked (a 400 naming `params.NAME`) and
    /// substituted into the template's latest version, submitted as a job (201, as `POST /jobs`,
    /// with an `Idempotency-Key` too). The job's state says `template: {name, version}`.
    func runTemplate(_ name: String, _ request: Request) async throws -> Response {
        let body = try await self.body(of: request)
        var params: [String: ParameterValue] = [:]
        var warnings: [String] = []
        if body.readableBytes > 0 {
            let reading = try JobDocument.readJSON(JobTemplate.Run.self, from: Data(body.readableBytesView))
            params = reading.value.params ?? [:]
            warnings = reading.warnings
        }
        let template = try await service.template(name: name, version: nil)
        let job = try template.job(with: params)
        try JobDocument.validate(job)
        return try await submitted(
            job, warnings: warnings, request: request, body: body,
            template: TemplateReference(name: template.name, version: template.version))
    }

    /// `POST /schedules`: 201 with the schedule and its next run.
    func createSchedule(_ request: Request) async throws -> Response {
        let body = try await self.body(of: request)
        guard body.readableBytes > 0 else {
            throw APIError(.badRequest, "the request body is empty: send {\"cron\": …, \"job\": {…}} as JSON")
        }
        let reading = try JobDocument.readJSON(Schedule.Definition.self, from: Data(body.readableBytesView))
        let schedule = try await service.createSchedule(reading.value)
        var response = JSONResponse.make(ScheduleView(schedule), status: .created)
        response.headers.append(contentsOf: WarningHeader.fields(for: reading.warnings))
        return response
    }
}
