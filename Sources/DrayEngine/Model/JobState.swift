import Foundation

/// Where a job is: its status, how many steps completed, and why it failed.
///
/// Its status and phase change only through the transitions below, which are every way a job
/// moves: the runner, the service, the executor, the reaper and every store call them, and no
/// other file sets either.
public struct JobState: Codable, Sendable, Equatable {
    public private(set) var status: JobStatus
    public private(set) var phase: JobPhase
    public var stepsCompleted: Int
    /// The index of the step being prepared or run, from 0.
    public var currentStep: Int?
    /// A message for a person when the job ended in `error`.
    public var error: String?
    /// Why the job ended in `error`.
    public var reason: FailureReason?
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    public var steps: [StepState]
    /// The W3C `traceparent` its submit was sent with: the job's span is that span's child.
    public var traceParent: String?
    /// The template (and its version) the job was made from.
    public var template: TemplateReference?
    /// The schedule (and its tick) that made the job.
    public var schedule: ScheduleReference?

    /// The state of a job of `stepCount` steps that has not started.
    public init(stepCount: Int, createdAt: Date = Date()) {
        status = .running
        phase = .queued
        stepsCompleted = 0
        self.createdAt = createdAt
        steps = Array(repeating: StepState(), count: stepCount)
    }
}

extension JobState {
    /// For each step that started after the step before it ended, and wrote something: the
    /// seconds from that end to its first byte. What the engine costs between two steps.
    public var stepGaps: [TimeInterval] {
        steps.indices.dropFirst().compactMap { index in
            guard let before = steps[index - 1].finishedAt, let started = steps[index].startedAt,
                started >= before, let first = steps[index].firstByteAt
            else { return nil }
            return max(0, first.timeIntervalSince(before))
        }
    }
}

// MARK: - Transitions

extension JobState {
    /// A node starts (or carries on) the job.
    public mutating func start(at time: Date = Date()) {
        startedAt = startedAt ?? time
    }

    /// Step `index`'s image is being made ready. `fresh` clears what an earlier run of the step
    /// left (`attempts` starts empty for a step that has `retries`). In a graph the job stays
    /// `running` while another step runs.
    public mutating func preparing(step index: Int, fresh: StepState? = nil) {
        let tracked = steps[index].status != nil
        currentStep = index
        if let fresh { steps[index] = fresh }
        if tracked {
            steps[index].status = .running
            if !steps.contains(where: { $0.status == .running && $0.startedAt != nil }) { phase = .pulling }
        } else {
            phase = .pulling
        }
    }

    /// Step `index`'s container runs.
    public mutating func running(step index: Int, at time: Date = Date()) {
        phase = .running
        steps[index].startedAt = time
        if steps[index].status != nil { steps[index].status = .running }
    }

    /// The job is a graph: each step not complete waits for its needs (and says so).
    public mutating func waitingForNeeds() {
        for index in steps.indices where steps[index].status != .complete {
            steps[index] = StepState(status: .waiting)
        }
    }

    /// Step `index` of a graph ended without passing anything on: `failed` (its exit code, nil
    /// for a timeout or a step that could not run), `skipped` or `canceled`. The job goes on,
    /// until ``complete(at:)`` or ``fail(_:phase:reason:at:)`` ends it.
    public mutating func stepEnded(_ index: Int, as status: StepStatus, exitCode: Int32? = nil, at time: Date = Date())
    {
        if steps[index].status != nil { steps[index].status = status }
        if let exitCode { steps[index].exitCode = exitCode }
        if status != .skipped { steps[index].finishedAt = time }
        if currentStep == index { currentStep = steps.firstIndex { $0.status == .running } }
    }

    /// Every step of a streaming job runs (but those in `waiting`, which run after them), all
    /// started at `time`.
    public mutating func runningAll(but waiting: Set<Int> = [], at time: Date = Date()) {
        phase = .running
        currentStep = steps.indices.first { !waiting.contains($0) } ?? 0
        for index in steps.indices where !waiting.contains(index) {
            steps[index] = StepState(status: steps[index].status == nil ? nil : .running, startedAt: time)
        }
    }

    /// Step `index` exited 0, passing on `outputBytes` (`outputLines` lines).
    public mutating func stepSucceeded(
        _ index: Int, outputBytes: Int64?, outputLines: Int64? = nil, at time: Date = Date()
    ) {
        steps[index].exitCode = 0
        steps[index].finishedAt = time
        steps[index].outputBytes = outputBytes
        steps[index].outputLines = outputLines
        stepsCompleted += 1
        if steps[index].status != nil {
            steps[index].status = .complete
            if currentStep == index { currentStep = steps.firstIndex { $0.status == .running } }
        }
    }

    /// Every step ran: the job is complete.
    public mutating func complete(at time: Date = Date()) {
        status = .complete
        phase = .complete
        currentStep = nil
        finishedAt = time
    }

    /// Ends the job in `error` with `message`.
    public mutating func fail(
        _ message: String, phase: JobPhase = .failed, reason: FailureReason = .failed, at time: Date = Date()
    ) {
        status = .error
        self.phase = phase
        self.reason = reason
        error = message
        finishedAt = time
        currentStep = nil
        // A graph's steps that ran never end; those that wait are for its scheduler to end.
        for index in steps.indices where steps[index].status == .running {
            steps[index].status = .canceled
        }
    }

    /// A streaming graph's streamed steps ended, one of them in failure: the job goes on running
    /// for its `failure` and `always` steps, and keeps the failure's message and reason for its end.
    public mutating func runAfterStream() {
        status = .running
        phase = .running
        finishedAt = nil
    }

