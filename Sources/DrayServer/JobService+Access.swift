import DrayAPI
import DrayEngine
import Foundation
import Logging
import Synchronization

/// Projects, their tokens and quotas, and the audit log: who may do what, and what was done.
/// The caller of each request is ``Caller/current``; everything is kept in the store.
extension JobService {
    // MARK: - Projects and quotas

    /// The project a new job belongs to (its caller's, or for the server's token its own
    /// `project`, or `default`), with the project's step ceilings applied; a `forbidden` error
    /// when a project's token names another project, a `quotaExceeded` one when the project's
    /// queue is full.
    func placed(_ job: Job) async throws -> Job {
        var job = job
        job.project = try ownProject(job.project)
        guard let project = try await store.project(name: job.projectName) else { return job }
        let bounded = project.bounded(job)
        guard bounded.problems.isEmpty else {
            throw DrayError(.invalidJob, bounded.problems.joined(separator: "; "), problems: bounded.problems)
        }
        if let max = project.maxQueuedJobs, try await store.queuedCount(project: project.name) >= max {
            throw DrayError.queueFull(project.name, max: max)
        }
        return bounded.job
    }

    /// The project of something new that names `named`: the caller's own (a project's token
    /// may name only its own), else `named`, else `default`.
    func ownProject(_ named: String?) throws -> String {
        guard let own = Caller.current.project else { return named ?? Project.defaultName }
        if let named, named != own {
            throw DrayError(.forbidden, "project: this token belongs to project \(own), not to project \(named)")
        }
        return own
    }

    /// Stores a project's quotas, with the server's token only: a project's admin would
    /// otherwise lift its own. True when the project is new.
    public func putProject(_ project: Project) async throws -> Bool {
        guard Caller.current.token == nil else {
            throw DrayError(.forbidden, "only the server's token sets a project's quotas")
        }
        let problems = project.problems
        guard problems.isEmpty else {
            throw DrayError(.invalidJob, problems.joined(separator: "; "), problems: problems)
        }
        return try await store.putProject(project)
    }

    /// The projects the caller sees: every one with quotas for the server's token, its own for
    /// a project's (with no quotas when none were set).
    public func projects() async throws -> [Project] {
        guard let own = Caller.current.project else { return try await store.projects() }
        return [try await store.project(name: own) ?? Project(name: own)]
    }

    // MARK: - Tokens

    /// A new token of `project` (the caller's own, for a project's admin): its record, and its
    /// text, shown this once.
    public func createToken(project: String?, scope: Scope, name: String, expiresIn: Duration?) async throws -> (
        record: AccessToken, token: String
    ) {
        let caller = Caller.current
        let project = project ?? caller.project ?? Project.defaultName
        var problems: [String] = []
        if let problem = Project.nameProblem(project) { problems.append(problem) }
        if name.isEmpty || name.count > 100 || name.contains(where: \.isNewline) {
            problems.append("name must be 1 to 100 characters on one line")
        }
        if let expiresIn, expiresIn <= .zero { problems.append("expiresIn must be a positive duration, such as 90d") }
        guard problems.isEmpty else {
            throw DrayError(.invalidJob, problems.joined(separator: "; "), problems: problems)
        }
        guard caller.sees(project) else {
            throw DrayError(
                .forbidden, "project: this token is an admin of project \(caller.project ?? ""), not of \(project)")
        }
        let text = AccessToken.prefix + BearerToken.random().value
        let now = Date()
        let record = AccessToken(
            id: UUID().uuidString.lowercased(), name: name, project: project, scope: scope,
            hash: AccessToken.hash(of: text), createdAt: now,
            expiresAt: expiresIn.map { now.addingTimeInterval($0.timeInterval) })
        try await store.createToken(record)
        logger.info("token created", metadata: ["token": "\(record.id)", "project": "\(project)", "scope": "\(scope)"])
        return (record, text)
    }

    /// The tokens the caller sees: every project's for the server's token, else its project's.
    public func tokens(project: String?) async throws -> [AccessToken] {
        try await store.tokens(project: Caller.current.project ?? project)
    }

