import Foundation
import NIOCore
import NIOFileSystem
import Tracing

/// Runs a job's steps in order on a ``ContainerRuntime``, passing each step's selected
/// output to the next step's standard input through spool files on disk.
///
/// Step `n`'s output is kept at ``outputPath(step:in:)``, so memory stays bounded whatever
/// the size of the data, and the last step's output can be read when the job is complete.
public struct JobRunner: Sendable {
    public let runtime: any ContainerRuntime

    /// What a step gets when it does not ask: the server's `--step-memory`, `--step-cpus` and
    /// `--step-pids`.
    let defaults: StepLimits

    /// The node's slots for graphs' steps; nil, no limit but each job's `parallelism`.
    let slots: StepSlots?

    /// The node's cache of step outputs, for the steps that say `cache`; nil, none.
    let cache: StepCache?

    /// The node's taps, where readers see what each running step passes on; nil, none.
    let taps: TapBoard?

    public init(
        runtime: any ContainerRuntime, defaults: StepLimits = StepLimits(), slots: StepSlots? = nil,
        cache: StepCache? = nil, taps: TapBoard? = nil
    ) {
        self.runtime = runtime
        self.defaults = defaults
        self.slots = slots
        self.cache = cache
        self.taps = taps
    }

    /// The tap of a run of step `index` of job `id`: the board's, or one of its own.
    func tap(job id: String, step index: Int) -> EdgeTap {
        taps?.open(job: id, step: index) ?? EdgeTap()
    }

    /// Where the output of step `index` (from 0) is spooled.
    public static func outputPath(step index: Int, in spoolDirectory: FilePath) -> FilePath {
        spoolDirectory.appending("step-\(index + 1).out")
    }

    /// Runs `job` to its end and returns its final state; never throws; a failure is the
    /// state's `error`. Cancelling the task stops the running step (SIGTERM, then SIGKILL after
    /// its `stopGracePeriod`) and ends the job in `error`, with `stopReason()` (default
    /// `canceled`) as its reason.
    ///
    /// - Parameters:
    ///   - first: The step to start from; the earlier steps' outputs must be in `spoolDirectory`
    ///     (a resume).
    ///   - state: The state to carry on from, or nil for a new one.
    public func run(
        _ job: Job,
        id: String,
        spoolDirectory: FilePath,
        observer: some JobObserver,
        state initial: JobState? = nil,
        from first: Int = 0,
        stopReason: @Sendable () -> FailureReason? = { nil }
    ) async -> JobState {
        // One span for the job's run here, a child of its submitter's when it sent one; its steps'
        // attempts and their engine calls are its children.
        await withSpan("job", context: TraceContext.parent(initial?.traceParent), ofKind: .internal) { span in
            span.attributes["dray.job.id"] = id
            if let name = job.name { span.attributes["dray.job.name"] = name }
            let state = await runJob(
                job, id: id, spoolDirectory: spoolDirectory, observer: observer, state: initial, from: first,
                stopReason: stopReason)
            span.attributes["dray.job.status"] = state.status.rawValue
            span.attributes["dray.job.steps_completed"] = state.stepsCompleted
            if state.status == .error { span.setStatus(SpanStatus(code: .error, message: state.error)) }
            return state
        }
    }

