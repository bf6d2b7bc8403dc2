import Foundation

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
    /// Only the jobs of this project; nil for every project's.
    public var project: String?

    public init(
        limit: Int? = nil, cursor: String? = nil, newestFirst: Bool = false, statuses: Set<JobStatus> = [],
        phases: Set<JobPhase> = [], project: String? = nil
    ) {
        self.project = project
        self.limit = limit
        self.cursor = cursor
        self.newestFirst = newestFirst
        self.statuses = statuses
        self.phases = phases
    }

    /// True when `summary`'s job is one this listing asks for.
    public func matches(_ summary: JobSummary) -> Bool {
        (statuses.isEmpty || statuses.contains(summary.status)) && (phases.isEmpty || phases.contains(summary.phase))
            && (project == nil || project == summary.project)
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