    /// Revokes a token at once, on every node; `notFound` for one the caller does not see.
    public func revokeToken(id: String) async throws -> AccessToken {
        guard let token = try await store.tokens(project: Caller.current.project).first(where: { $0.id == id }),
            let revoked = try await store.revokeToken(id: token.id, at: Date())
        else { throw DrayError(.notFound, "no token has the id \(id)") }
        logger.info("token revoked", metadata: ["token": "\(id)", "project": "\(revoked.project)"])
        return revoked
    }

    // MARK: - What a caller sees

    /// The project of what a route's path names (a job, a schedule, a template, a token), or
    /// nil when it names none or none exists. A `notFound` error, as if it did not exist, when
    /// it is another project's than the caller's: a project's token learns nothing of others.
    func targetProject(of pattern: String, _ path: Routes.Path) async throws -> String? {
        let caller = Caller.current
        let project: String?
        let missing: DrayError
        if pattern.hasPrefix("/jobs/{id}") {
            let record = try await store.job(id: path.id)
            if let record { AuditNote.current?.remember(record) }
            project = record?.job.projectName
            missing = DrayError.noJob(path.id)
        } else if pattern.hasPrefix("/schedules/{id}") {
            project = try await store.schedule(id: path.id).map { $0.project ?? Project.defaultName }
            missing = Self.noSchedule(path.id)
        } else if pattern.hasPrefix("/templates/{name}") {
            project = try await store.template(name: path.name, version: nil)?.job.projectName
            missing = DrayError(.notFound, "no template is named \(path.name)")
        } else if pattern.hasPrefix("/tokens/{id}") {
            project = try await store.tokens(project: caller.project).first { $0.id == path.id }?.project
            missing = DrayError(.notFound, "no token has the id \(path.id)")
        } else {
            return nil
        }
        if let project, !caller.sees(project) {
            // A new template's name another project holds cannot be taken: say so without
            // telling whose it is.
            let answer = pattern == "/templates/{name}" ? Self.nameTaken(path.name) : missing
            throw DrayError(answer.code, answer.message, cause: HiddenTarget())
        }
        return project
    }

    /// The cause of a `notFound` for what exists in another project: a refusal, for the log.
    struct HiddenTarget: Error {}

    static func nameTaken(_ name: String) -> DrayError {
        DrayError(
            .notFound, "no template is named \(name) in this token's project, and the name is taken: choose another")
    }

    /// `listing` narrowed to the caller's project: a project's token lists only its own, and
    /// naming another is a `notFound`.
    func visible(_ listing: JobListing) throws -> JobListing {
        guard let own = Caller.current.project else { return listing }
        if let asked = listing.project, asked != own { throw Self.noProject(asked) }
        var listing = listing
        listing.project = own
        return listing
    }

    static func noProject(_ name: String) -> DrayError {
        DrayError(.notFound, "no project \(name) for this token")
    }

    // MARK: - The audit log

    /// Appends an entry; a failure to is logged, and does not fail the request it records.
    func record(_ entry: AuditEntry) async {
        do {
            try await store.appendAudit(entry)
        } catch {
            logger.error("the audit log could not be written: \(error)", metadata: ["action": "\(entry.action)"])
        }
    }

    /// A page of the log, newest first: a project's admin sees its project's entries only.
    public func audit(project: String?, limit: Int, cursor: String?) async throws -> AuditPage {
        if let own = Caller.current.project, let project, project != own { throw Self.noProject(project) }
        return try await store.audit(project: Caller.current.project ?? project, limit: limit, cursor: cursor)
    }
}

/// What a request that changes something did, for its audit entry: set by the service as it
/// learns the target (a new job's id) and its project.
final class AuditNote: Sendable {
    private let state = Mutex<(target: String?, project: String?)>((nil, nil))
    /// The job the project check read, for the handler's first read of it: one read, not two.
    private let record = Mutex<JobRecord?>(nil)

    func remember(_ read: JobRecord) { record.withLock { $0 = read } }

    /// The job read for the project check, once; nil when it was another or is taken.
    func takeRecord(id: String) -> JobRecord? {
        record.withLock { read in
            guard read?.id == id else { return nil }
            defer { read = nil }
            return read
        }
    }

    var target: String? { state.withLock { $0.target } }
    var project: String? { state.withLock { $0.project } }

    func set(target: String? = nil, project: String? = nil) {
        state.withLock { state in
            if let target { state.target = target }
            if let project { state.project = project }
        }
    }

    /// The note of the request being answered; nil where none is.
    @TaskLocal static var current: AuditNote?
}