    private func runJob(
        _ job: Job, id: String, spoolDirectory: FilePath, observer: some JobObserver, state initial: JobState?,
        from first: Int, stopReason: @Sendable () -> FailureReason?
    ) async -> JobState {
        var state = initial ?? JobState(stepCount: job.steps.count)
        state.start()
        do {
            try await FileSystem.shared.createDirectory(at: spoolDirectory, withIntermediateDirectories: true)
        } catch {
            // Stopped before its first step: canceled (or shut down), not failed.
            if Task.isCancelled || error is CancellationError {
                fail(&state, error, label: "the job", stopReason: stopReason)
            } else {
                state.fail("cannot create the spool folder \(spoolDirectory): \(error)")
            }
            await observer.jobDidChange(state)
            return state
        }
        let graph = JobGraph(job)
        if job.streaming == true {
            // A durable job's step that exits non-zero and has retries left runs again from its
            // failure, as a resume does: the steps done read from their spools.
            var attempts: [Int: [Int32?]] = [:]
            var delays: [Int: Duration] = [:]
            while true {
                do {
                    if graph.isGraph { state.waitingForNeeds() }
                    try await runStreaming(
                        job, graph: graph, id: id, spoolDirectory: spoolDirectory, done: state.durableDone(of: job),
                        retried: attempts.mapValues(\.count), state: &state, observer: observer)
                } catch {
                    let index = (error as? StepFailure)?.index ?? state.currentStep ?? 0
                    fail(
                        &state, (error as? StepFailure)?.error ?? error, label: job.steps[index].label(index: index),
                        stopReason: stopReason)
                }
                // Each attempt's exit code, the last (this run's) included, as a chain's retries say.
                for (index, codes) in attempts { state.steps[index].attempts = codes + [state.steps[index].exitCode] }
                guard job.durable == true, state.status == .error, state.reason == .failed,
                    let failed = state.steps.indices.first(where: { (state.steps[$0].exitCode ?? 0) != 0 }),
                    let retries = job.steps[failed].retries,
                    (attempts[failed]?.count ?? 0) < retries, !Task.isCancelled
                else { break }
                attempts[failed, default: []].append(state.steps[failed].exitCode)
                let delay = delays[failed] ?? .seconds(job.steps[failed].retryDelay ?? 1)
                delays[failed] = min(delay * 2, .seconds(60))
                // Until it runs again the job waits, as a resumed one does, its attempts kept.
                let failedState = state
                state.requeueForResume(of: job)
                for (index, codes) in attempts { state.steps[index].attempts = codes }
                await observer.jobDidChange(state)
                try? await Task.sleep(for: delay)
                if Task.isCancelled {
                    state = failedState
                    break
                }
            }
            // The failure and always steps, and those that need them, run on the spools now (not
            // after a cancel: they are canceled too). The job has not ended until they have.
            if state.steps.contains(where: { $0.status == .waiting }) {
                if state.status == .error, state.phase != .canceled { state.runAfterStream() }
                await runGraph(
                    job, graph: graph, id: id, spoolDirectory: spoolDirectory, state: &state, observer: observer,
                    stopReason: stopReason)
            }
        } else if graph.isGraph {
            await runGraph(
                job, graph: graph, id: id, spoolDirectory: spoolDirectory, state: &state, observer: observer,
                stopReason: stopReason)
        } else {
            let deadline = job.timeout.map { ContinuousClock.now + .seconds($0) }
            for index in job.steps.indices where index >= first {
                // The first step's container is made while its image is looked up, and each next
                // one's while the step before it runs.
                if index == first { prepareAhead(index, of: job, id: id) }
                if index + 1 < job.steps.count { prepareAhead(index + 1, of: job, id: id) }
                do {
                    try Task.checkCancellation()
                    let cell = StateCell(state)
                    defer { state = cell.state }
                    let input: StepInput =
                        index == 0 ? .none : .spool(Self.outputPath(step: index - 1, in: spoolDirectory))
                    try await runStep(
                        index, of: job, id: id, spoolDirectory: spoolDirectory, deadline: deadline, input: input,
                        observer: observer
                    ) { event in
                        // A chain's state is written when a step is prepared, runs, or retries.
                        if cell.state.apply(event, to: index) { await observer.jobDidChange(cell.state) }
                    }
                } catch {
                    fail(&state, error, label: job.steps[index].label(index: index), stopReason: stopReason)
                }
                if state.status == .error {
                    state.steps[index].finishedAt = state.steps[index].finishedAt ?? state.finishedAt
                    break
                }
            }
        }
        if state.status == .running { state.complete() }
        taps?.end(job: id)
        // A job is reported ended once its containers (its steps', its sandbox) are gone.
        await runtime.settle(job: id)
        await observer.jobDidChange(state)
        return state
    }

    /// How often a streaming job's live edges' figures are written into its state.
    static let flowInterval: Duration = .seconds(1)

    /// Ends the job in `error` for what a step threw.
    func fail(
        _ state: inout JobState, _ error: any Error, label: String, stopReason: () -> FailureReason?
    ) {
        if Task.isCancelled || error is CancellationError {
            // However the runtime reported it, a step stopped by cancellation was canceled.
            switch stopReason() ?? .canceled {
            case .shutdown:
                state.cancel("\(label) was stopped: the server shut down", reason: .shutdown)
            default:
                state.cancel("\(label) was canceled")
            }
        } else if Self.isDiskFull(error) {
            state.fail("\(label): the spool's disk is full: no space was left to keep the step's output")
        } else if let error = error as? DrayError {
            state.fail("\(label): \(error.message)")
        } else {
            state.fail("\(label): \(error)")
        }
    }

