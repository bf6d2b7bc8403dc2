import Foundation

/// One entry of a job list: what a list shows of a job, which a store reads without decoding
/// the job's description or its steps' states.
public struct JobSummary: Codable, Sendable, Equatable {
    public var id: String
    public var name: String?
    public var status: JobStatus
    public var phase: JobPhase
    public var stepsCompleted: Int
    public var totalSteps: Int
    /// The step being prepared or run, counted from 1 as in messages.
    public var currentStep: Int?
    /// Why the job ended in `error`.
    public var reason: FailureReason?
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?

    public init(
        id: String, name: String?, status: JobStatus, phase: JobPhase, stepsCompleted: Int, totalSteps: Int,
        currentStep: Int?, reason: FailureReason?, createdAt: Date, startedAt: Date?, finishedAt: Date?
    ) {
        self.id = id
        self.name = name
        self.status = status
        self.phase = phase
        self.stepsCompleted = stepsCompleted
        self.totalSteps = totalSteps
        self.currentStep = currentStep
        self.reason = reason
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
    }

    /// The summary of a job of `totalSteps` steps named `name`, in `state`.
    public init(id: String, name: String?, totalSteps: Int, state: JobState) {
        self.init(
            id: id, name: name, status: state.status, phase: state.phase, stepsCompleted: state.stepsCompleted,
            totalSteps: totalSteps, currentStep: state.currentStep.map { $0 + 1 }, reason: state.reason,
            createdAt: state.createdAt, startedAt: state.startedAt, finishedAt: state.finishedAt)
    }

    public init(_ record: JobRecord) {
        self.init(id: record.id, name: record.job.name, totalSteps: record.job.steps.count, state: record.state)
    }
}

/// Which jobs a list asks for, in what order, and from where.
public struct JobListing: Sendable, Equatable {
    /// At most this many; nil for every job that matches.
    public var limit: Int?
    /// Where the last page ended: its ``JobPage/next``. A store's own text, opaque to clients.
    public var cursor: String?
    /// Newest first, rather than the seed's oldest first.
    public var newestFirst: Bool
    /// Only jobs in one of these statuses; empty for any.
    public var statuses: Set<JobStatus>
    /// Only jobs in one of these phases; empty for any.
    public var phases: Set<JobPhase>

    public init(
        limit: Int? = nil, cursor: String? = nil, newestFirst: Bool = false, statuses: Set<JobStatus> = [],
        phases: Set<JobPhase> = []
    ) {
        self.limit = limit
        self.cursor = cursor
        self.newestFirst = newestFirst
        self.statuses = statuses
        self.phases = phases
    }

    /// True when a job in `status` and `phase` is one this listing asks for.
    public func matches(status: JobStatus, phase: JobPhase) -> Bool {
        (statuses.isEmpty || statuses.contains(status)) && (phases.isEmpty || phases.contains(phase))
    }

    /// The error for a cursor a store cannot read: the client's mistake, naming the field.
    public static func badCursor(_ cursor: String) -> DrayError {
        DrayError(.invalidJob, "cursor \"\(cursor)\" is not one this server gave: start again without it")
    }
}

/// A page of a job list.
public struct JobPage: Sendable, Equatable {
    public var jobs: [JobSummary]
    /// The cursor of the page after this one; nil when this page is the last.
    public var next: String?

    public init(jobs: [JobSummary], next: String?) {
        self.jobs = jobs
        self.next = next
    }
}
