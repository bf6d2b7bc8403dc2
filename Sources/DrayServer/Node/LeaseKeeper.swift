import DrayEngine
import Foundation
import Logging
import Synchronization

/// Keeps this node's lease: renews it every third of `lease` (or every `pollInterval`, if
/// sooner). When the lease had run out and another node took this node's jobs, stops them:
/// their writes are refused, and their containers must not run on. It also acts on the stop
/// requests any node wrote for this node's jobs.
final class LeaseKeeper: Sendable {
    let store: any JobStore
    let node: String
    let lease: Duration
    let pollInterval: Duration
    let running: RunningJobs
    let spools: Spools
    let logger: Logger
    /// When the lease was last renewed.
    private let renewed = Mutex<ContinuousClock.Instant?>(nil)

    init(
        store: any JobStore, node: String, lease: Duration, pollInterval: Duration, running: RunningJobs,
        spools: Spools, logger: Logger
    ) {
        self.store = store
        self.node = node
        self.lease = lease
        self.pollInterval = pollInterval
        self.running = running
        self.spools = spools
        self.logger = logger
    }

    /// Whether the lease was renewed within `age`: only such a node ends others' jobs, as
    /// after the store was away every lease looks run out until its node renews it.
    func isFresh(within age: Duration) -> Bool {
        renewed.withLock { $0.map { ContinuousClock.now - $0 < age } ?? false }
    }

    /// Takes the lease at start. On a store that holds one node, while another node's lease is
    /// live, it waits, and says so, until that lease runs out (a node that stopped answering)
    /// or its node leaves: a replacement never exits over a dead node's lease. A store that
    /// knows the other node is alive (SQLite's lock) refuses at once (it throws).
    func join() async throws {
        var waitingSince: ContinuousClock.Instant?
        while true {
            let at = ContinuousClock.now
            do {
                _ = try await store.heartbeat(node: node, lease: lease)
            } catch let error as DrayError where error.code == .leaseHeld {
                if waitingSince == nil {
                    waitingSince = at
                    logger.warning("\(error.message); waiting until its lease runs out or it leaves")
                }
                try await Task.sleep(for: min(pollInterval, .seconds(1)))
                continue
            }
            renewed.withLock { $0 = at }
            if let waitingSince {
                logger.notice("took the store's lease after waiting \(ContinuousClock.now - waitingSince)")
            }
            return
        }
    }

    /// Gives the lease up, as a node that stops cleanly does.
    func leave() async {
        do {
            try await store.leave(node: node)
            logger.info("released this node's lease")
        } catch {
            logger.warning("cannot give up this node's lease: \(error)")
        }
    }

    /// Renews and takes stop requests until the task is canceled.
    func run() async {
        let interval = min(pollInterval, lease / 3)
        while !Task.isCancelled {
            if await renew() { await takeStopRequests() }
            try? await Task.sleep(for: interval)
        }
    }

    /// Renews the lease; false when the store could not be reached.
    private func renew() async -> Bool {
        let at = ContinuousClock.now
        do {
            if try await store.heartbeat(node: node, lease: lease) {
                renewed.withLock { $0 = at }
                return true
            }
        } catch {
            // A node that is stopping gives its lease up next: a renewal cut short says nothing.
            logger.log(level: Task.isCancelled ? .debug : .error, "cannot renew this node's lease: \(error)")
            return false
        }
        renewed.withLock { $0 = at }
        let count = await running.count
        logger.error(
            "this node's lease ran out and its jobs were taken by another node: stopping them",
            metadata: ["jobs": "\(count)"])
        await running.stopAll(.nodeLost)
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
        for (id, request) in requests where await running.contains(id) {
            logger.info("stopping the job, as another node asked", metadata: ["job": "\(id)", "request": "\(request)"])
            _ = await running.stop(id, .canceled)
            if request == .delete {
                _ = try? await store.delete(id: id)
                await spools.remove(id)
            }
        }
    }
}
