import DrayEngine
import Foundation
import Logging

/// Schedules and templates: jobs on a clock, and jobs kept with parameters. Their state is in
/// the store, as the jobs' is; a schedule's ticks are run by ``Scheduler``.
extension JobService {
    // MARK: - Schedules

    /// Stores a new schedule once its clock, its job (or its template and params) and its
    /// options are checked, each problem naming its field.
    public func createSchedule(_ definition: Schedule.Definition) async throws -> Schedule {
        var schedule = Schedule(
            cron: definition.cron, timeZone: definition.timeZone ?? "UTC", job: definition.job,
            template: definition.template, params: definition.params, catchUp: definition.catchUp ?? .one,
            overlap: definition.overlap ?? false)
        schedule.job?.id = nil
        schedule.project = try ownProject(definition.project ?? definition.job?.project)
        schedule.job?.project = schedule.project
        var problems: [String] = []
        do throws(DrayError) {
            _ = try schedule.clock()
        } catch {
            problems.append(error.message)
        }
        switch (schedule.job, schedule.template) {
        case (let job?, nil):
            if schedule.params != nil { problems.append("params go with a template, not a job") }
            problems += (JobDocument.problems(in: job) + policyProblems(in: job)).map { "job." + $0 }
        case (nil, let name?):
            do {
                let stored = try await template(name: name, version: nil)
                guard Caller.current.sees(stored.job.projectName) else { throw DrayError(.notFound, "") }
                _ = try stored.job(with: schedule.params ?? [:])
            } catch let error as DrayError where error.code == .notFound {
                problems.append("template \(name) does not exist: store it with PUT /templates/\(name) first")
            } catch let error as DrayError {
                problems += error.problems
            }
        default:
            problems.append("a schedule needs a job or a template (with its params), one of the two")
        }
        guard problems.isEmpty else {
            throw DrayError(.invalidJob, problems.joined(separator: "; "), problems: problems)
        }
        try await store.createSchedule(schedule)
        logger.info("schedule created", metadata: ["schedule": "\(schedule.id)", "cron": "\(schedule.cron)"])
        return schedule
    }

    /// The schedules the caller sees.
    public func schedules() async throws -> [Schedule] {
        try await store.schedules().filter { Caller.current.sees($0.project ?? Project.defaultName) }
    }

    public func schedule(id: String) async throws -> Schedule {
        guard let schedule = try await store.schedule(id: id) else { throw Self.noSchedule(id) }
        return schedule
    }

    public func deleteSchedule(id: String) async throws {
        guard try await store.deleteSchedule(id: id) else { throw Self.noSchedule(id) }
    }

    /// Pauses (no tick runs) or resumes a schedule; ticks missed while paused are skipped.
    public func pauseSchedule(id: String, _ paused: Bool) async throws -> Schedule {
        guard var schedule = try await store.schedule(id: id) else { throw Self.noSchedule(id) }
        if !paused, schedule.paused, let due = schedule.due(at: Date()) {
            // The ticks that passed while it was paused are not run on resume.
            _ = try await store.claimTick(id: id, previous: schedule.lastTick, tick: due.tick, job: nil)
        }
        guard let changed = try await store.setPaused(id: id, paused) else { throw Self.noSchedule(id) }
        schedule = changed
        return schedule
    }

    static func noSchedule(_ id: String) -> DrayError {
        DrayError(.notFound, "no schedule has the id \(id)")
    }

    /// Submits the job of `schedule`'s `tick` under `id`.
    func submitScheduled(_ schedule: Schedule, tick: Date, id: String) async throws {
        var job: Job
        var template: TemplateReference?
        if let name = schedule.template {
            let stored = try await self.template(name: name, version: nil)
            job = try stored.job(with: schedule.params ?? [:])
            try JobDocument.validate(job)
            template = TemplateReference(name: stored.name, version: stored.version)
        } else if let scheduled = schedule.job {
            job = scheduled
        } else {
            return
        }
        job.id = nil
        job.project = schedule.project ?? job.project
        let record = try await newRecord(
            job, traceParent: nil, template: template, schedule: ScheduleReference(id: schedule.id, tick: tick), id: id)
        try await store.create(record)
        await submitted(record)
    }

    // MARK: - Templates

    /// Stores a template as its name's next version, once its name, parameters and job are
    /// checked (each problem naming its field; the job as it would run with the defaults).
    public func putTemplate(name: String, _ definition: JobTemplate.Definition) async throws -> JobTemplate {
        if let problem = JobTemplate.nameProblem(name) { throw DrayError(.invalidJob, problem) }
        var job = definition.job
        job.id = nil
        job.project = try ownProject(job.project)
        let parameters = definition.parameters ?? TemplateParameters()
        let problems =
            JobTemplate.problems(job: job, parameters: parameters) + policyProblems(in: job).map { "job." + $0 }
        guard problems.isEmpty else {
            throw DrayError(.invalidJob, problems.joined(separator: "; "), problems: problems)
        }
        let template = try await store.putTemplate(JobTemplate(name: name, job: job, parameters: parameters))
        logger.info("template stored", metadata: ["template": "\(name)", "version": "\(template.version)"])
        return template
    }

    /// A template's latest version, or `version`; `notFound` when there is none.
    public func template(name: String, version: Int?) async throws -> JobTemplate {
        guard let template = try await store.template(name: name, version: version) else {
            throw DrayError(
                .notFound, version.map { "template \(name) has no version \($0)" } ?? "no template is named \(name)")
        }
        return template
    }

    /// The latest version of every template the caller sees.
    public func templates() async throws -> [JobTemplate] {
        try await store.templates().filter { Caller.current.sees($0.job.projectName) }
    }

    /// Deletes every version of a template; `notFound` when there is none. Its jobs stay.
    public func deleteTemplate(name: String) async throws {
        guard try await store.deleteTemplate(name: name) else {
            throw DrayError(.notFound, "no template is named \(name)")
        }
    }
}
