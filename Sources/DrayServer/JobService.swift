import DrayEngine
import Foundation
import Logging
import NIOFileSystem
import ServiceLifecycle

/// One node's part of the control plane, which lives in the store (``JobQueue``), and what
/// the routes call. It is made of parts with one job each, which its ``run()`` runs:
///
/// - ``JobQueueWorker`` claims queued jobs while this node has free slots (at most
///   ``Configuration/maxConcurrentJobs``), and starts each with the ``JobExecutor``, which runs
///   and records it; ``RunningJobs`` owns their tasks;
/// - ``LeaseKeeper`` renews this node's lease (``Configuration/lease``), stops its jobs when
///   another node took them, and acts on the stop requests any node wrote for them;
/// - ``Reaper`` ends the jobs of nodes whose lease ran out, and at start this node's leftovers;
/// - ``Sweeper`` frees old spools and jobs;
/// - the store's change feed wakes the worker and live-log readers.
///
/// On shutdown running jobs get a grace period to finish. Queued jobs stay queued in the
/// store, for the next node or the next start.
public final class JobService: Service, Sendable {
    public struct Configuration: Sendable {
        /// How many jobs run at once on this node; later ones wait, in order, in phase `queued`.
        /// 0 makes a node that serves the API and runs no jobs (with a store that other nodes share).
        public var maxConcurrentJobs = 4
        /// How many containers the steps of graphs run at once on this node, over all jobs
        /// (a chain runs one step at a time; a streaming job all of its steps).
        public var maxConcurrentSteps = 2 * ProcessInfo.processInfo.activeProcessorCount
        /// How long the step outputs of a finished job are kept (for resume and `/output`); nil: forever.
        public var keepOutputs: Duration? = .seconds(24 * 3600)
        /// How long a finished job is kept at all; nil (the default): until deleted.
        public var jobTTL: Duration?
        /// How long the audit log's entries are kept; nil: forever.
        public var keepAudit: Duration? = .seconds(90 * 86400)
        /// How many bytes of each job's log are kept: the first half, a line that says what was
        /// dropped, and the last half (held until the job ends). nil (the default) keeps all.
        public var maxLogBytes: Int?
        /// On shutdown, how long running jobs may take to finish before they are stopped.
        public var shutdownGrace: Duration = .seconds(10)
        /// What a step may ask for at most, and gets when it does not ask.
        public var stepLimits = StepLimits()
        /// Which registries steps' images may come from.
        public var registries = RegistryPolicy()
        /// This node's id: its claims, its lease, its containers' `dray.node` label.
        public var node = "local"
        /// Where this node caches the outputs of steps that say `cache`; nil: no cache, and
        /// such steps run every time.
        public var cacheDirectory: FilePath?
        /// The most the cache holds, outputs and logs together; the least recently used go first.
        public var cacheMaxBytes: Int64 = 10 << 30
        /// Where other nodes reach this one for the outputs in its spool (`--advertise-url`);
        /// nil: nowhere, and a request for them on another node says so.
        public var advertiseURL: String?
        /// Which nodes' advertised URLs this node forwards a download (and its caller's token)
        /// to: the registries' address policy, with `--allow-peer` as its list.
        public var peers = RegistryPolicy()
        /// How long this node's lease lasts unless renewed; it is renewed every third of it.
        public var lease: Duration = .seconds(30)
        /// How often the queue is looked at when nothing wakes this node.
        public var pollInterval: Duration = .seconds(1)
        /// Be woken by the store's change feed (PostgreSQL's NOTIFY), not only by polling.
        public var listen = true
        /// `--allow-webhook`: which loopback, link-local or private hosts webhooks may be sent to.
        public var webhooks = WebhookPolicy()
        /// `--webhook` (with `--webhook-secret-file`): told of every job's end.
        public var serverWebhooks: [Webhook] = []

        public init() {}
    }

