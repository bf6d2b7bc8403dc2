import Foundation
import NIOFileSystem
import Synchronization

extension JobRunner {
    /// What a graph's step tells the scheduler: an event of its run, or its end.
    private enum GraphEvent: Sendable {
        case step(StepEvent)
        /// Its task ended; with what it threw (a missing image, a cancellation), if anything.
        case ended(DrayError?, canceled: Bool)
        /// The job's timeout ran out.
        case timedOut
    }

    /// Runs a graph in the spooled mode: each step once its needs have ended and its `when`
    /// holds (else it is `skipped`), reading their spools, as many at once as the job's
    /// `parallelism` and the node's step slots allow. A failed step fails the job when the
    /// rest has run: steps that need it are skipped, `failure` and `always` steps run. A
    /// resumed graph runs again the steps that did not complete, on the spools of those that did.
    func runGraph(
        _ job: Job, graph: JobGraph, id: String, spoolDirectory: FilePath, state: inout JobState,
        observer: some JobObserver, stopReason: @Sendable () -> FailureReason?
    ) async {
        if state.steps.contains(where: { $0.status == nil }) { state.waitingForNeeds() }
        await observer.jobDidChange(state)
        let deadline = job.timeout.map { ContinuousClock.now + .seconds($0) }
        let limit = job.parallelism ?? Int.max
        // In a streaming job the streamed steps have run: their failure is the job's.
        var failure: (message: String, reason: FailureReason)? = state.error.map { ($0, state.reason ?? .failed) }
        var stopping = false
        let (events, sink) = AsyncStream.makeStream(of: (Int, GraphEvent).self)
        var iterator = events.makeAsyncIterator()
        await withTaskGroup(of: Void.self) { group in
            if let deadline {
                group.addTask {
                    try? await Task.sleep(until: deadline)
                    if !Task.isCancelled { sink.yield((-1, .timedOut)) }
                }
            }
            var running = 0
            while true {
                var changed = false
                for step in graph.order where state.steps[step].status == .waiting {
                    let needs = graph.needs[step]
                    guard needs.allSatisfy({ Self.hasEnded(state.steps[$0].status) }) else { continue }
                    if stopping || Task.isCancelled {
                        state.stepEnded(step, as: .canceled)
                        changed = true
                        continue
                    }
                    let runs: Bool
                    switch job.steps[step].when ?? .success {
                    case .success: runs = needs.allSatisfy { state.steps[$0].status == .complete }
                    case .failure: runs = failure != nil || needs.contains { state.steps[$0].status == .failed }
                    case .always: runs = true
                    }
                    guard runs else {
                        state.stepEnded(step, as: .skipped)
                        changed = true
                        continue
                    }
                    guard running < limit, slots?.tryAcquire() ?? true else { continue }
                    running += 1
                    state.preparing(step: step)
                    changed = true
                    let input = Self.input(of: step, job: job, graph: graph, state: state, in: spoolDirectory)
                    group.addTask {
                        defer { slots?.release() }
                        do {
                            try await runStep(
                                step, of: job, id: id, spoolDirectory: spoolDirectory, deadline: deadline,
                                input: input, observer: observer
                            ) { sink.yield((step, .step($0))) }
                            sink.yield((step, .ended(nil, canceled: false)))
                        } catch {
                            let canceled = Task.isCancelled || error is CancellationError
                            sink.yield((step, .ended(Self.stepError(error), canceled: canceled)))
                        }
                    }
                }
                if changed { await observer.jobDidChange(state) }
                // Nothing runs and nothing could start: the graph has run (or waits for a slot).
                if running == 0 {
                    guard state.steps.contains(where: { $0.status == .waiting }), !stopping else { break }
                    await slots?.waitForOne()
                    if Task.isCancelled { stopping = true }
                    continue
                }
                guard let (step, event) = await iterator.next() else {
                    // The job was canceled: its steps' tasks end canceled; wait for them.
                    stopping = true
                    group.cancelAll()
                    break
                }
                switch event {
                case .step(.failed(let message, let reason)):
                    state.stepEnded(step, as: .failed, exitCode: state.steps[step].exitCode)
                    failure = failure ?? (message, reason)
                    if reason == .timeout, message.hasPrefix("the job timed out") { stopping = true }
                case .step(let event):
                    state.apply(event, to: step)
                case .ended(let error, let canceled):
                    running -= 1
                    if state.steps[step].status == .running {
                        let label = job.steps[step].label(index: step)
                        state.stepEnded(step, as: canceled ? .canceled : .failed)
                        if !canceled {
                            failure = failure ?? ("\(label): \(error?.message ?? "the step could not run")", .failed)
                        }
                    }
                case .timedOut:
                    stopping = true
                    let label = state.currentStep.map { job.steps[$0].label(index: $0) } ?? "the job"
                    failure = failure ?? ("the job timed out after \(Self.seconds(job.timeout!)) in \(label)", .timeout)
                    group.cancelAll()
                }
                await observer.jobDidChange(state)
            }
            sink.finish()
            group.cancelAll()
        }
        // What still waits never runs: the job was stopped.
        for step in state.steps.indices where state.steps[step].status == .waiting {
            state.stepEnded(step, as: .canceled)
        }
        if state.status == .error {
            // The streamed part of the job failed first, and said why.
        } else if Task.isCancelled && !(failure?.reason == .timeout) {
            let label = state.currentStep.map { job.steps[$0].label(index: $0) } ?? "the job"
            fail(&state, CancellationError(), label: label, stopReason: stopReason)
        } else if let failure {
            state.fail(failure.message, reason: failure.reason)
        }
    }

    /// Whether a step of a graph has ended, however.
    private static func hasEnded(_ status: StepStatus?) -> Bool {
        switch status {
        case .complete, .failed, .skipped, .canceled: true
        case .waiting, .running, nil: false
        }
    }

    /// What step `step` reads: the spools of its needs that completed (a `failure` or `always`
    /// step may run after some did not), one after the other or as files.
    private static func input(
        of step: Int, job: Job, graph: JobGraph, state: JobState, in spoolDirectory: FilePath
    ) -> StepInput {
        let completed = graph.needs[step].filter { state.steps[$0].status == .complete }
        let paths = completed.map { outputPath(step: $0, in: spoolDirectory) }
        if job.steps[step].inputs == .files {
            return .files(zip(completed, paths).map { (job.steps[$0.0].name ?? "", $0.1) })
        }
        switch paths.count {
        case 0: return .none
        case 1: return .spool(paths[0])
        default: return .concat(paths.map { .spool($0, ready: nil) })
        }
    }

    /// A step's error as the job says it.
    private static func stepError(_ error: any Error) -> DrayError {
        if isDiskFull(error) {
            return DrayError(.storage, "the spool's disk is full: no space was left to keep the step's output")
        }
        return error as? DrayError ?? DrayError(.runtime, "\(error)")
    }
}

/// The node's step slots (`--max-concurrent-steps`): how many containers the graphs' steps
/// run at once, over all jobs. A scheduler with nothing running and no free slot looks again
/// every 50 ms.
public final class StepSlots: Sendable {
    private let free: Mutex<Int>

    public init(_ count: Int) {
        free = Mutex(max(1, count))
    }

    /// Takes a slot if one is free.
    func tryAcquire() -> Bool {
        free.withLock { free in
            guard free > 0 else { return false }
            free -= 1
            return true
        }
    }

    /// Gives a slot back.
    func release() {
        free.withLock { $0 += 1 }
    }

    /// Returns after a while, for a slot to free.
    func waitForOne() async {
        try? await Task.sleep(for: .milliseconds(50))
    }
}