    /// Ends the job in `error`, stopped before it ended: `canceled` (by a person) or `shutdown`.
    public mutating func cancel(_ message: String, reason: FailureReason = .canceled, at time: Date = Date()) {
        fail(message, phase: .canceled, reason: reason, at: time)
    }

    /// Ends the job of `node`, whose lease ran out while it ran the job.
    public mutating func lose(node: String, job: Job, at time: Date = Date()) {
        let step = currentStep.map { job.steps[$0].label(index: $0) }
        fail(Self.nodeLostMessage(node: node, step: step), reason: .nodeLost, at: time)
    }

    /// Ends the job that was running when its node stopped without a chance to end it.
    public mutating func restarted(at time: Date = Date()) {
        fail(Self.restartMessage, reason: .restarted, at: time)
    }

    /// The step whose output is the job's: a chain's last; a graph's last step in the list that
    /// completed (a `failure` step listed last is skipped when nothing failed).
    public var outputStep: Int {
        guard steps.contains(where: { $0.status != nil }) else { return steps.count - 1 }
        return steps.lastIndex { $0.status == .complete } ?? steps.count - 1
    }

    /// The step a resumed job starts from: the one that failed; for a durable streaming job the
    /// first that is not ``durableDone(of:)``; for another streaming job, which keeps no output
    /// between its steps, the first.
    public func resumeStep(of job: Job) -> Int {
        guard job.streaming == true else { return min(stepsCompleted, job.steps.count - 1) }
        guard job.durable == true else { return 0 }
        let done = durableDone(of: job)
        return job.steps.indices.first { !done.contains($0) } ?? 0
    }

    /// The steps of a durable streaming job whose whole output is in their spools: those that
    /// completed and whose needs are all done too (a step that exited 0 before its producer
    /// failed read only part of its input, and runs again).
    public func durableDone(of job: Job) -> Set<Int> {
        guard job.streaming == true, job.durable == true else { return [] }
        let graph = JobGraph(job)
        var done: Set<Int> = []
        for index in graph.order
        where (steps[index].status == .complete || (steps[index].status == nil && steps[index].exitCode == 0))
            && graph.needs[index].allSatisfy(done.contains)
        {
            done.insert(index)
        }
        return done
    }

    /// Queues the job again to run from step `first`: the steps from there on are forgotten.
    public mutating func requeue(from first: Int) {
        status = .running
        phase = .queued
        error = nil
        reason = nil
        finishedAt = nil
        currentStep = nil
        rewind(to: first)
    }

    /// The steps whose spooled outputs a resume reads: a chain's step before the one that
    /// failed; a graph's completed steps that a step to run again needs; a durable streaming
    /// job's done steps that a step to run again needs; none for another streaming job.
    public func resumeInputs(of job: Job) -> [Int] {
        let graph = JobGraph(job)
        if job.streaming == true {
            let done = durableDone(of: job)
            let again = steps.indices.filter { !done.contains($0) }
            return Set(again.flatMap { graph.needs[$0] }).filter(done.contains).sorted()
        }
        guard graph.isGraph else {
            let from = resumeStep(of: job)
            return from > 0 ? [from - 1] : []
        }
        let again = steps.indices.filter { steps[$0].status != .complete }
        return Set(again.flatMap { graph.needs[$0] }).filter { steps[$0].status == .complete }.sorted()
    }

    /// Queues the job again for a resume: a chain from ``resumeStep(of:)``, a graph's steps
    /// that did not complete (``requeueGraph()``), a durable streaming graph's steps that are not
    /// ``durableDone(of:)``, another streaming job from the start.
    public mutating func requeueForResume(of job: Job) {
        if job.streaming == true, job.durable == true, JobGraph(job).isGraph {
            let done = durableDone(of: job)
            requeue(from: steps.count)
            for index in steps.indices where !done.contains(index) { steps[index] = StepState(status: .waiting) }
            stepsCompleted = done.count
        } else if job.streaming != true, JobGraph(job).isGraph {
            requeueGraph()
        } else {
            requeue(from: resumeStep(of: job))
        }
    }

    /// Queues a graph again: the steps that did not complete (failed, skipped, canceled) run
    /// again, on the outputs of those that did.
    public mutating func requeueGraph() {
        requeue(from: steps.count)
        stepsCompleted = steps.filter { $0.status == .complete }.count
        waitingForNeeds()
    }

    /// Forgets the steps from `first` on, to run them again.
    public mutating func rewind(to first: Int) {
        stepsCompleted = first
        for index in first..<steps.count {
            steps[index] = StepState(status: steps[index].status == nil ? nil : .waiting)
        }
    }

    /// The state of a job the original Dray wrote: only its `status` and step counts.
    public init(legacyStatus: String?, stepsCompleted: Int, stepCount: Int) {
        self.init(stepCount: stepCount, createdAt: Date(timeIntervalSince1970: 0))
        self.stepsCompleted = stepsCompleted
        switch legacyStatus {
        case "complete":
            status = .complete
            phase = .complete
        case "error":
            status = .error
            phase = .failed
        case "running": phase = .running
        default: break
        }
    }

    /// The message of a job whose node stopped renewing its lease.
    public static func nodeLostMessage(node: String, step: String?) -> String {
        "node \(node) stopped answering while the job ran\(step.map { " (\($0))" } ?? ""): its lease ran out"
    }

    /// The message of a job that was running when its server stopped.
    public static let restartMessage = "server restarted while the job was running"
}
