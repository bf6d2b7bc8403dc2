import NIOFileSystem

/// How the steps of a streaming job are joined: which edges are live pipes, which are read
/// from their producer's spool once it has completed, and what each step reads and writes.
///
/// An edge is live when its consumer reads only that input, or it is the first of a `concat`;
/// the other inputs of a `concat`, and every input of `files`, are spooled. A step spools its
/// output when a spooled edge leaves it, when no step reads it (its output is the job's), or
/// when the job is `durable`. A step that is `done` (a durable job's resume) does not run: the
/// edges that leave it are read from its spool.
struct StreamWiring: Sendable {
    /// Each step's output: the live pipes of its consumers, and whether it is spooled too.
    let outputs: [StepOutput]
    /// Each step's end, for the steps that read its spool.
    let completions: [StepCompletion]
    private let inputs: [Wire]
    private let spoolDirectory: FilePath

    private enum Wire: Sendable {
        case none
        case live(BytePipe)
        case spool(producer: Int)
        /// The first input live (nil when it is read from a spool too), then the spooled ones.
        case concat(live: BytePipe?, spooled: [Int])
        case files([(name: String, producer: Int)])
    }

    /// - Parameters:
    ///   - after: The steps that run once the streamed ones have ended, on spools.
    ///   - done: The steps that completed in an earlier run, whose spools hold their output.
    ///   - tap: The tap of each step's run, which counts what it passes on.
    init(
        _ job: Job, graph: JobGraph, after: Set<Int> = [], done: Set<Int> = [], spoolDirectory: FilePath,
        tap: (Int) -> EdgeTap = { _ in EdgeTap() }
    ) {
        self.spoolDirectory = spoolDirectory
        var pipes = [[BytePipe]](repeating: [], count: job.steps.count)
        var spooled = graph.consumers.map { $0.isEmpty || job.durable == true }
        var inputs: [Wire] = []
        for (consumer, needs) in graph.needs.enumerated() {
            if after.contains(consumer) || done.contains(consumer) {
                for producer in needs where after.contains(consumer) { spooled[producer] = true }
                inputs.append(.none)
                continue
            }
            switch needs.count {
            case 0:
                inputs.append(.none)
            case 1 where done.contains(needs[0]):
                inputs.append(.spool(producer: needs[0]))
            case 1:
                let pipe = BytePipe()
                pipes[needs[0]].append(pipe)
                inputs.append(.live(pipe))
            default:
                if job.steps[consumer].inputs == .files {
                    for producer in needs { spooled[producer] = true }
                    inputs.append(.files(needs.map { (job.steps[$0].name ?? "", $0) }))
                } else if done.contains(needs[0]) {
                    for producer in needs { spooled[producer] = true }
                    inputs.append(.concat(live: nil, spooled: needs))
                } else {
                    let pipe = BytePipe()
                    pipes[needs[0]].append(pipe)
                    for producer in needs.dropFirst() { spooled[producer] = true }
                    inputs.append(.concat(live: pipe, spooled: Array(needs.dropFirst())))
                }
            }
        }
        outputs = pipes.indices.map { StepOutput(pipes: pipes[$0], spool: spooled[$0], tap: tap($0)) }
        completions = job.steps.map { _ in StepCompletion() }
        for index in done { completions[index].end(true) }
        self.inputs = inputs
    }

    /// What step `index` reads. For `files`, once every input's producer completed; a producer
    /// that did not is a cancellation: the job is failing, and this step is stopped.
    func input(of index: Int) async throws -> StepInput {
        switch inputs[index] {
        case .none: return .none
        case .live(let pipe): return .pipe(pipe)
        case .spool(let producer): return .spool(JobRunner.outputPath(step: producer, in: spoolDirectory))
        case .concat(let live, let spooled):
            return .concat(
                (live.map { [StepInput.Part.pipe($0)] } ?? [])
                    + spooled.map {
                        .spool(JobRunner.outputPath(step: $0, in: spoolDirectory), ready: completions[$0])
                    })
        case .files(let files):
            for (_, producer) in files where await !completions[producer].value() {
                throw CancellationError()
            }
            return .files(files.map { ($0.name, JobRunner.outputPath(step: $0.producer, in: spoolDirectory)) })
        }
    }

    /// The live pipe that step `index` reads, if it reads one, and the step that writes it.
    func livePipe(of index: Int) -> (pipe: BytePipe, producer: Int)? {
        let pipe: BytePipe
        switch inputs[index] {
        case .live(let live): pipe = live
        case .concat(let live?, _): pipe = live
        default: return nil
        }
        guard let producer = outputs.firstIndex(where: { $0.pipes.contains { $0 === pipe } }) else { return nil }
        return (pipe, producer)
    }

    /// True when a step reads another's output as it is written.
    var hasLiveEdges: Bool { outputs.contains { !$0.pipes.isEmpty } }

    /// Writes what has come through each live pipe so far into its reader's state.
    func recordFlows(in state: inout JobState) {
        for index in inputs.indices {
            guard let (pipe, producer) = livePipe(of: index) else { continue }
            let flow = pipe.flow
            state.steps[index].input = InputFlow(
                bytes: flow.bytes, lines: outputs[producer].tap.lines,
                blockedSeconds: Self.milliseconds(flow.blocked), waitedSeconds: Self.milliseconds(flow.waited))
        }
    }

    /// Seconds, to the millisecond.
    static func milliseconds(_ duration: Duration) -> Double {
        (duration.timeInterval * 1000).rounded() / 1000
    }

    /// The bytes step `index` passed on: its spool's size, or what its pipes took.
    func outputBytes(of index: Int) async -> Int64? {
        if outputs[index].spool {
            return await JobRunner.size(of: JobRunner.outputPath(step: index, in: spoolDirectory))
        }
        return outputs[index].pipes.map(\.bytesWritten).max()
    }
}
