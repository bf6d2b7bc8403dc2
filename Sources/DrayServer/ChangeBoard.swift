import Synchronization

/// Tells waiters that a job's log or state was written, so that live logs follow a job
/// without polling the store.
final class ChangeBoard: Sendable {
    private struct Entry {
        var version = 0
        /// The writes that may have changed its state (not only appended to its log).
        var stateVersion = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex<(entries: [String: Entry], nextWaiter: Int)>(([:], 0))

    /// How many times the job was written so far.
    func version(of id: String) -> Int {
        state.withLock { $0.entries[id]?.version ?? 0 }
    }

    /// How many of its writes so far may have changed its state.
    func stateVersion(of id: String) -> Int {
        state.withLock { $0.entries[id]?.stateVersion ?? 0 }
    }

    /// The job was written (its state too, unless `state` is false): wakes everyone waiting on it.
    func bump(_ id: String, state changed: Bool = true) {
        let waiters = state.withLock { state in
            var entry = state.entries[id] ?? Entry()
            entry.version += 1
            if changed { entry.stateVersion += 1 }
            let waiters = entry.waiters.values
            entry.waiters = [:]
            state.entries[id] = entry
            return Array(waiters)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// A node (maybe this one) wrote the job, as the store's feed says: the same as ``bump(_:)``
    /// for a job someone here follows or writes, and nothing for the rest, so that the board
    /// keeps no entry for every job of every node.
    func poke(_ id: String, state changed: Bool = true) {
        guard state.withLock({ $0.entries[id] != nil }) else { return }
        bump(id, state: changed)
    }

    /// Forgets a job that ended, waking its waiters.
    func remove(_ id: String) {
        bump(id)
        state.withLock { _ = $0.entries.removeValue(forKey: id) }
    }

    /// Returns once the job's version is past `seen`, after `timeout`, or when the task is canceled.
    func wait(for id: String, after seen: Int, timeout: Duration) async {
        await withTaskGroup { group in
            group.addTask { await self.wait(for: id, after: seen) }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }

    private func wait(for id: String, after seen: Int) async {
        let key = state.withLock { state in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state in
                    if (state.entries[id]?.version ?? 0) > seen || Task.isCancelled { return true }
                    state.entries[id, default: Entry()].waiters[key] = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state in state.entries[id]?.waiters.removeValue(forKey: key) }
            waiter?.resume()
        }
    }
}