    public let store: any JobStore
    public let runtime: any ContainerRuntime
    public let configuration: Configuration
    let logger: Logger
    private let running: RunningJobs
    private let spools: Spools
    private let worker: JobQueueWorker
    private let keeper: LeaseKeeper
    private let reaper: Reaper
    private let sweeper: Sweeper
    private let endings: JobEndings
    private let webhooks: WebhookSender
    private var scheduler: Scheduler {
        Scheduler(
            store: store,
            submit: { [self] schedule, tick, id in try await submitScheduled(schedule, tick: tick, id: id) },
            logger: logger)
    }
    /// Wakes live-log readers when a job's log or state was written.
    let changes = ChangeBoard()
    /// What `GET /metrics` reports.
    public let metrics: DrayMetrics
    /// This node's cache of step outputs; nil when it has none.
    public let cache: StepCache?
    /// The taps of the steps this node runs.
    public let taps = TapBoard()
    /// How ``run()``'s start (preparing the store, recovering) ended, for ``started()``.
    private let startup = Once<Result<Void, any Error>>()

    public init(
        store: any JobStore, runtime: any ContainerRuntime, spoolRoot: FilePath, logger: Logger,
        configuration: Configuration = Configuration(), metrics: DrayMetrics = DrayMetrics()
    ) {
        self.metrics = metrics
        self.store = store
        self.runtime = runtime
        self.logger = logger
        self.configuration = configuration
        let node = configuration.node
        running = RunningJobs(slots: configuration.maxConcurrentJobs)
        spools = Spools(root: spoolRoot)
        let doorbell = Doorbell()
        webhooks = WebhookSender(
            store: store, policy: configuration.webhooks, serverHooks: configuration.serverWebhooks, metrics: metrics,
            logger: logger)
        let endings = JobEndings(
            store: store, changes: changes, metrics: metrics, queue: doorbell, webhooks: webhooks, logger: logger)
        self.endings = endings
        cache = configuration.cacheDirectory.map {
            StepCache(root: $0, maxBytes: configuration.cacheMaxBytes) { metrics.cacheLookup(hit: $0) }
        }
        let executor = JobExecutor(
            store: store,
            runner: JobRunner(
                runtime: runtime, defaults: configuration.stepLimits,
                slots: StepSlots(configuration.maxConcurrentSteps), cache: cache, taps: taps),
            spools: spools,
            node: node, reasons: running.reasons, changes: changes, endings: endings, logger: logger,
            maxLogBytes: configuration.maxLogBytes)
        worker = JobQueueWorker(
            store: store, node: node, running: running, executor: executor, doorbell: doorbell,
            pollInterval: configuration.pollInterval, metrics: metrics, logger: logger)
        keeper = LeaseKeeper(
            store: store, node: node, lease: configuration.lease, pollInterval: configuration.pollInterval,
            running: running, spools: spools, logger: logger)
        reaper = Reaper(
            store: store, runtime: runtime, node: node, keeper: keeper, running: running, endings: endings,
            logger: logger)
        sweeper = Sweeper(
            store: store, keepOutputs: configuration.keepOutputs, jobTTL: configuration.jobTTL,
            keepAudit: configuration.keepAudit, running: running, spools: spools, endings: endings, logger: logger)
    }

    /// Takes this node's lease (a store that holds one node refuses a second one), ends the jobs
    /// of nodes whose lease ran out, ends in `error` the jobs this node left running when it
    /// stopped, and removes this node's leftover containers. Queued jobs stay queued.
    func recover() async throws {
        try await keeper.join()
        if let url = configuration.advertiseURL { try await store.advertise(node: configuration.node, url: url) }
        await reaper.reap()
        try await reaper.recoverOwn()
    }

    /// A page of the job list, from the store's summaries.
    public func list(_ listing: JobListing) async throws -> JobPage {
        try await store.list(listing)
    }

    /// Whether the store and the container engine answer: the problems, none when ready.
    public func readiness() async -> [String] {
        var problems: [String] = []
        do { try await store.ping() } catch { problems.append("the store does not answer: \(error)") }
        do { try await runtime.ping() } catch { problems.append("the container engine does not answer: \(error)") }
        return problems
    }

    /// A job's record: the one this request read a moment ago to check its project, when it
    /// did (once), else the store's.
    public func job(id: String) async throws -> JobRecord {
        if let read = AuditNote.current?.takeRecord(id: id) { return read }
        guard let record = try await store.job(id: id) else { throw DrayError.noJob(id) }
        return record
    }

