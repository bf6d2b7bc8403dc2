import DrayEngine
import Foundation
import Logging
import NIOFileSystem
import ServiceLifecycle

/// Runs submitted jobs in the background, records them in the store, and stops them when
/// they are deleted or the server shuts down.
public actor JobService: Service {
    public let store: any JobStore
    public let runtime: any ContainerRuntime
    private let runner: JobRunner
    private let spoolRoot: FilePath
    private let logger: Logger
    /// The running jobs. Each task is owned here: canceled on delete and on shutdown.
    private var running: [String: Task<Void, Never>] = [:]

    public init(store: any JobStore, runtime: any ContainerRuntime, spoolRoot: FilePath, logger: Logger) {
        self.store = store
        self.runtime = runtime
        self.runner = JobRunner(runtime: runtime)
        self.spoolRoot = spoolRoot
        self.logger = logger
    }

    /// The message of a job that was running when the server stopped.
    public static let restartMessage = "server restarted while the job was running"

    /// Ends in `error` every job an earlier process left `running`, and removes the containers
    /// of this store's jobs that are not running. Containers of jobs this store does not know
    /// belong to another Dray on the same engine and are left alone. Call it before serving.
    public func recover() async throws {
        let records = try await store.jobs()
        for var record in records where record.state.status == .running && running[record.id] == nil {
            record.state.fail(Self.restartMessage)
            try await store.update(id: record.id, state: record.state)
            logger.notice("job \(record.id) was running when the server stopped; it is now in error")
        }
        let known = Set(records.map(\.id))
        for container in try await runtime.jobContainers()
        where known.contains(container.jobID) && running[container.jobID] == nil {
            do {
                try await runtime.removeContainer(container.id)
                logger.notice("removed container \(container.id) of job \(container.jobID)")
            } catch {
                logger.warning("cannot remove container \(container.id) of job \(container.jobID): \(error)")
            }
        }
    }

    /// Stores `job` under a new id and starts it. Returns at once; the job runs in the background.
    public func submit(_ job: Job) async throws -> JobRecord {
        var job = job
        let id = UUID().uuidString
        job.id = id
        let record = JobRecord(id: id, job: job, state: JobState(stepCount: job.steps.count))
        try await store.create(record)
        running[id] = Task { await self.execute(record) }
        logger.info("job \(id) submitted", metadata: ["steps": "\(job.steps.count)"])
        return record
    }

    private func execute(_ record: JobRecord) async {
        let recorder = StoreRecorder(id: record.id, store: store, logger: logger)
        let runner = self.runner
        let spool = spoolDirectory(of: record.id)
        let state = await recorder.recording { observer in
            await runner.run(record.job, id: record.id, spoolDirectory: spool, observer: observer, state: record.state)
        }
        running[record.id] = nil
        logger.info("job \(record.id) ended: \(state.status.rawValue)\(state.error.map { ", \($0)" } ?? "")")
    }

    /// Where a job's step outputs are spooled.
    public func spoolDirectory(of id: String) -> FilePath {
        spoolRoot.appending(id)
    }

    /// Stops the job if it runs (its container is removed), then deletes its record, log and
    /// spools. Returns false when there was no such job.
    public func delete(id: String) async throws -> Bool {
        if let task = running[id] {
            task.cancel()
            await task.value
        }
        let existed = try await store.delete(id: id)
        _ = try? await FileSystem.shared.removeItem(at: spoolDirectory(of: id), recursively: true)
        return existed
    }

    /// Waits for the server's shutdown, then stops the running jobs.
    public func run() async throws {
        try? await gracefulShutdown()
        await stopAll()
    }

    /// Cancels every running job and waits until each has ended and removed its container.
    public func stopAll() async {
        let tasks = running
        for task in tasks.values { task.cancel() }
        for task in tasks.values { await task.value }
    }
}
