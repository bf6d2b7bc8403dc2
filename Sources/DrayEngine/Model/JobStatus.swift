import Foundation

/// The seed's three job statuses. Finer detail is in ``JobPhase``.
public enum JobStatus: String, Codable, Sendable, CaseIterable {
    case running
    case complete
    case error
}

/// What a job is doing now, finer than its ``JobStatus``.
public enum JobPhase: String, Codable, Sendable, CaseIterable {
    /// Accepted, not started.
    case queued
    /// Making sure a step's image is present.
    case pulling
    /// A step's container is running.
    case running
    case complete
    /// A step failed, or Dray could not run it.
    case failed
    /// Stopped before it ended.
    case canceled
}

/// Where a step of a graph is. (A chain's steps have none: their job's state says it.)
public enum StepStatus: String, Codable, Sendable, CaseIterable {
    /// Its needs have not all ended.
    case waiting
    /// Its image is made ready, or its container runs.
    case running
    case complete
    /// It exited non-zero, timed out, or could not be run.
    case failed
    /// Its `when` did not hold, so it never ran.
    case skipped
    /// It was stopped: the job was canceled, timed out, or a streaming job's other step failed.
    case canceled
}

/// What happened to one step.
public struct StepState: Codable, Sendable, Equatable {
    /// In a graph: where the step is.
    public var status: StepStatus?
    public var exitCode: Int32?
    public var startedAt: Date?
    /// When the first byte the step's container wrote (on stdout or stderr) was read: with the
    /// step before it's `finishedAt`, the gap between two steps. Nil for a step that wrote nothing.
    public var firstByteAt: Date?
    public var finishedAt: Date?
    /// Each attempt's exit code, in order, when the step has `retries` (nil for one that timed out).
    public var attempts: [Int32?]?
    /// The bytes of output the step passed on (to the next step, or as the job's output), once
    /// it exited 0.
    public var outputBytes: Int64?
    /// The run whose output and log this step reused from the cache, rather than run.
    public var cached: CacheOrigin?
    /// The lines (newlines) of the output it passed on, beside ``outputBytes``.
    public var outputLines: Int64?
    /// In a streaming job: what came through the live pipe this step reads, as it runs and
    /// once it has ended.
    public var input: InputFlow?

    public init(
        status: StepStatus? = nil, exitCode: Int32? = nil, startedAt: Date? = nil, finishedAt: Date? = nil,
        attempts: [Int32?]? = nil, outputBytes: Int64? = nil
    ) {
        self.status = status
        self.exitCode = exitCode
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.attempts = attempts
        self.outputBytes = outputBytes
    }
}

/// What came through the live pipe into a streaming step: the bytes and lines, how long its
/// producer was blocked because this step read slower than it wrote, and how long this step
/// waited for bytes.
public struct InputFlow: Codable, Sendable, Equatable {
    public var bytes: Int64
    public var lines: Int64
    public var blockedSeconds: Double
    public var waitedSeconds: Double

    public init(bytes: Int64, lines: Int64, blockedSeconds: Double, waitedSeconds: Double) {
        self.bytes = bytes
        self.lines = lines
        self.blockedSeconds = blockedSeconds
        self.waitedSeconds = waitedSeconds
    }
}

/// Where a cached step's output came from: a step (from 1) of a job.
public struct CacheOrigin: Codable, Sendable, Equatable {
    public var job: String
    public var step: Int

    public init(job: String, step: Int) {
        self.job = job
        self.step = step
    }
}

/// Why a job ended in `error`.
public enum FailureReason: String, Codable, Sendable {
    /// A step exited non-zero, or could not be run.
    case failed
    /// `POST /jobs/{id}/cancel`, `DELETE`, or an interrupted `dray run`.
    case canceled
    /// A step's or the job's `timeout` ran out.
    case timeout
    /// The server stopped, and the job did not end within its `--shutdown-grace`.
    case shutdown
    /// The server stopped without a chance to stop the job (a crash, kill -9).
    case restarted
    /// The node that ran the job stopped renewing its lease, and another node ended the job.
    case nodeLost = "node-lost"
}