    /// A job's webhook deliveries, oldest first.
    public func deliveries(id: String) async throws -> [Delivery] {
        _ = try await job(id: id)
        return try await store.deliveries(job: id)
    }

    /// Up to `limit` lines of a job's log from `index`.
    public func log(id: String, from index: Int, limit: Int?) async throws -> [LogLine] {
        try await store.log(id: id, from: index, limit: limit)
    }

    /// The index of the step a log filter names: its `name`, or its number from 1. Anything
    /// else is an `invalidJob` naming the parameter, and the name that was probably meant.
    public func step(named name: String, in record: JobRecord) throws -> Int {
        let steps = record.job.steps
        if let index = steps.firstIndex(where: { $0.name == name }) { return index }
        if let number = Int(name), steps.indices.contains(number - 1) { return number - 1 }
        var message = "step: job \(record.id) has no step named \"\(name)\""
        if let suggestion = JobDocument.closestName(to: name, in: steps.compactMap(\.name)) {
            message += "; did you mean \"\(suggestion)\"?"
        }
        throw DrayError(.invalidJob, message)
    }

    /// A job's log from `index` to `end` (or to its end when nil), handed to `body` a page of
    /// `pageSize` lines at a time, so that a log of any size is read in bounded memory. Returns
    /// the index after the last line handed on.
    @discardableResult
    public func forEachLogPage(
        id: String, from index: Int, to end: Int? = nil, step: Int? = nil, pageSize: Int = 2000,
        _ body: ([LogLine]) async throws -> Void
    ) async throws -> Int {
        if let step {
            // One step's lines: the whole log is read, and `index` and `end` count that step's.
            var seen = 0
            try await forEachLogPage(id: id, from: 0, pageSize: pageSize) { page in
                var own: [LogLine] = []
                for line in page where line.step == step {
                    defer { seen += 1 }
                    if seen >= index, end.map({ seen < $0 }) ?? true { own.append(line) }
                }
                if !own.isEmpty { try await body(own) }
            }
            return end.map { min(seen, $0) } ?? seen
        }
        var next = index
        while end.map({ next < $0 }) ?? true {
            let limit = end.map { min(pageSize, $0 - next) } ?? pageSize
            let page = try await store.log(id: id, from: next, limit: limit)
            if page.isEmpty { break }
            try await body(page)
            next += page.count
            if page.count < limit { break }
        }
        return next
    }

    /// Stores `job` under a new id, queued. Returns at once; the job runs when a node claims it
    /// (this one at once, when it has a free slot). `traceParent`: the W3C trace context it was
    /// sent with, which its span is a child of.
    public func submit(
        _ job: Job, traceParent: String? = nil, template: TemplateReference? = nil
    ) async throws -> JobRecord {
        let record = try await newRecord(job, traceParent: traceParent, template: template)
        try await store.create(record)
        await submitted(record)
        return record
    }

    /// ``submit(_:traceParent:)`` with an `Idempotency-Key`: the job its key made within 24
    /// hours, when it made one (`replayed`), on any node; a key first sent with another request
    /// is a `keyReused` error, and one whose job was deleted a `conflict`.
    public func submit(
        _ job: Job, idempotency: IdempotencyKey, traceParent: String? = nil, template: TemplateReference? = nil
    ) async throws -> (record: JobRecord, replayed: Bool) {
        let record = try await newRecord(job, traceParent: traceParent, template: template)
        // Each project has keys of its own: another project's key names none of its jobs.
        var scoped = idempotency
        if record.job.projectName != Project.defaultName { scoped.key = "\(record.job.projectName)/\(idempotency.key)" }
        switch try await store.create(record, idempotency: scoped) {
        case .created:
            await submitted(record)
            return (record, false)
        case .existing(let id, let digest):
            guard digest == idempotency.digest else {
                throw DrayError(
                    .keyReused,
                    "the Idempotency-Key \(idempotency.key) was sent with another request (job \(id)): send a new key for a new job"
                )
            }
            guard let made = try await store.job(id: id) else {
                throw DrayError(.conflict, "job \(id), which the Idempotency-Key \(idempotency.key) made, was deleted")
            }
            return (made, true)
        }
    }

