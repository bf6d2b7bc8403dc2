import DrayEngine
import Foundation
import Logging
import NIOFileSystem
import ServiceLifecycle
import Synchronization

/// Runs submitted jobs in the background, at most ``Configuration/maxConcurrentJobs`` at once
/// and the rest in FIFO order; records them in the store; cancels, resumes and deletes them;
/// frees old spools and jobs; and on shutdown gives running jobs a grace period to finish.
public actor JobService: Service {
    public struct Configuration: Sendable {
        /// How many jobs run at once; later ones wait, in order, in phase `queued`.
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
    /// The running jobs. Each task is owned here: canceled on cancel, delete and shutdown.
    private var running: [String: Task<Void, Never>] = [:]
    /// Jobs waiting for a slot, first come first served, with the step each starts from and
    /// when it began to wait.
    private var queue: [(record: JobRecord, from: Int, since: ContinuousClock.Instant)] = []
    /// Why a running job was stopped, read by its runner as it ends.
    private let stopReasons = StopReasons()
    /// Jobs whose spools were freed already.
    private var freed: Set<String> = []
    private var accepting = true
    /// Wakes live-log readers when a job's log or state was written.
    nonisolated let changes = ChangeBoard()
    /// What `GET /metrics` reports.
    public nonisolated let metrics: DrayMetrics

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
    }

    /// The message of a job that was running when the server stopped.
    public static let restartMessage = "server restarted while the job was running"

    /// Ends in `error` every job an earlier process left `running`, and removes the containers
    /// of this store's jobs that are not running. Containers of jobs this store does not know
    /// belong to another Dray on the same engine and are left alone. Call it before serving.
    public func recover() async throws {
        let records = try await store.jobs()
        for var record in records where record.state.status == .running && !isActive(record.id) {
            record.state.fail(Self.restartMessage, reason: .restarted)
            try await store.update(id: record.id, state: record.state)
            logger.notice(
                "the job was running when the server stopped; it is now in error", metadata: ["job": "\(record.id)"])
        }
        let known = Set(records.map(\.id))
        for container in try await runtime.jobContainers()
        where known.contains(container.jobID) && running[container.jobID] == nil {
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

    /// Stores `job` under a new id and queues it. Returns at once; the job runs in the background.
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
        enqueue(record, from: 0)
        return record
    }

    /// True while the job runs or waits in the queue.
    public func isActive(_ id: String) -> Bool {
        running[id] != nil || queue.contains { $0.record.id == id }
    }

    /// How many jobs run now, and how many wait.
    public var load: (running: Int, queued: Int) { (running.count, queue.count) }

    private func enqueue(_ record: JobRecord, from step: Int) {
        queue.append((record, step, .now))
        startQueued()
    }

    /// Starts waiting jobs, in order, while there are free slots.
    private func startQueued() {
        while accepting, running.count < max(1, configuration.maxConcurrentJobs), !queue.isEmpty {
            let (record, step, since) = queue.removeFirst()
            metrics.jobStarted(waited: .now - since)
            running[record.id] = Task { await self.execute(record, from: step) }
        }
        metrics.jobs(running: running.count, queued: queue.count)
    }

    private func execute(_ record: JobRecord, from step: Int) async {
        let changes = self.changes
        let recorder = StoreRecorder(
            id: record.id, store: store, logger: logger, metrics: metrics, steps: record.state.steps
        ) {
            changes.bump(record.id)
        }
        let runner = self.runner
        let spool = spoolDirectory(of: record.id)
        let id = record.id
        let reasons = stopReasons
        let state = await recorder.recording { observer in
            await runner.run(
                record.job, id: id, spoolDirectory: spool, observer: observer, state: record.state, from: step,
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
        startQueued()
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
    /// `canceled`. A job that has ended is a `conflict`.
    public func cancel(id: String) async throws -> JobRecord {
        let record = try await settledRecord(id)
        if record.state.status == .running, try await stop(id, reason: .canceled) {
            guard let record = try await store.job(id: id) else { throw DrayError.noJob(id) }
            return record
        }
        throw DrayError(
            .conflict, "job \(id) has ended (\(record.state.status.rawValue)): there is nothing to cancel")
    }

    /// The job's stored record, once the task of a job that has ended is done too: a job's
    /// end is stored before its task has removed its last container.
    private func settledRecord(_ id: String) async throws -> JobRecord {
        guard let record = try await store.job(id: id) else { throw DrayError.noJob(id) }
        if record.state.status != .running, let task = running[id] { await task.value }
        return record
    }

    /// Stops the job if it is active, for `reason`; false when it was not.
    private func stop(_ id: String, reason: FailureReason) async throws -> Bool {
        if let index = queue.firstIndex(where: { $0.record.id == id }) {
            var record = queue.remove(at: index).record
            record.state.fail(
                reason == .shutdown
                    ? "the server shut down before the job started" : "the job was canceled before it started",
                phase: .canceled, reason: reason)
            try await store.update(id: id, state: record.state)
            changes.remove(id)
            metrics.jobEnded(record.state)
            metrics.jobs(running: running.count, queued: queue.count)
            return true
        }
        guard let task = running[id] else { return false }
        stopReasons[id] = reason
        task.cancel()
        await task.value
        return true
    }

    /// Runs a job in `error` again from the step that failed, with the spooled output of the
    /// last step that succeeded as its input. Earlier steps are not run again.
    public func resume(id: String) async throws -> JobRecord {
        var record = try await settledRecord(id)
        guard record.state.status == .error, !isActive(id) else {
            throw DrayError(
                .conflict,
                "job \(id) is \(record.state.status.rawValue): only a job that ended in error can resume")
        }
        // A streaming job keeps no output between its steps: it starts over.
        let from = record.job.streaming == true ? 0 : min(record.state.stepsCompleted, record.job.steps.count - 1)
        if from > 0 {
            let input = JobRunner.outputPath(step: from - 1, in: spoolDirectory(of: id))
            guard try await FileSystem.shared.info(forFileAt: input) != nil else {
                throw DrayError(
                    .conflict,
                    "job \(id) cannot resume: the output of step \(from) was freed (--keep-outputs), and step \(from + 1) needs it"
                )
            }
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
        record.state = state
        try await store.update(id: id, state: state)
        freed.remove(id)
        logger.info("job resumes", metadata: ["job": "\(id)", "step": "\(from + 1)"])
        enqueue(record, from: from)
        return record
    }

    /// The file holding the final output of a complete job. A job that is not complete, or whose
    /// outputs were freed, is a `conflict`.
    public func output(id: String) async throws -> FilePath {
        guard let record = try await store.job(id: id) else { throw DrayError.noJob(id) }
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
        if let index = queue.firstIndex(where: { $0.record.id == id }) {
            queue.remove(at: index)
            metrics.jobs(running: running.count, queued: queue.count)
        }
        _ = try await stop(id, reason: .canceled)
        let existed = try await store.delete(id: id)
        _ = try? await FileSystem.shared.removeItem(at: spoolDirectory(of: id), recursively: true)
        freed.remove(id)
        return existed
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
        for record in records where record.state.status != .running && !isActive(record.id) {
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

    /// Cleans up until the server shuts down; then lets running jobs finish within the grace
    /// period, and stops the rest.
    public func run() async throws {
        await withTaskGroup { group in
            group.addTask { await self.cleanUp() }
            try? await gracefulShutdown()
            group.cancelAll()
        }
        await shutDown(grace: configuration.shutdownGrace)
    }

    /// Frees old spools and deletes expired jobs now and then, until the task is canceled.
    public func cleanUp() async {
        let interval = configuration.sweepInterval
        while !Task.isCancelled {
            await sweep()
            try? await Task.sleep(for: interval)
        }
    }

    /// Stops every job at once, as a shutdown with no grace period.
    public func stopAll() async {
        await shutDown(grace: .zero)
    }

    /// Takes no more jobs, ends the queued ones, gives the running ones `grace` to finish, then
    /// stops them with reason `shutdown` and waits until their containers are removed.
    private func shutDown(grace: Duration) async {
        accepting = false
        for (record, _, _) in queue { _ = try? await stop(record.id, reason: .shutdown) }
        let tasks = running
        guard !tasks.isEmpty else { return }
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