    /// True for a write that found no space left on its disk (ENOSPC), however deep the
    /// file system's error keeps the system call's.
    static func isDiskFull(_ error: any Error) -> Bool {
        var next: (any Error)? = error
        for _ in 0..<4 {
            switch next {
            case let call as FileSystemError.SystemCallError: return call.errno.rawValue == ENOSPC
            case let error as FileSystemError: next = error.cause
            case let error as DrayError: next = error.cause
            default: return false
            }
        }
        return false
    }

    /// An error of one step of a streaming job.
    private struct StepFailure: Error {
        var index: Int
        var error: any Error
    }

    /// Runs a streaming job: every step at once, each one's selected output piped into the
    /// stdin of the steps that need it (a chain's next step) as it is written. A fan-out goes to
    /// every consumer at the pace of the slowest, as `tee` does; `concat` reads its first input
    /// live and the others from their spools once their producers have completed; `files`
    /// waits for its inputs' spools. The job completes when every step exits 0; the first step
    /// to fail (or time out) fails it, and the others are stopped, as `pipefail` does. The steps
    /// `done` in an earlier run of a durable job do not run again: their spools are read.
    /// `retried` counts the earlier attempts of a durable job's steps that failed.
    private func runStreaming(
        _ job: Job, graph: JobGraph, id: String, spoolDirectory: FilePath, done: Set<Int>, retried: [Int: Int],
        state: inout JobState, observer: some JobObserver
    ) async throws {
        let after = graph.afterStream(job)
        let idle = after.union(done)
        var prepared: [ImageReference?] = []
        for (index, step) in job.steps.enumerated() {
            guard !idle.contains(index) else {
                prepared.append(nil)
                continue
            }
            state.preparing(step: index)
            await observer.jobDidChange(state)
            do {
                let image = try ImageReference(parsing: step.source)
                try await runtime.prepareImage(image, refresh: step.refresh ?? false) { progress in
                    await observer.jobDidPull(step: index, progress: progress)
                }
                prepared.append(image)
            } catch {
                throw StepFailure(index: index, error: error)
            }
        }
        state.runningAll(but: idle)
        await observer.jobDidChange(state)

        let wiring = StreamWiring(
            job, graph: graph, after: after, done: done, spoolDirectory: spoolDirectory,
            tap: { tap(job: id, step: $0) })
        let images = prepared
        try await withThrowingTaskGroup(of: (Int, Int32?).self) { group in
            for index in job.steps.indices where !idle.contains(index) {
                group.addTask {
                    // The steps that read this one live see the end of their input however it ends.
                    defer {
                        for pipe in wiring.outputs[index].pipes { pipe.finish() }
                        taps?.end(job: id, step: index)
                    }
                    var exitCode: Int32?
                    defer { wiring.completions[index].end(exitCode == 0) }
                    do {
                        let input = try await wiring.input(of: index)
                        let limit = job.steps[index].timeout.map { Duration.seconds($0) }
                        exitCode = try await Self.within(limit) {
                            try await execute(
                                index, of: job, image: images[index]!, id: id, spoolDirectory: spoolDirectory,
                                observer: observer, input: input, output: wiring.outputs[index],
                                attempt: (retried[index] ?? 0) + 1)
                        }
                        return (index, exitCode)
                    } catch {
                        throw StepFailure(index: index, error: error)
                    }
                }
            }
            if let timeout = job.timeout {
                group.addTask {
                    try await Task.sleep(for: .seconds(timeout))
                    return (-1, nil)
                }
            }
            // The live edges' figures are written into the state every second while the job runs.
            let tick = -2
            if wiring.hasLiveEdges {
                group.addTask {
                    try await Task.sleep(for: Self.flowInterval)
                    return (tick, nil)
                }
            }
            defer { wiring.recordFlows(in: &state) }
            while let (index, exitCode) = try await group.next() {
                if index == tick {
                    wiring.recordFlows(in: &state)
                    await observer.jobDidChange(state)
                    group.addTask {
                        try await Task.sleep(for: Self.flowInterval)
                        return (tick, nil)
                    }
                    continue
                }
                guard index >= 0 else {
                    let running = state.steps.firstIndex { $0.exitCode == nil } ?? job.steps.count - 1
                    state.fail(
                        "the job timed out after \(Self.seconds(job.timeout!)) in \(job.steps[running].label(index: running))",
                        reason: .timeout)
                    break
                }
                state.steps[index].firstByteAt = wiring.outputs[index].firstByte.at
                if exitCode == 0 {
                    state.stepSucceeded(
                        index, outputBytes: await wiring.outputBytes(of: index),
                        outputLines: wiring.outputs[index].tap.lines)
                    state.currentStep = state.steps.firstIndex { $0.exitCode == nil }
                    if state.stepsCompleted == job.steps.count - after.count { break }
                    await observer.jobDidChange(state)
                    continue
                }
                state.stepEnded(index, as: .failed, exitCode: exitCode)
                let label = job.steps[index].label(index: index)
                if let exitCode {
                    state.fail("\(label) exited with code \(exitCode)")
                } else {
                    state.fail("\(label) timed out after \(Self.seconds(job.steps[index].timeout!))", reason: .timeout)
                }
                break
            }
            // Stop the rest (and the timer), and wait until their containers are gone. A stopped
            // step has no exit code but says when it ended.
            group.cancelAll()
            while true {
                do {
                    guard let (index, exitCode) = try await group.next() else { break }
                    guard index >= 0 else { continue }
                    wiring.recordFlows(in: &state)
                    state.steps[index].exitCode = exitCode
                    state.steps[index].finishedAt = Date()
                } catch {
                    guard let index = (error as? StepFailure)?.index else { continue }
                    state.steps[index].finishedAt = Date()
                }
            }
        }
    }

