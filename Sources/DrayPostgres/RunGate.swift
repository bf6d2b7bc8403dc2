import Foundation
import Synchronization

/// Opens once the connection pool runs: a call that comes first (the service group starts the
/// store's `run()` beside the services that use it) waits for it, rather than lease a
/// connection from a pool that has not started, which PostgresNIO warns about. A store whose
/// pool is never run is not waited on for ever: after `patience` the call goes on.
final class RunGate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [UUID: CheckedContinuation<Void, Never>])>((false, [:]))

    func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters = [:] }
            return state.waiters.values
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once the gate is open, or `patience` has passed.
    func wait(patience: Duration = .seconds(5)) async {
        guard !state.withLock({ $0.open }) else { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitUntilOpen() }
            group.addTask { try? await Task.sleep(for: patience) }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitUntilOpen() async {
        let id = UUID()
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state in
                    if state.open || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}