    /// A new job's record, once the server's policies are checked (its steps' limits, its
    /// registries, its webhooks).
    func newRecord(
        _ job: Job, traceParent: String?, template: TemplateReference?, schedule: ScheduleReference? = nil,
        id: String = UUID().uuidString
    ) async throws -> JobRecord {
        guard await running.open else {
            throw DrayError(.storage, "the server is shutting down: submit the job again later")
        }
        let problems = policyProblems(in: job)
        guard problems.isEmpty else {
            throw DrayError(.invalidJob, problems.joined(separator: "; "), problems: problems)
        }
        var job = try await placed(job)
        job.id = id
        AuditNote.current?.set(target: id, project: job.project)
        var state = JobState(stepCount: job.steps.count)
        state.traceParent = traceParent
        state.template = template
        state.schedule = schedule
        return JobRecord(id: id, job: job, state: state)
    }

    /// The server's policies on a job: its steps' limits, its registries, its webhooks.
    func policyProblems(in job: Job) -> [String] {
        configuration.stepLimits.problems(in: job) + configuration.registries.problems(in: job)
            + configuration.webhooks.problems(in: job)
    }

    /// Logs a new job and wakes the queue.
    func submitted(_ record: JobRecord) async {
        logger.info("job submitted", metadata: ["job": "\(record.id)", "steps": "\(record.job.steps.count)"])
        await worker.claim()
    }

    /// How many jobs run on this node now, and how many wait in the store's queue.
    public func load() async throws -> (running: Int, queued: Int) {
        (await running.count, try await store.queuedCount())
    }

    /// Where a job's step outputs are spooled.
    public func spoolDirectory(of id: String) -> FilePath {
        spools.directory(of: id)
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
        if await running.contains(id) {
            // A job's end is stored before its task has removed its last container.
            guard record.state.status == .running else {
                await running.waitFor(id)
                return false
            }
            return await running.stop(id, .canceled)
        }
        guard record.state.status == .running else { return false }
        if record.node == nil {
            record.state.cancel("the job was canceled before it started")
            if try await store.endQueued(id: id, state: record.state) {
                await endings.ended(record, as: record.state)
                return true
            }
            // Claimed meanwhile: ask its node.
            record = try await job(id: id)
        }
        guard try await store.requestStop(id: id, request) else {
            return try await job(id: id).state.status != .running
        }
        // The owner looks at its requests every pollInterval; a step may take its stopGracePeriod.
        let grace = record.job.steps.map { $0.stopGracePeriod ?? Step.defaultStopGracePeriod }.max()
        let patience =
            configuration.pollInterval * 3
            + .seconds(min(grace ?? Step.defaultStopGracePeriod, configuration.stepLimits.maxStopGrace))
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
        // A job's end is stored before its task has left this node's running jobs: wait for that.
        if record.state.status == .error { await running.waitFor(id) }
        guard record.state.status == .error else {
            throw DrayError(
                .conflict,
                "job \(id) is \(record.state.status.rawValue): only a job that ended in error can resume")
        }
        let from = record.state.resumeStep(of: record.job)
        // This node freed a step's input: say so. (Another node may hold it, or not: the node
        // that claims the job runs it from step 1 when an input is not in its spool.)
        if await spools.wasFreed(id) || record.node == configuration.node {
            for input in record.state.resumeInputs(of: record.job) where await spools.output(of: id, step: input) == nil
            {
                let needing = input + 1 == from ? "step \(from + 1) needs it" : "a step to run again needs it"
                throw DrayError(
                    .conflict,
                    "job \(id) cannot resume: the output of step \(input + 1) was freed (--keep-outputs), and \(needing)"
                )
            }
        }
        var state = record.state
        state.requeueForResume(of: record.job)
        guard try await store.requeue(id: id, state: state) else {
            throw DrayError(.conflict, "job \(id) is no longer in error: another resume took it first")
        }
        record.state = state
        record.node = nil
        await spools.forget(id)
        logger.info("job resumes", metadata: ["job": "\(id)", "step": "\(from + 1)"])
        await worker.claim()
        return record
    }