    /// What happens to a step as it runs, for whoever owns the job's state to apply
    /// (``JobState/apply(_:to:)``): the runner of a chain at once, a graph's scheduler in the
    /// order its steps report.
    enum StepEvent: Sendable {
        /// Its image is made ready; its state starts again as `fresh`.
        case preparing(fresh: StepState)
        /// Its container runs.
        case running
        /// An attempt ended with this exit code (nil: timed out); `retrying` when another follows.
        /// `firstByteAt`: when its container wrote its first byte.
        case attempt(exitCode: Int32?, retrying: Bool, firstByteAt: Date?)
        /// It exited 0, passing on this many bytes (and newlines, when they were counted).
        case succeeded(outputBytes: Int64?, outputLines: Int64? = nil)
        /// It failed, for this reason, said so.
        case failed(message: String, reason: FailureReason)
        /// It did not run: the cache gave an earlier run's output and log.
        case cached(CacheOrigin)
    }

    /// Runs step `index`: its attempts, within its timeout and the job's deadline, reading
    /// `input`, telling `emit` what happens. Ends with `succeeded` or `failed` emitted, or throws
    /// what stopped it (a missing image, cancellation).
    func runStep(
        _ index: Int,
        of job: Job,
        id: String,
        spoolDirectory: FilePath,
        deadline: ContinuousClock.Instant?,
        input: StepInput,
        observer: some JobObserver,
        emit: (StepEvent) async -> Void
    ) async throws {
        let step = job.steps[index]
        let label = step.label(index: index)
        let image = try ImageReference(parsing: step.source)
        await emit(.preparing(fresh: StepState(attempts: step.retries == nil ? nil : [])))
        try await runtime.prepareImage(image, refresh: step.refresh ?? false) { progress in
            await observer.jobDidPull(step: index, progress: progress)
        }
        await emit(.running)
        let outputPath = Self.outputPath(step: index, in: spoolDirectory)
        var cacheKey: String?
        if job.caches(step: index), let cache {
            let key = try await cache.key(
                job: job, step: index, imageID: try await runtime.imageID(image), inputs: try await input.digests())
            if let hit = await cache.lookup(key),
                let replay = await Self.take(
                    hit, into: outputPath, tape: spoolDirectory.appending("step-\(index + 1).replay"))
            {
                defer { Task { _ = try? await FileSystem.shared.removeItem(at: replay) } }
                try await LogTape.replay(replay, step: index) { await observer.jobDidLog($0) }
                await emit(.cached(hit.origin))
                await emit(.succeeded(outputBytes: hit.bytes))
                return
            }
            cacheKey = key
        }

        let attempts = 1 + max(0, step.retries ?? 0)
        var delay = Duration.seconds(step.retryDelay ?? 1)
        for attempt in 1...attempts {
            var limit = step.timeout.map { Duration.seconds($0) }
            var jobLimited = false
            if let deadline {
                let left = deadline - .now
                if limit == nil || left < limit! {
                    limit = max(left, .zero)
                    jobLimited = true
                }
            }
            // A step to cache keeps its log lines on a tape as they pass.
            let tape = cacheKey.map { _ in LogTape(path: spoolDirectory.appending("step-\(index + 1).tape")) }
            let output = StepOutput(tap: tap(job: id, step: index))
            let exitCode = try await Self.within(limit) {
                defer { taps?.end(job: id, step: index) }
                if let tape {
                    return try await execute(
                        index, of: job, image: image, id: id, spoolDirectory: spoolDirectory,
                        observer: TapingObserver(observer: observer, tape: tape, step: index), input: input,
                        output: output, attempt: attempt)
                }
                return try await execute(
                    index, of: job, image: image, id: id, spoolDirectory: spoolDirectory, observer: observer,
                    input: input, output: output, attempt: attempt)
            }
            let retrying = exitCode != 0 && attempt < attempts && !(exitCode == nil && jobLimited)
            await emit(.attempt(exitCode: exitCode, retrying: retrying, firstByteAt: output.firstByte.at))
            if exitCode == 0 {
                if let cache, let cacheKey, let tape, await tape.flush() {
                    await cache.store(
                        cacheKey, output: outputPath, log: tape.path, origin: CacheOrigin(job: id, step: index + 1))
                }
                // A file's lines are not counted: it is copied out whole, not passed through.
                let lines = step.outputChannel.isFile ? nil : output.tap.lines
                await emit(.succeeded(outputBytes: await Self.size(of: outputPath), outputLines: lines))
                return
            }
            if let tape { _ = try? await FileSystem.shared.removeItem(at: tape.path) }
            let failure: String
            if exitCode != nil {
                failure = "\(label) exited with code \(exitCode!)"
            } else if jobLimited {
                await emit(
                    .failed(
                        message: "the job timed out after \(Self.seconds(job.timeout!)) in \(label)", reason: .timeout))
                return
            } else {
                failure = "\(label) timed out after \(Self.seconds(step.timeout!))"
            }
            guard retrying else {
                let tries = attempts > 1 ? " (attempt \(attempt) of \(attempts))" : ""
                await emit(.failed(message: failure + tries, reason: exitCode == nil ? .timeout : .failed))
                return
            }
            try await Task.sleep(for: delay)
            delay = min(delay * 2, .seconds(60))
        }
    }

