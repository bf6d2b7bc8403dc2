import DrayEngine
import Foundation
import Logging

/// Claims queued jobs from the store while this node has free slots, and starts them with the
/// executor. It is woken by a submit or a resume here, by a job's end, by the store's change
/// feed, and every `pollInterval`.
actor JobQueueWorker {
    private let store: any JobStore
    private let node: String
    private let running: RunningJobs
    private let executor: JobExecutor
    private let pollInterval: Duration
    private let metrics: DrayMetrics
    private let logger: Logger
    /// A claim is under way; another wish to claim sets `claimAgain`.
    private var claiming = false
    private var claimAgain = false
    private let doorbell: Doorbell

    init(
        store: any JobStore, node: String, running: RunningJobs, executor: JobExecutor, doorbell: Doorbell,
        pollInterval: Duration, metrics: DrayMetrics, logger: Logger
    ) {
        self.store = store
        self.node = node
        self.running = running
        self.executor = executor
        self.pollInterval = pollInterval
        self.metrics = metrics
        self.logger = logger
        self.doorbell = doorbell
    }

    /// Asks for a claim soon.
    nonisolated func wake() {
        doorbell.ring()
    }

    /// Claims queued jobs while this node has free slots, and starts them. One claim at a time:
    /// a wish to claim during one makes it claim again once done.
    func claim() async {
        guard !claiming else {
            claimAgain = true
            return
        }
        claiming = true
        defer { claiming = false }
        repeat {
            claimAgain = false
            let free = await running.free
            guard free > 0 else { break }
            let records: [JobRecord]
            do {
                records = try await store.claim(node: node, limit: free)
            } catch {
                logger.warning("cannot claim queued jobs: \(error)")
                break
            }
            for record in records {
                // Taken here, one after the other, so that jobs claimed together start in order.
                let now = Date()
                metrics.jobStarted(waited: .seconds(max(0, now.timeIntervalSince(record.state.createdAt))))
                let executor = self.executor
                await running.start(record.id, { _ = await executor.run(record, startedAt: now) }, then: wake)
            }
            if records.count == free { claimAgain = true }
        } while claimAgain
        metrics.jobs(running: await running.count, queued: nil)
    }

    /// Claims whenever woken, and every `pollInterval`, when it also counts the queue for the
    /// metrics; until the task is canceled.
    func run() async {
        await withTaskCancellationHandler {
            await withTaskGroup { group in
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: self.pollInterval)
                        self.wake()
                        await self.countQueued()
                    }
                }
                for await _ in doorbell.rings {
                    if Task.isCancelled { break }
                    await claim()
                }
                group.cancelAll()
            }
        } onCancel: {
            doorbell.silence()
        }
    }

    /// Updates the queued-jobs gauge from the store.
    private func countQueued() async {
        if let queued = try? await store.queuedCount() { metrics.jobs(running: await running.count, queued: queued) }
    }
}
