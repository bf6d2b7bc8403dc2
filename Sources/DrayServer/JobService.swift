import DrayEngine
import Foundation
import Logging
import NIOFileSystem
import ServiceLifecycle
import Synchronization

/// One node's part of the control plane, which lives in the store (``JobQueue``): it claims
/// queued jobs while it has free slots (at most ``Configuration/maxConcurrentJobs``), runs them
/// and records them; keeps its lease (``Configuration/lease``) and acts on the stop requests
/// that any node took for its jobs; ends the jobs of nodes whose lease ran out; frees old
/// spools and jobs; and on shutdown gives its running jobs a grace period to finish. Its
/// queued jobs stay queued in the store, for the next node or the next start.
///
/// The routes call only this service.
public actor JobService: Service {
    public struct Configuration: Sendable {
        /// How many jobs run at once on this node; later ones wait, in order, in phase `queued`.
        /// 0 makes a node that serves the API and runs no jobs (with a store that other nodes share).
        public var maxConcurrentJobs = 4
        /// How long the step outputs of a finished job are kept (for resume and `/output`); nil: forever.
        public var keepOutputs: Duration? = .seconds(24 * 3600)
        /// How long a finished job is kept at all; nil (the default): until deleted.
        public var jobTTL: Duration?
        /// On shutdown, how long running jobs may take to finish before they are stopped.
        public var shutdownGrace: Duration = .seconds(10)
        /// What a step may ask for at most, and gets when it does not ask.
        public var stepLimits = StepLimits()
        /// Which registries steps' images may come from.
        public var registries = RegistryPolicy()
        /// This node's id: its claims, its lease, its containers' `dray.node` label.
        public var node = "local"
        /// How long this node's lease lasts unless renewed; it is renewed every third of it.
        public var lease: Duration = .seconds(30)
        /// How often the queue is looked at when nothing wakes this node.
        public var pollInterval: Duration = .seconds(1)
        /// Be woken by the store's change feed (PostgreSQL's NOTIFY), not only by polling.
        public var listen = true

        public init() {}

        /// How often finished jobs are looked at for clean-up.
        var sweepInterval: Duration {
            let shortest = [keepOutputs, jobTTL].compactMap { $0 }.min() ?? .seconds(600)
            return min(max(shortest / 10, .milliseconds(200)), .seconds(60))
        }
    }

    public let store: any JobStore
    public let runtime: any ContainerRuntime
    public let configuration: Configuration
    private let runner: JobRunner
    private let spoolRoot: FilePath
    private let logger: Logger
    /// The jobs running on this node. Each task is owned here: canceled on cancel, delete and shutdown.
    private var running: [String: Task<Void, Never>] = [:]
    /// Why a running job was stopped, read by its runner as it ends.
    private let stopReasons = StopReasons()
    /// Jobs whose spools were freed already.
    private var freed: Set<String> = []
    private var accepting = true
    /// A claim is under way; another wish to claim sets `claimAgain`.
    private var claiming = false
    private var claimAgain = false
    /// Wakes the claim loop: a job was submitted or resumed here, or a slot came free.
    private let wake: AsyncStream<Void>.Continuation
    private let wakes: AsyncStream<Void>
    /// Wakes live-log readers when a job's log or state was written.
    nonisolated let changes = ChangeBoard()
    /// What `GET /metrics` reports.
    public nonisolated let metrics: DrayMetrics
    /// How ``run()``'s start (preparing the store, recovering) ended, for ``started()``.
    private let startup = Once<Result<Void, any Error>>()

    public init(
        store: any JobStore, runtime: any ContainerRuntime, spoolRoot: FilePath, logger: Logger,
        configuration: Configuration = Configuration(), metrics: DrayMetrics = DrayMetrics()
    ) {
        self.metrics = metrics
        self.store = store
        self.runtime = runtime
        self.runner = JobRunner(runtime: runtime, defaults: configuration.stepLimits)
        self.spoolRoot = spoolRoot
        self.logger = logger
        self.configuration = configuration
        (wakes, wake) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    private var node: String { configuration.node }

    /// The message of a job that was running when the server stopped.
    public static let restartMessage = "server restarted while the job was running"

    /// Takes this node's lease (a store that holds one node refuses a second one), ends the jobs
    /// of nodes whose lease ran out, ends in `error` the jobs this node left running when it
    /// stopped, and removes this node's leftover containers. Queued jobs stay queued. Call it
    /// before serving.
    func recover() async throws {
        _ = try await store.heartbeat(node: node, lease: configuration.lease)
        await reap()
        let records = try await store.jobs()
        for var record in records where record.state.status == .running && running[record.id] == nil {
            // This node's, or a job an earlier version left running without a node.
            guard record.node == node || (record.node == nil && record.state.phase != .queued) else { continue }
            record.state.fail(Self.restartMessage, reason: .restarted)
            try await store.update(id: record.id, state: record.state)
            logger.notice(
                "the job was running when the server stopped; it is now in error", metadata: ["job": "\(record.id)"])
        }
        let known = Set(records.map(\.id))
        for container in try await runtime.jobContainers()
        where known.contains(container.jobID) && running[container.jobID] == nil
            && (container.node == nil || container.node == node)
        {
            do {
                try await runtime.removeContainer(container.id)
                logger.notice(
                    "removed a container of the job",
                    metadata: ["job": "\(container.jobID)", "container": "\(container.id)"])
            } catch {
                logger.warning(
                    "cannot remove a container of the job: \(error)",
                    metadata: ["job": "\(container.jobID)", "container": "\(container.id)"])
            }
        }
    }

    /// A page of the job list, from the store's summaries.
    public nonisolated func list(_ listing: JobListing) async throws -> JobPage {
        try await store.list(listing)
    }

    /// Whether the store and the container engine answer: the problems, none when ready.
    public nonisolated func readiness() async -> [String] {
        var problems: [String] = []
        do { try await store.ping() } catch { problems.append("the store does not answer: \(error)") }
        do { try await runtime.ping() } catch { problems.append("the container engine does not answer: \(error)") }
        return problems
    }

    /// A job's record.
    public nonisolated func job(id: String) async throws -> JobRecord {
        guard let record = try await store.job(id: id) else { throw DrayError.noJob(id) }
        return record
    }

    /// Up to `limit` lines of a job's log from `index`.
    public nonisolated func log(id: String, from index: Int, limit: Int?) async throws -> [LogLine] {
        try await store.log(id: id, from: index, limit: limit)
    }

    /// Stores `job` under a new id, queued. Returns at once; the job runs when a node claims it.
    public func submit(_ job: Job) async throws -> JobRecord {
        guard accepting else { throw DrayError(.storage, "the server is shutting down: submit the job again later") }
        let problems = configuration.stepLimits.problems(in: job) + configuration.registries.problems(in: job)
        guard problems.isEmpty else {
            throw DrayError(.invalidJob, problems.joined(separator: "; "), problems: problems)
        }
        var job = job
        let id = UUID().uuidString
        job.id = id
        let record = JobRecord(id: id, job: job, state: JobState(stepCount: job.steps.count))
        try await store.create(record)
        logger.info("job submitted", metadata: ["job": "\(id)", "steps": "\(job.steps.count)"])
        await claim()
        return record
    }

    /// How many jobs run on this node now, and how many wait in the store's queue.
    public func load() async throws -> (running: Int, queued: Int) {
        (running.count, try await store.queuedCount())
    }

    /// Claims queued jobs while this node has free slots, and starts them. One claim at a time:
    /// a wish to claim during one makes it claim again once done.
    private func claim() async {
        guard !claiming else {
            claimAgain = true
            return
        }
        claiming = true
        defer { claiming = false }
        repeat {
            claimAgain = false
            let free = configuration.maxConcurrentJobs - running.count
            guard accepting, free > 0 else { break }
            let records: [JobRecord]
            do {
                records = try await store.claim(node: node, limit: free)
            } catch {
                logger.warning("cannot claim queued jobs: \(error)")
                break
            }
            for record in records {
                metrics.jobStarted(waited: .seconds(max(0, Date().timeIntervalSince(record.state.createdAt))))
                running[record.id] = Task { await self.execute(record) }
            }
            if records.count == free { claimAgain = true }
        } while claimAgain
        metrics.jobs(running: running.count, queued: nil)
    }

    private func execute(_ record: JobRecord) async {
        let changes = self.changes
        let recorder = StoreRecorder(
            id: record.id, store: store, logger: logger, owner: (node, record.version), metrics: metrics,
            steps: record.state.steps
        ) {
            changes.bump(record.id)
        }
        let runner = self.runner
        let spool = spoolDirectory(of: record.id)
        let id = record.id
        let reasons = stopReasons
        // A new job starts at its first step; a resumed one where it failed (a streaming job,
        // which keeps no output between its steps, from the start), when the step's input is in
        // this node's spool: resumed on another node, it starts again from step 1.
        var from = record.job.streaming == true ? 0 : min(record.state.stepsCompleted, record.job.steps.count - 1)
        var start = record.state
        if from > 0,
            (try? await FileSystem.shared.info(forFileAt: JobRunner.outputPath(step: from - 1, in: spool))) == nil
        {
            logger.notice(
                "the job's spooled input is on the node that ran it before: it runs again from step 1",
                metadata: ["job": "\(id)"])
            from = 0
            start.stepsCompleted = 0
            for index in start.steps.indices { start.steps[index] = StepState() }
        }
        let state = await recorder.recording { [start, from] observer in
            await runner.run(
                record.job, id: id, spoolDirectory: spool, observer: observer, state: start, from: from,
                stopReason: { reasons[id] })
        }
        running[id] = nil
        stopReasons[id] = nil
        metrics.jobEnded(state)
        // A complete job cannot run again: its secrets are no longer needed anywhere.
        if state.status == .complete { await eraseSecrets(of: record) }
        changes.remove(id)
        var ended: Logger.Metadata = ["job": "\(id)", "status": "\(state.status.rawValue)"]
        if let reason = state.reason { ended["reason"] = "\(reason.rawValue)" }
        if let error = state.error { ended["error"] = "\(error)" }
        logger.info("job ended", metadata: ended)
        wake.yield()
    }

    /// Erases the values of a job's secrets from the store, once it can no longer run or be resumed.
    private func eraseSecrets(of record: JobRecord) async {
        guard record.job.secretValues.contains(where: { !$0.isEmpty }) else { return }
        do {
            try await store.update(id: record.id, job: record.job.erasingSecrets())
        } catch {
            logger.warning("cannot erase the job's secrets from the store: \(error)", metadata: ["job": "\(record.id)"])
        }
    }

    /// Where a job's step outputs are spooled.
    public func spoolDirectory(of id: String) -> FilePath {
        spoolRoot.appending(id)
    }

    /// Stops a running or queued job: its step gets SIGTERM, then SIGKILL after its
    /// `stopGracePeriod`, and its container is removed. The job ends in `error`, phase and reason
    /// `canceled`. A job that has ended is a `conflict`. A job another node runs is stopped by
    /// that node, asked through the store.
    public func cancel(id: String) async throws -> JobRecord {
        if try await stop(id, .cancel) { return try await job(id: id) }
        let record = try await job(id: id)
        throw DrayError(
            .conflict, "job \(id) has ended (\(record.state.status.rawValue)): there is nothing to cancel")
    }

    /// Stops the job wherever it is; false when it was not running or queued. Here: at once. In
    /// the queue: ended there. On another node: asked through the store, and waited for.
    private func stop(_ id: String, _ request: StopRequest) async throws -> Bool {
        var record = try await job(id: id)
        if let task = running[id] {
            // A job's end is stored before its task has removed its last container.
            guard record.state.status == .running else {
                await task.value
                return false
            }
            stopReasons[id] = .canceled
            task.cancel()
            await task.value
            return true
        }
        guard record.state.status == .running else { return false }
        if record.node == nil {
            record.state.fail("the job was canceled before it started", phase: .canceled, reason: .canceled)
            if try await store.endQueued(id: id, state: record.state) {
                changes.bump(id)
                metrics.jobEnded(record.state)
                return true
            }
            // Claimed meanwhile: ask its node.
            record = try await job(id: id)
        }
        guard try await store.requestStop(id: id, request) else {
            return try await job(id: id).state.status != .running
        }
        // The owner looks at its requests every pollInterval; a step may take its stopGracePeriod.
        let patience =
            configuration.pollInterval * 3 + .seconds(record.job.steps.map { $0.stopGracePeriod ?? 10 }.max() ?? 10)
        let deadline = ContinuousClock.now + patience
        while ContinuousClock.now < deadline {
            guard let now = try await store.job(id: id), now.state.status == .running else { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw DrayError(
            .storage,
            "node \(record.node ?? "?") did not stop job \(id) within \(patience): it may have stopped answering")
    }

    /// Runs a job in `error` again from the step that failed, with the spooled output of the
    /// last step that succeeded as its input. Earlier steps are not run again. Of two resumes
    /// at once, one wins: the store's requeue is a compare-and-set.
    public func resume(id: String) async throws -> JobRecord {
        var record = try await job(id: id)
        guard record.state.status == .error, running[id] == nil else {
            throw DrayError(
                .conflict,
                "job \(id) is \(record.state.status.rawValue): only a job that ended in error can resume")
        }
        // A streaming job keeps no output between its steps: it starts over.
        let from = record.job.streaming == true ? 0 : min(record.state.stepsCompleted, record.job.steps.count - 1)
        // This node freed the step's input: say so. (Another node may hold it, or not: the node
        // that claims the job runs it from step 1 when the input is not in its spool.)
        if from > 0, freed.contains(id) || record.node == node,
            try await FileSystem.shared.info(
                forFileAt: JobRunner.outputPath(step: from - 1, in: spoolDirectory(of: id)))
                == nil
        {
            throw DrayError(
                .conflict,
                "job \(id) cannot resume: the output of step \(from) was freed (--keep-outputs), and step \(from + 1) needs it"
            )
        }
        var state = record.state
        state.status = .running
        state.phase = .queued
        state.error = nil
        state.reason = nil
        state.finishedAt = nil
        state.currentStep = nil
        state.stepsCompleted = from
        for index in from..<state.steps.count { state.steps[index] = StepState() }
        guard try await store.requeue(id: id, state: state) else {
            throw DrayError(.conflict, "job \(id) is no longer in error: another resume took it first")
        }
        record.state = state
        record.node = nil
        freed.remove(id)
        logger.info("job resumes", metadata: ["job": "\(id)", "step": "\(from + 1)"])
        await claim()
        return record
    }

    /// The file holding the final output of a complete job. A job that is not complete, or whose
    /// outputs were freed, is a `conflict`.
    public func output(id: String) async throws -> FilePath {
        let record = try await job(id: id)
        guard record.state.status == .complete else {
            throw DrayError(
                .conflict, "job \(id) is \(record.state.status.rawValue): only a complete job has an output")
        }
        let path = JobRunner.outputPath(step: record.job.steps.count - 1, in: spoolDirectory(of: id))
        guard try await FileSystem.shared.info(forFileAt: path) != nil else {
            throw DrayError(.conflict, "the output of job \(id) was freed (--keep-outputs)")
        }
        return path
    }

    /// Stops the job if it runs (its container is removed) or waits, then deletes its record,
    /// log and spools. Returns false when there was no such job.
    public func delete(id: String) async throws -> Bool {
        guard try await store.job(id: id) != nil else { return false }
        _ = try await stop(id, .delete)
        // The node that ran it may have deleted it already, as asked.
        _ = try await store.delete(id: id)
        _ = try? await FileSystem.shared.removeItem(at: spoolDirectory(of: id), recursively: true)
        freed.remove(id)
        return true
    }

    /// Acts on the stop requests any node took for this node's jobs.
    private func takeStopRequests() async {
        let requests: [(id: String, request: StopRequest)]
        do {
            requests = try await store.stopRequests(node: node)
        } catch {
            logger.warning("cannot read the stop requests for this node's jobs: \(error)")
            return
        }
        for (id, request) in requests {
            guard let task = running[id] else { continue }
            logger.info("stopping the job, as another node asked", metadata: ["job": "\(id)", "request": "\(request)"])
            stopReasons[id] = .canceled
            task.cancel()
            await task.value
            if request == .delete {
                _ = try? await store.delete(id: id)
                _ = try? await FileSystem.shared.removeItem(at: spoolDirectory(of: id), recursively: true)
            }
        }
    }

    /// Renews this node's lease; false when the store could not be reached. When the lease had
    /// run out and another node took this node's jobs, stops them: their writes are refused, and
    /// their containers must not run on.
    private func renewLease() async -> Bool {
        do {
            if try await store.heartbeat(node: node, lease: configuration.lease) { return true }
        } catch {
            logger.error("cannot renew this node's lease: \(error)")
            return false
        }
        logger.error(
            "this node's lease ran out and its jobs were taken by another node: stopping them",
            metadata: ["jobs": "\(running.count)"])
        for (id, task) in running {
            stopReasons[id] = .nodeLost
            task.cancel()
        }
        for task in running.values { await task.value }
        return true
    }

    /// Updates the queued-jobs gauge from the store, once per pollInterval rather than per claim.
    private func countQueued() async {
        if let queued = try? await store.queuedCount() { metrics.jobs(running: running.count, queued: queued) }
    }

    /// Ends the jobs of nodes whose lease ran out.
    private func reap() async {
        do {
            for record in try await store.reapLostNodes(now: Date()) {
                metrics.jobEnded(record.state)
                changes.bump(record.id)
                logger.warning(
                    "ended the job of a node that stopped answering",
                    metadata: ["job": "\(record.id)", "lostNode": "\(record.node ?? "?")", "reason": "node-lost"])
            }
        } catch {
            logger.warning("cannot look for nodes that stopped answering: \(error)")
        }
    }

    /// Frees the spools of jobs finished longer than `keepOutputs` ago, and deletes jobs finished
    /// longer than `jobTTL` ago.
    func sweep(now: Date = Date()) async {
        guard configuration.keepOutputs != nil || configuration.jobTTL != nil else { return }
        let records: [JobRecord]
        do {
            records = try await store.jobs()
        } catch {
            logger.warning("cannot look for old jobs to clean up: \(error)")
            return
        }
        for record in records where record.state.status != .running && running[record.id] == nil {
            guard let finished = record.state.finishedAt else { continue }
            let age = Duration.seconds(now.timeIntervalSince(finished))
            if let ttl = configuration.jobTTL, age > ttl {
                if (try? await delete(id: record.id)) == true {
                    logger.info(
                        "job deleted: finished more than --job-ttl \(ttl) ago", metadata: ["job": "\(record.id)"])
                }
            } else if let keep = configuration.keepOutputs, age > keep, !freed.contains(record.id) {
                _ = try? await FileSystem.shared.removeItem(at: spoolDirectory(of: record.id), recursively: true)
                freed.insert(record.id)
                // Without its outputs the job cannot be resumed: its secrets go too.
                await eraseSecrets(of: record)
                logger.debug("freed the job's step outputs", metadata: ["job": "\(record.id)"])
            }
        }
    }

    /// Prepares the store and recovers (``recover()``); then works until the server shuts
    /// down; then lets running jobs finish within the grace period, stops the rest, and gives
    /// up this node's lease. Queued jobs stay queued. Run the store before it, as a `Service`.
    public func run() async throws {
        do {
            try await store.prepare()
            try await recover()
        } catch {
            startup.end(.failure(error))
            throw error
        }
        startup.end(.success(()))
        await withTaskGroup { group in
            group.addTask { await self.work() }
            try? await gracefulShutdown()
            group.cancelAll()
        }
        await shutDown(grace: configuration.shutdownGrace)
    }

    /// What ``run()`` does until shutdown: claims queued jobs when woken or every
    /// `pollInterval`; renews the lease, takes stop requests and reaps lost nodes every
    /// `pollInterval` (and the lease at least every third of it); cleans up old jobs.
    public func work() async {
        await withTaskGroup { group in
            group.addTask {
                let interval = self.configuration.sweepInterval
                while !Task.isCancelled {
                    await self.sweep()
                    try? await Task.sleep(for: interval)
                }
            }
            group.addTask {
                let interval = min(self.configuration.pollInterval, self.configuration.lease / 3)
                while !Task.isCancelled {
                    // Only a node whose own lease is fresh ends others': after the store was
                    // away, every lease looks run out until its node renews it. Fresh means
                    // renewed within half a lease, as the calls between may have waited long.
                    let renewing = ContinuousClock.now
                    if await self.renewLease() {
                        await self.takeStopRequests()
                        if ContinuousClock.now - renewing < self.configuration.lease / 2 { await self.reap() }
                        await self.countQueued()
                    }
                    try? await Task.sleep(for: interval)
                }
            }
            group.addTask {
                // Another node queued a job, or wrote one this node's readers follow.
                let changes = self.changes
                let wake = self.wake
                do {
                    if self.configuration.listen {
                        try await self.store.watch { change in
                            switch change {
                            case .queued: wake.yield()
                            case .job(let id): changes.poke(id)
                            }
                        }
                    }
                } catch {
                    self.logger.warning("the store's change feed stopped: \(error)")
                }
                // Without a feed, the other loops poll; wait for the end like them.
                while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
            }
            group.addTask {
                let wakes = self.wakes
                let poll = self.configuration.pollInterval
                await withTaskGroup { ticks in
                    ticks.addTask {
                        while !Task.isCancelled {
                            try? await Task.sleep(for: poll)
                            self.wake.yield()
                        }
                    }
                    for await _ in wakes {
                        if Task.isCancelled { break }
                        await self.claim()
                    }
                    ticks.cancelAll()
                }
            }
            await withTaskCancellationHandler {
                await group.next()
            } onCancel: {
                self.wake.finish()
            }
            group.cancelAll()
        }
    }

    /// Returns once ``run()`` has prepared the store and recovered, so that the API may be
    /// served; throws what stopped it.
    public nonisolated func started() async throws {
        try await startup.result()
    }

    /// Stops every job at once, as a shutdown with no grace period.
    public func stopAll() async {
        await shutDown(grace: .zero)
    }

    /// Takes no more jobs, gives the running ones `grace` to finish, then stops them with reason
    /// `shutdown`, waits until their containers are removed, and gives up the lease.
    private func shutDown(grace: Duration) async {
        accepting = false
        let tasks = running
        if !tasks.isEmpty {
            if grace > .zero {
                logger.notice("waiting up to \(grace) for \(tasks.count) running job(s) to finish")
            }
            await withTaskGroup { group in
                group.addTask {
                    for task in tasks.values { await task.value }
                }
                group.addTask { try? await Task.sleep(for: grace) }
                await group.next()
                for (id, task) in running {
                    stopReasons[id] = .shutdown
                    task.cancel()
                }
                group.cancelAll()
            }
            for task in tasks.values { await task.value }
        }
        do {
            try await store.leave(node: node)
        } catch {
            logger.warning("cannot give up this node's lease: \(error)")
        }
    }
}

/// Why running jobs were stopped, shared with their runners, which read it as they end.
private final class StopReasons: Sendable {
    private let reasons = Mutex<[String: FailureReason]>([:])

    subscript(id: String) -> FailureReason? {
        get { reasons.withLock { $0[id] } }
        set { reasons.withLock { $0[id] = newValue } }
    }
}

/// A value set once, which any number of tasks wait for.
final class Once<Value: Sendable>: Sendable {
    private struct State {
        var value: Value?
        var waiting: [CheckedContinuation<Value, Never>] = []
    }
    private let state = Mutex(State())

    /// Sets the value, once; later calls change nothing.
    func end(_ value: Value) {
        let waiting = state.withLock { state -> [CheckedContinuation<Value, Never>] in
            guard state.value == nil else { return [] }
            state.value = value
            defer { state.waiting = [] }
            return state.waiting
        }
        for waiter in waiting { waiter.resume(returning: value) }
    }

    /// The value, once set.
    func value() async -> Value {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> Value? in
                if state.value == nil { state.waiting.append(continuation) }
                return state.value
            }
            if let now { continuation.resume(returning: now) }
        }
    }
}

extension Once where Value == Result<Void, any Error> {
    func result() async throws {
        try await value().get()
    }
}