    /// Runs attempt `attempt` (from 1) of step `index` in its container, reading `input`, and
    /// spooling its selected output, or in a streaming job writing it to `output`'s pipes (and
    /// its spool when `output` says so).
    func execute(
        _ index: Int,
        of job: Job,
        image: ImageReference,
        id: String,
        spoolDirectory: FilePath,
        observer: some JobObserver,
        input: StepInput,
        output: StepOutput = StepOutput(),
        attempt: Int = 1
    ) async throws -> Int32 {
        // One span per attempt, with the figures of the edge it writes; the engine's calls for it
        // are its children, and the step can join the trace through its TRACEPARENT.
        try await withSpan("step \(index + 1)", ofKind: .internal) { span in
            span.attributes["dray.step.index"] = index + 1
            if let name = job.steps[index].name { span.attributes["dray.step.name"] = name }
            span.attributes["dray.step.attempt"] = attempt
            span.attributes["dray.step.image"] = image.description
            let exitCode = try await executeContainer(
                index, of: job, image: image, id: id, spoolDirectory: spoolDirectory, observer: observer,
                input: input, output: output, attempt: attempt, traceParent: TraceContext.current())
            span.attributes["dray.step.exit_code"] = Int(exitCode)
            if exitCode != 0 { span.setStatus(SpanStatus(code: .error, message: "exited with code \(exitCode)")) }
            if span.isRecording { await Self.record(output, of: index, in: spoolDirectory, input: input, on: span) }
            return exitCode
        }
    }

