import Foundation
import ServiceLifecycle

/// A job as stored: its description and its state, and the node that claimed it.
public struct JobRecord: Sendable, Equatable {
    public var id: String
    public var job: Job
    public var state: JobState
    /// The node that runs or ran the job; nil while it waits to be claimed.
    public var node: String?
    /// How many times the job's state or node was written: every write adds one. A node writes
    /// a job's state only at the version it last saw (``JobQueue/update(id:state:owner:version:)``).
    public var version: Int

    public init(id: String, job: Job, state: JobState, node: String? = nil, version: Int = 0) {
        self.id = id
        self.job = job
        self.state = state
        self.node = node
        self.version = version
    }
}

/// Where jobs and their logs are kept. Every store passes the same contract suite
/// (`DrayStoreTesting`). Calls about a job that does not exist throw a ``DrayError`` with
/// code `notFound`, except ``job(id:)``, which returns nil, and ``delete(id:)``, which returns false.
///
/// A store is a `Service`: its `run()` runs what it owns (PostgreSQL's connection pool) until
/// graceful shutdown, and the application runs it before, and stops it after, everything that
/// uses it. Once it runs, ``prepare()`` makes it ready (PostgreSQL's migrations).
public protocol JobStore: JobQueue, DeliveryStore, TemplateStore, ScheduleStore, AccessStore, Service {
    /// Makes the store ready to use, once its `run()` runs: creates or migrates its schema.
    func prepare() async throws
    /// Throws when the store cannot be reached; for readiness checks.
    func ping() async throws
    /// Adds a new job.
    func create(_ record: JobRecord) async throws
    /// Adds a new job unless `idempotency`'s key, within its lifetime, names one already. Of
    /// creators with one key at once, on any nodes, exactly one adds its job; the others get
    /// ``IdempotentCreate/existing(id:digest:)``. A key past its lifetime is free again.
    func create(_ record: JobRecord, idempotency: IdempotencyKey) async throws -> IdempotentCreate
    /// The job with `id`, or nil.
    func job(id: String) async throws -> JobRecord?
    /// Every job, in creation order: for tools and tests. The server never reads every job (it
    /// lists pages, and starts and cleans up from indexes).
    func jobs() async throws -> [JobRecord]
    /// A page of summaries, in creation order or newest first, filtered by status and phase, from
    /// a cursor that new jobs never move: pages read while jobs are added neither repeat nor skip.
    /// A cursor the store did not give is an `invalidJob` error (``JobListing/badCursor(_:)``).
    func list(_ listing: JobListing) async throws -> JobPage
    /// The running jobs `node` claimed, and those a version before nodes left running with no
    /// node (never the queued ones): what a node ends when it starts again. From an index: it
    /// never reads every job.
    func runningJobs(node: String) async throws -> [JobRecord]
    /// Up to `limit` of the jobs that ended before `date`, the earliest first: what clean-up
    /// looks at. From an index by end time.
    func finishedJobs(before date: Date, limit: Int) async throws -> [JobSummary]
    /// Replaces a job's state.
    func update(id: String, state: JobState) async throws
    /// Replaces a job's description: to erase its secrets once it can no longer run.
    func update(id: String, job: Job) async throws
    /// Appends lines to a job's log, in order. Concurrent appends to one job each stay whole.
    ///
    /// `batch` names this append, so that it can be retried safely: when the job's last append
    /// had the same batch, nothing is added again. (A write can reach the store and its answer
    /// be lost, as when Redis stops; the retry must not log the lines twice.)
    func appendLog(id: String, lines: [LogLine], batch: UUID?) async throws
    /// Up to `limit` lines of a job's log from `index` (from 0); an index past the end gives none.
    /// Costs O(lines returned), not O(log).
    func log(id: String, from index: Int, limit: Int?) async throws -> [LogLine]
    /// Deletes a job, its log and its webhook deliveries. Returns false when there was no such job.
    func delete(id: String) async throws -> Bool
}

extension JobStore {
    /// Nothing to prepare: the store was made ready when it was opened.
    public func prepare() async throws {}

    /// Nothing of its own to run: waits for graceful shutdown (or cancellation).
    public func run() async throws {
        try? await gracefulShutdown()
    }

    /// Appends lines to a job's log, with no retry protection.
    public func appendLog(id: String, lines: [LogLine]) async throws {
        try await appendLog(id: id, lines: lines, batch: nil)
    }
}