    /// The file holding the final output of a complete job. A job that is not complete is a
    /// `conflict`; one whose outputs were freed is `gone`.
    public func output(id: String) async throws -> FilePath {
        let record = try await job(id: id)
        guard record.state.status == .complete else {
            throw DrayError(
                .conflict, "job \(id) is \(record.state.status.rawValue): only a complete job has an output")
        }
        guard let path = await spools.output(of: id, step: record.state.outputStep) else {
            throw expired(record)
        }
        return path
    }

    /// Where the output a step passed on is: in this node's spool, or on the node that ran the
    /// step, at the URL it advertises (`--advertise-url`).
    public enum StepOutputPlace: Sendable {
        case here(FilePath, SpoolDigest)
        case node(String, url: String)
    }

    /// Where step `name` (its name, or its number from 1) of job `id` keeps its output. A step
    /// that has not completed, or a streaming job's step whose output was only streamed, is a
    /// `conflict`; an output freed after `--keep-outputs` is `gone`. `forwarded` says the
    /// request came from another node already: it is never sent on again.
    public func stepOutput(id: String, step name: String, forwarded: Bool) async throws -> StepOutputPlace {
        let record = try await job(id: id)
        let index = try step(inPath: name, of: record)
        let label = record.job.steps[index].label(index: index)
        let step = record.state.steps[index]
        let completed = step.status == .complete || (step.status == nil && step.exitCode == 0)
        guard completed else {
            let now = step.status?.rawValue ?? (step.exitCode != nil ? "failed" : "not complete")
            throw DrayError(
                .conflict, "\(label) of job \(id) is \(now): only a step that completed has an output to download")
        }
        if let path = await spools.output(of: id, step: index), let digest = await SpoolDigest.of(path) {
            return .here(path, digest)
        }
        if record.job.streaming == true, record.job.durable != true, index != record.state.outputStep {
            throw DrayError(
                .conflict,
                "job \(id) streamed the output of \(label) without keeping it: submit it with \"durable\": true to keep every step's output"
            )
        }
        if !forwarded, let node = record.node, node != configuration.node {
            return .node(node, url: try await peerURL(of: node, holding: "the output of \(label)"))
        }
        throw expired(record)
    }

    /// The step a path's `{step}` names: a 404 when the job has none such.
    private func step(inPath name: String, of record: JobRecord) throws -> Int {
        do {
            return try step(named: name, in: record)
        } catch let error as DrayError {
            throw DrayError(.notFound, error.message)
        }
    }

    /// The URL at which `node` advertises itself, for a request about `what` that it holds.
    /// The caller's token goes with that request: only to an address the policy allows.
    private func peerURL(of node: String, holding what: String) async throws -> String {
        guard let url = try await store.advertisedURL(node: node) else {
            throw DrayError(
                .conflict, "\(what) is on node \(node), which advertises no URL: start it with --advertise-url")
        }
        guard let parts = URLComponents(string: url), let host = parts.host,
            configuration.peers.allows("\(host):\(parts.port ?? (parts.scheme == "https" ? 443 : 80))")
        else {
            throw DrayError(
                .conflict,
                "\(what) is on node \(node), at \(url): a loopback, link-local or private address, or one not listed, which this node sends requests to only when --allow-peer names it"
            )
        }
        return url
    }

    /// Where a tap on a step is read.
    public enum TapPlace: Sendable {
        /// The step runs on this node, or will: its tap. Its spool, when it keeps one, is the
        /// step's output file.
        case here(EdgeTap, step: Int, spool: FilePath, record: JobRecord)
        /// The step has ended (or its job has): what it spooled, nil when nothing is kept.
        case ended(spool: FilePath?, record: JobRecord)
        /// The job runs on another node, at this URL.
        case node(String, url: String)
    }