    /// Sets the figures of the edges of a step's attempt as its span's attributes: what it
    /// passed on (`dray.edge.*`: bytes, lines, the time it was blocked by its slowest reader and
    /// the time that reader waited for it), and the time it waited for a live input.
    static func record(
        _ output: StepOutput, of index: Int, in spoolDirectory: FilePath, input: StepInput, on span: any Span
    ) async {
        let flows = output.pipes.map(\.flow)
        let bytes =
            output.spool ? await size(of: outputPath(step: index, in: spoolDirectory)) : flows.map(\.bytes).max()
        span.record("dray.edge.bytes", bytes)
        span.record("dray.edge.lines", output.tap.lines)
        span.record("dray.edge.blocked_seconds", flows.map { StreamWiring.milliseconds($0.blocked) }.max())
        span.record("dray.edge.waited_seconds", flows.map { StreamWiring.milliseconds($0.waited) }.max())
        if case .pipe(let pipe) = input {
            span.record("dray.input.waited_seconds", StreamWiring.milliseconds(pipe.flow.waited))
        }
    }

    /// The container of attempt `attempt` of step `index`, but for its input.
    private func containerSpec(
        _ index: Int, of job: Job, image: ImageReference, id: String, attempt: Int, traceParent: String?
    ) -> ContainerSpec {
        let step = job.steps[index]
        var spec = ContainerSpec(
            image: image,
            environment: job.environment(forStep: index, id: id, attempt: attempt, traceParent: traceParent),
            labels: ["dray.job": id, "dray.step": String(index + 1)],
            // A job stored before the server's ceiling was lowered still gets no more than it.
            stopGracePeriod: min(step.stopGracePeriod ?? Step.defaultStopGracePeriod, defaults.maxStopGrace)
        )
        spec.options = step.options.filled(with: defaults)
        return spec
    }

    /// Has the runtime make the container of chain step `index` now, ahead of its run: the
    /// engine creates it while the step before runs, off the path from one step to the next.
    /// Not for a step that pulls its image again, or may come from the cache, or is traced
    /// (its context is its own span's): those are made when they run.
    func prepareAhead(_ index: Int, of job: Job, id: String) {
        let step = job.steps[index]
        guard step.refresh != true, !job.caches(step: index), TraceContext.current() == nil,
            let image = try? ImageReference(parsing: step.source)
        else { return }
        runtime.prepare(containerSpec(index, of: job, image: image, id: id, attempt: 1, traceParent: nil))
    }

    private func executeContainer(
        _ index: Int, of job: Job, image: ImageReference, id: String, spoolDirectory: FilePath,
        observer: some JobObserver, input: StepInput, output: StepOutput, attempt: Int, traceParent: String?
    ) async throws -> Int32 {
        var spec = containerSpec(index, of: job, image: image, id: id, attempt: attempt, traceParent: traceParent)
        switch input {
        case .none: break
        case .spool(let path): spec.stdin = path
        case .pipe(let pipe): spec.stdinPipe = pipe
        case .files(let files):
            spec.inputFiles = files.map { .init(containerPath: StepInput.folder + "/" + $0.name, localPath: $0.path) }
        case .concat(let parts):
            // The inputs one after the other, fed into the container's stdin as it reads.
            let pipe = BytePipe()
            spec.stdinPipe = pipe
            return try await withThrowingTaskGroup(of: Int32?.self) { group in
                group.addTask {
                    await StepInput.feed(parts, into: pipe)
                    return nil
                }
                defer { group.cancelAll() }
                return try await run(
                    spec, step: index, of: job, spoolDirectory: spoolDirectory, observer: observer, output: output)
            }
        }
        return try await run(
            spec, step: index, of: job, spoolDirectory: spoolDirectory, observer: observer, output: output)
    }

