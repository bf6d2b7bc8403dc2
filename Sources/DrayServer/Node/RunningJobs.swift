import DrayEngine
import Synchronization

/// The jobs running on this node. Each one's task is owned here: stopped on cancel, delete,
/// a lost lease and shutdown, with the reason its runner reads as it ends.
actor RunningJobs {
    private var tasks: [String: Task<Void, Never>] = [:]
    /// Why a running job was stopped, read by its runner as it ends.
    nonisolated let reasons = StopReasons()
    /// False once shutdown began: no job starts any more.
    private(set) var open = true
    let slots: Int

    init(slots: Int) {
        self.slots = slots
    }

    var count: Int { tasks.count }

    /// How many more jobs may start now; none once closed.
    var free: Int { open ? max(0, slots - tasks.count) : 0 }

    func contains(_ id: String) -> Bool { tasks[id] != nil }

    /// Runs `body` as job `id`'s task; it leaves the set as `body` ends.
    func start(
        _ id: String, _ body: @escaping @Sendable () async -> Void, then freed: @escaping @Sendable () -> Void = {}
    ) {
        tasks[id] = Task {
            await body()
            self.ended(id)
            // The slot is free now: whoever claims sees it.
            freed()
        }
    }

    private func ended(_ id: String) {
        tasks[id] = nil
        reasons[id] = nil
    }

    /// Waits until job `id`'s task has ended, if it runs here.
    func waitFor(_ id: String) async {
        await tasks[id]?.value
    }

    /// Stops job `id` for `reason` and waits until its task has ended (its containers are
    /// removed); false when it does not run here.
    func stop(_ id: String, _ reason: FailureReason) async -> Bool {
        guard let task = tasks[id] else { return false }
        reasons[id] = reason
        task.cancel()
        await task.value
        return true
    }

    /// Stops every job for `reason`, and waits until they have ended.
    func stopAll(_ reason: FailureReason) async {
        let all = cancelAll(reason)
        for task in all.values { await task.value }
    }

    /// Cancels every job's task for `reason`; returns the tasks.
    @discardableResult
    private func cancelAll(_ reason: FailureReason) -> [String: Task<Void, Never>] {
        for (id, task) in tasks {
            reasons[id] = reason
            task.cancel()
        }
        return tasks
    }

    /// Takes no more jobs; gives the running ones `grace` to finish, then stops them for
    /// `shutdown`; returns once all have ended.
    func close(grace: Duration) async {
        open = false
        let all = tasks
        guard !all.isEmpty else { return }
        await withTaskGroup { group in
            group.addTask { for task in all.values { await task.value } }
            group.addTask { try? await Task.sleep(for: grace) }
            await group.next()
            // Before the group ends, which waits for its tasks: one waits for every job.
            cancelAll(.shutdown)
            group.cancelAll()
        }
    }
}

/// Why running jobs were stopped, shared with their runners, which read it as they end.
final class StopReasons: Sendable {
    private let reasons = Mutex<[String: FailureReason]>([:])

    subscript(id: String) -> FailureReason? {
        get { reasons.withLock { $0[id] } }
        set { reasons.withLock { $0[id] = newValue } }
    }
}
