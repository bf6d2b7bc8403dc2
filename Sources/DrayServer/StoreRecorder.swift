import DrayEngine
import Foundation
import Logging
import Synchronization

/// The ``JobObserver`` of a job run by the server: it writes the job's log and state to the
/// store, log lines in batches at least every ``flushInterval`` and at every state change
/// (a step's start or end), so a crash loses at most that window of log.
///
/// One writer task does every write, in order, so a state never reaches the store before the
/// log lines that came before it. A failed write is retried with backoff until it succeeds or
/// the job is gone.
final class StoreRecorder: JobObserver, Sendable {
    static let flushInterval = Duration.milliseconds(100)
    /// The most lines one store call appends, so that a fast writer's backlog goes in bounded calls.
    static let batchLimit = 10_000
    /// How much log may wait for the store, in lines and in bytes of text. Beyond it, a step's
    /// next lines wait until the store has caught up, and with them the reading of the step's
    /// output: memory stays bounded however fast a step logs and however slow the store is.
    static let pendingLineLimit = 5_000
    static let pendingByteLimit = 1 << 20

    private let id: String
    /// The node that runs the job, and the job's version as it claimed it: its state writes are
    /// refused once the job is not its own, or was written by anyone else since.
    private let owner: (node: String, version: Int)?
    /// The version of this node's last state write.
    private let version: Mutex<Int>
    private let store: any JobStore
    private let logger: Logger
    private let metrics: DrayMetrics?
    private let pending = Mutex(Pending())
    /// The job was canceled: writes give up after a few tries.
    private let stopping = Mutex(false)
    /// A state write was refused: the job is no longer this node's.
    private let fenced = Mutex(false)
    /// `--max-log-bytes`: which lines are written now, which wait for the job's end.
    private let budget: Mutex<LogBudget>
    private let wake: AsyncStream<Void>.Continuation
    private let wakes: AsyncStream<Void>
    /// Called after each write reached the store: true when it wrote the job's state.
    private let didWrite: @Sendable (_ state: Bool) -> Void

    private struct Pending {
        var lines: [LogLine] = []
        var bytes = 0
        var state: JobState?
        /// Loggers waiting for room.
        var waiting: [CheckedContinuation<Void, Never>] = []

        var isFull: Bool { lines.count >= StoreRecorder.pendingLineLimit || bytes >= StoreRecorder.pendingByteLimit }
    }