    /// Runs `spec`, the container of step `index`, logging its output and passing its selected
    /// output on: to the step's spool, to `output`'s pipes, or both.
    private func run(
        _ spec: ContainerSpec, step index: Int, of job: Job, spoolDirectory: FilePath, observer: some JobObserver,
        output: StepOutput
    ) async throws -> Int32 {
        var spec = spec
        let step = job.steps[index]
        let outputPath = Self.outputPath(step: index, in: spoolDirectory)
        var logger = StepLogger(
            step: index, observer: observer, mask: SecretMask(job.secretValues), firstByte: output.firstByte)
        var filter = step.beginDelimiter.flatMap { begin in
            step.endDelimiter.map { DelimiterFilter(begin: begin, end: $0) }
        }

        if case .file(let path) = step.outputChannel {
            let copied = filter == nil ? outputPath : spoolDirectory.appending("step-\(index + 1).file")
            spec.outputFile = .init(containerPath: path, localPath: copied)
            await SpoolDigest.forget(for: outputPath)
            _ = try? await FileSystem.shared.removeItem(at: outputPath)
            let exitCode = try await runtime.run(spec) { await logger.log($0) }
            await logger.finish()
            if exitCode == 0, var filter {
                try await Self.filter(copied, into: outputPath, with: &filter)
                try await FileSystem.shared.removeItem(at: copied)
            }
            if exitCode == 0 { try await SpoolDigest.compute(of: outputPath).keep(for: outputPath) }
            return exitCode
        }

        let selected: StandardStream = step.outputChannel == .stderr ? .stderr : .stdout
        let pipes = output.pipes
        let tap = output.tap
        if !output.spool {
            @Sendable func pass(_ bytes: ByteBuffer) async {
                tap.offer(bytes)
                for pipe in pipes { await pipe.write(bytes) }
            }
            let exitCode = try await runtime.run(spec) { chunk in
                await logger.log(chunk)
                guard chunk.stream == selected else { return }
                if filter != nil {
                    await filter!.feed(chunk.bytes) { await pass($0) }
                } else {
                    await pass(chunk.bytes)
                }
            }
            await filter?.finish { await pass($0) }
            await logger.finish()
            return exitCode
        }
        // The spool's digest is taken as it is written, and kept beside it once it is whole. The
        // spool is a new file, not the old one overwritten: the cache may hold a link to that.
        // It is written in place (not to a temporary file renamed at the end), so that a tap can
        // replay what it holds while the step runs.
        await SpoolDigest.forget(for: outputPath)
        _ = try? await FileSystem.shared.removeItem(at: outputPath)
        var digest = RunningDigest()
        let exitCode = try await FileSystem.shared.withFileHandle(
            forWritingAt: outputPath,
            options: OpenOptions.Write(existingFile: .none, newFile: .init(transactionalCreation: false))
        ) { handle in
            var writer = handle.bufferedWriter(capacity: .kibibytes(256))
            // A tap's reader that replays the spool asks for the bytes written so far to be in
            // the file: they are flushed when the next bytes pass.
            func pass(_ bytes: ByteBuffer) async throws {
                try await writer.write(contentsOf: bytes)
                digest.update(bytes)
                if tap.offer(bytes) { try await writer.flush() }
                for pipe in pipes { await pipe.write(bytes) }
            }
            let exitCode = try await runtime.run(spec) { chunk in
                await logger.log(chunk)
                guard chunk.stream == selected else { return }
                if filter != nil {
                    try await filter!.feed(chunk.bytes) { try await pass($0) }
                } else {
                    try await pass(chunk.bytes)
                }
            }
            try await filter?.finish { try await pass($0) }
            try await writer.flush()
            await logger.finish()
            return exitCode
        }
        if exitCode == 0 { try await digest.finish().keep(for: outputPath) }
        return exitCode
    }

    /// Takes a cache hit's output into the step's spool (with its digest) and its log tape to
    /// `tape`, both linked or copied before anything is replayed, so that an entry dropped
    /// meanwhile (the cache is full) makes the step run rather than fail. Returns the tape, or
    /// nil when the entry could not be had.
    static func take(_ hit: StepCache.Hit, into output: FilePath, tape: FilePath) async -> FilePath? {
        do {
            try await StepCache.linkOrCopy(hit.output, to: output)
            try await StepCache.linkOrCopy(hit.log, to: tape)
            let digest: SpoolDigest
            if let kept = hit.digest {
                digest = kept
            } else {
                digest = try await SpoolDigest.compute(of: output)
            }
            try await digest.keep(for: output)
            return tape
        } catch {
            _ = try? await FileSystem.shared.removeItem(at: output)
            return nil
        }
    }

    /// A file's size in bytes, nil when it cannot be read.
    public static func size(of path: FilePath) async -> Int64? {
        (try? await FileSystem.shared.info(forFileAt: path)).flatMap { $0.map { Int64($0.size) } }
    }