    /// Where a tap on step `name` (its name, or its number from 1) of job `id` is read: a
    /// queued job is a `conflict` (no node runs it yet). `forwarded` says the request came from
    /// another node already: it is never sent on again.
    public func tap(id: String, step name: String, forwarded: Bool) async throws -> TapPlace {
        let record = try await job(id: id)
        let index = try step(inPath: name, of: record)
        let label = record.job.steps[index].label(index: index)
        let running = record.state.status == .running && record.state.steps[index].finishedAt == nil
        let spool = running ? nil : await spools.output(of: id, step: index)
        // The node that runs the step, or that ran it and holds its spool, is asked.
        if let node = record.node, node != configuration.node, running || spool == nil {
            guard !forwarded else {
                throw DrayError(.conflict, "job \(id) runs on node \(node), not on the node this request was sent to")
            }
            return .node(node, url: try await peerURL(of: node, holding: "\(label) of job \(id)"))
        }
        guard running else { return .ended(spool: spool, record: record) }
        guard record.node != nil else {
            throw DrayError(.conflict, "job \(id) is queued: \(label) can be tapped once a node runs the job")
        }
        return .here(
            taps.tap(job: id, step: index), step: index,
            spool: JobRunner.outputPath(step: index, in: spools.directory(of: id)), record: record)
    }

    /// Why a job's output is not here: `gone`, after `--keep-outputs`.
    private func expired(_ record: JobRecord) -> DrayError {
        let kept = configuration.keepOutputs.map { " \(Self.text($0)) after the job ends (--keep-outputs)" } ?? ""
        return DrayError(.gone, "the outputs of job \(record.id) expired: they are kept\(kept)")
    }

    /// A duration as a person writes it: `24h`, `30m`, `90s`.
    static func text(_ duration: Duration) -> String {
        let seconds = duration.components.seconds
        if seconds > 0, seconds % 3600 == 0 { return "\(seconds / 3600)h" }
        if seconds > 0, seconds % 60 == 0 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }

    /// Stops the job if it runs (its container is removed) or waits, then deletes its record,
    /// log and spools. Returns false when there was no such job.
    public func delete(id: String) async throws -> Bool {
        guard try await store.job(id: id) != nil else { return false }
        _ = try await stop(id, .delete)
        // The node that ran it may have deleted it already, as asked.
        _ = try await store.delete(id: id)
        await spools.remove(id)
        return true
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

    /// Returns once ``run()`` has prepared the store and recovered, so that the API may be
    /// served; throws what stopped it.
    public func started() async throws {
        try await startup.result()
    }

    /// What ``run()`` does until shutdown: runs the parts, each until the task is canceled.
    public func work() async {
        await withTaskGroup { group in
            group.addTask { await self.sweeper.run() }
            group.addTask { await self.keeper.run() }
            group.addTask { await self.reaper.run() }
            group.addTask { await self.worker.run() }
            group.addTask { await self.listen() }
            group.addTask { await self.webhooks.run() }
            group.addTask { await self.scheduler.run() }
            await group.waitForAll()
        }
    }

    /// Follows the store's change feed, if it has one and ``Configuration/listen`` is on:
    /// another node queued a job (the worker claims), or wrote one that readers here follow.
    /// Without a feed, the worker and readers poll.
    private func listen() async {
        guard configuration.listen else { return }
        let changes = self.changes
        let worker = self.worker
        do {
            try await store.watch { change in
                switch change {
                case .queued: worker.wake()
                case .job(let id): changes.poke(id)
                case .log(let id): changes.poke(id, state: false)
                }
            }
        } catch {
            logger.warning("the store's change feed stopped: \(error)")
        }
    }

    /// Stops every job at once, as a shutdown with no grace period.
    public func stopAll() async {
        await shutDown(grace: .zero)
    }

    /// Takes no more jobs, gives the running ones `grace` to finish, then stops them with reason
    /// `shutdown`, waits until their containers are removed, and gives up the lease.
    private func shutDown(grace: Duration) async {
        let count = await running.count
        if count > 0, grace > .zero {
            logger.notice("waiting up to \(grace) for \(count) running job(s) to finish")
        }
        await running.close(grace: grace)
        await keeper.leave()
    }
}

extension Once where Value == Result<Void, any Error> {
    func result() async throws {
        try await value().get()
    }
}