    init(
        id: String, store: any JobStore, logger: Logger, owner: (node: String, version: Int)? = nil,
        metrics: DrayMetrics? = nil, steps: [StepState] = [], maxLogBytes: Int? = nil,
        didWrite: @escaping @Sendable (_ state: Bool) -> Void = { _ in }
    ) {
        self.id = id
        budget = Mutex(LogBudget(limit: maxLogBytes))
        self.owner = owner
        version = Mutex(owner?.version ?? 0)
        seenSteps = Mutex(steps)
        self.metrics = metrics
        self.store = store
        self.logger = logger
        self.didWrite = didWrite
        (wakes, wake) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Runs `body` with this recorder observing it, and returns once everything it recorded is written.
    ///
    /// The writer is not a child of the calling task: when the job is canceled (deleted, or the
    /// server stopping), it must still write how the job ended. Cancellation only makes it give
    /// up sooner on a store that fails.
    func recording<T: Sendable>(_ body: @Sendable (StoreRecorder) async -> T) async -> T {
        let writer = Task { await self.write() }
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: Self.flushInterval)
                self.wake.yield()
            }
        }
        let result = await withTaskCancellationHandler {
            await body(self)
        } onCancel: {
            stopping.withLock { $0 = true }
        }
        ticker.cancel()
        wake.finish()
        await writer.value
        return result
    }

    func jobDidChange(_ state: JobState) {
        logSteps(state)
        // The log's held-back tail goes before the state that ends the job.
        let held = state.status == .running ? [] : budget.withLock { $0.finish() }
        pending.withLock { pending in
            pending.lines += held
            pending.bytes += held.reduce(0) { $0 + $1.bytes.count }
            pending.state = state
        }
        wake.yield()
    }

    /// The steps as last seen (at first, as they were when the job was started or resumed), to
    /// log each one's start and end once.
    private let seenSteps: Mutex<[StepState]>

    /// Logs the steps that started or ended since the last state, with the job and step as fields.
    private func logSteps(_ state: JobState) {
        let before = seenSteps.withLock { seen in
            defer { seen = state.steps }
            return seen
        }
        for (index, step) in state.steps.enumerated() {
            let old = index < before.count ? before[index] : StepState()
            var metadata: Logger.Metadata = ["job": "\(id)", "step": "\(index + 1)"]
            if step.startedAt != nil, old.startedAt == nil { logger.debug("step started", metadata: metadata) }
            if let finished = step.finishedAt, old.finishedAt == nil {
                metadata["exitCode"] = step.exitCode.map { "\($0)" } ?? "none"
                if let started = step.startedAt {
                    metadata["seconds"] = "\(String(format: "%.3f", finished.timeIntervalSince(started)))"
                }
                if let bytes = step.outputBytes { metadata["outputBytes"] = "\(bytes)" }
                logger.info("step ended", metadata: metadata)
            }
        }
    }

    func jobDidLog(_ lines: [LogLine]) async {
        metrics?.logged(lines: lines.count)
        let lines = budget.withLock { $0.admit(lines) }
        guard !lines.isEmpty else { return }
        let full = pending.withLock { pending in
            pending.lines += lines
            pending.bytes += lines.reduce(0) { $0 + $1.bytes.count }
            return pending.isFull
        }
        guard full else { return }
        wake.yield()
        await withCheckedContinuation { continuation in
            let room = pending.withLock { pending in
                guard pending.isFull else { return true }
                pending.waiting.append(continuation)
                return false
            }
            if room { continuation.resume() }
        }
    }

    func jobDidPull(step: Int, progress: String) {
        logger.debug("pulling", metadata: ["job": "\(id)", "step": "\(step + 1)", "progress": "\(progress)"])
    }

    /// The writer: drains what is pending whenever woken, and once more at the end.
    private func write() async {
        for await _ in wakes { await drain() }
        await drain()
    }

    private func drain() async {
        let (lines, state, waiting) = pending.withLock { pending in
            defer { pending = Pending() }
            return (pending.lines, pending.state, pending.waiting)
        }
        // What was pending is taken: there is room again.
        for waiter in waiting { waiter.resume() }
        // Once fenced, the job is another node's: nothing more of this run is written.
        guard !lines.isEmpty || state != nil, !fenced.withLock({ $0 }) else { return }
        for start in stride(from: 0, to: lines.count, by: Self.batchLimit) {
            let batch =
                lines.count <= Self.batchLimit ? lines : Array(lines[start..<min(start + Self.batchLimit, lines.count)])
            // One token for every try: a retry after a lost answer adds nothing twice.
            let token = UUID()
            await retrying("append \(batch.count) log lines") {
                try await self.store.appendLog(id: self.id, lines: batch, batch: token)
            }
        }
        if let state {
            var tries = 0
            await retrying("update the state") {
                tries += 1
                guard let node = self.owner?.node else { return try await self.store.update(id: self.id, state: state) }
                let version = self.version.withLock { $0 }
                do {
                    try await self.store.update(id: self.id, state: state, owner: node, version: version)
                } catch let error as DrayError where error.code == .conflict && tries > 1 {
                    // A retry after a lost answer: the first try may have landed. It did when the
                    // job is still this node's, one version on (only its owner writes a job it
                    // holds; a reaper takes the node away).
                    guard let now = try await self.store.job(id: self.id), now.node == node, now.version == version + 1
                    else { throw error }
                }
                self.version.withLock { $0 = version + 1 }
            }
        }
        didWrite(state != nil)
    }

    /// Retries `write` with exponential backoff (100 ms to 5 s) until it succeeds or the job was
    /// deleted; once the job is canceled, three tries at most.
    private func retrying(_ what: String, _ write: () async throws -> Void) async {
        var delay = Duration.milliseconds(100)
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await write()
            } catch let error as DrayError where error.code == .notFound {
                return
            } catch let error as DrayError where error.code == .conflict {
                // Fenced: the job is no longer this node's.
                fenced.withLock { $0 = true }
                logger.error("cannot \(what): \(error.message)", metadata: ["job": "\(id)"])
                return
            } catch  where attempt >= 3 && stopping.withLock({ $0 }) {
                logger.error("gave up trying to \(what) after \(attempt) tries: \(error)", metadata: ["job": "\(id)"])
                return
            } catch {
                logger.warning("cannot \(what); retrying in \(delay): \(error)", metadata: ["job": "\(id)"])
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
    }
}