    /// Runs `body`, or cancels it once `limit` has passed and returns nil when it has ended.
    static func within(_ limit: Duration?, _ body: @escaping @Sendable () async throws -> Int32) async throws -> Int32?
    {
        guard let limit else { return try await body() }
        return try await withThrowingTaskGroup(of: Int32?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: limit)
                return nil
            }
            let first = try await group.next()!
            group.cancelAll()
            // The body stops its container when canceled: wait for that.
            while (try? await group.next()) != nil {}
            return first
        }
    }

    /// `30 s`, `1.5 s`.
    static func seconds(_ value: Double) -> String {
        value == value.rounded() ? "\(Int(value)) s" : "\(value) s"
    }

    /// Copies `source` to `destination`, keeping only the delimited lines.
    private static func filter(_ source: FilePath, into destination: FilePath, with filter: inout DelimiterFilter)
        async throws
    {
        try await FileSystem.shared.withFileHandle(forReadingAt: source) { input in
            try await FileSystem.shared.withFileHandle(
                forWritingAt: destination,
                options: .newFile(replaceExisting: true)
            ) { output in
                var writer = output.bufferedWriter()
                for try await chunk in input.readChunks() {
                    try await filter.feed(chunk) { try await writer.write(contentsOf: $0) }
                }
                try await filter.finish { try await writer.write(contentsOf: $0) }
                try await writer.flush()
            }
        }
    }
}

/// Turns a step's output chunks into log lines, one ``MaskedLines`` per stream, so that no
/// observer sees a secret.
private struct StepLogger<Observer: JobObserver> {
    let step: Int
    let observer: Observer
    private var stdout: MaskedLines
    private var stderr: MaskedLines
    /// Marked at the first chunk that holds a byte.
    private var firstByte: FirstByte?

    init(step: Int, observer: Observer, mask: SecretMask, firstByte: FirstByte) {
        self.step = step
        self.observer = observer
        stdout = MaskedLines(mask: mask)
        stderr = MaskedLines(mask: mask)
        self.firstByte = firstByte
    }

    mutating func log(_ chunk: OutputChunk) async {
        if firstByte != nil, chunk.bytes.readableBytes > 0 { firstByte.take()?.mark() }
        let lines = chunk.stream == .stdout ? stdout.feed(chunk.bytes) : stderr.feed(chunk.bytes)
        if !lines.isEmpty { await observer.jobDidLog(LogLine.lines(lines, step: step, stream: chunk.stream)) }
    }

    mutating func finish() async {
        let (out, err) = (stdout.finish(), stderr.finish())
        // The masked rest of both streams, then their last lines without a newline, as before.
        let lines =
            LogLine.lines(out.masked, step: step, stream: .stdout)
            + LogLine.lines(err.masked, step: step, stream: .stderr)
            + LogLine.lines(out.last.map { [$0] } ?? [], step: step, stream: .stdout)
            + LogLine.lines(err.last.map { [$0] } ?? [], step: step, stream: .stderr)
        if !lines.isEmpty { await observer.jobDidLog(lines) }
    }
}

/// One stream cut into lines, with secrets masked in its bytes before they are cut, so that a
/// secret split across chunks or lines is masked too: the log's lines and a tap's.
struct MaskedLines: Sendable {
    private let mask: SecretMask
    private var carry = SecretMask.Carry()
    private var splitter = LineSplitter()

    init(mask: SecretMask) {
        self.mask = mask
    }

    /// The lines that `bytes` completes.
    mutating func feed(_ bytes: ByteBuffer) -> [[UInt8]] {
        splitter.feedBytes(mask.isEmpty ? bytes : mask.feed(bytes, carry: &carry))
    }

    /// Once the stream has ended: the lines the mask held back, and the last line when the
    /// stream did not end with a newline.
    mutating func finish() -> (masked: [[UInt8]], last: [UInt8]?) {
        let masked = mask.isEmpty ? [] : splitter.feedBytes(mask.finish(&carry))
        return (masked, splitter.finishBytes())
    }
}

extension LogLine {
    /// `lines` of one step's stream as log lines. (Not in the generic step logger: a closure
    /// there looked up the logger's generic type for every line.)
    static func lines(_ lines: [[UInt8]], step: Int, stream: StandardStream) -> [LogLine] {
        lines.map { LogLine(step: step, stream: stream, bytes: $0) }
    }
}
