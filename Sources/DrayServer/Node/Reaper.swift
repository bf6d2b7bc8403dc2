import DrayEngine
import Foundation
import Logging

/// Ends the jobs of nodes whose lease ran out (`node-lost`), and at start ends what this node
/// itself left running when it stopped and removes its leftover containers.
struct Reaper: Sendable {
    let store: any JobStore
    let runtime: any ContainerRuntime
    let node: String
    let keeper: LeaseKeeper
    let running: RunningJobs
    let endings: JobEndings
    let logger: Logger

    /// How often this node looks for its containers that no running job owns.
    static let leftoverInterval = Duration.seconds(5)

    /// Reaps every `pollInterval` while this node's own lease is fresh (renewed within half a
    /// lease), and removes this node's leftover containers every ``leftoverInterval``, until
    /// the task is canceled. The two run apart: a store call that waits on a restarting
    /// database does not hold back the removal of containers, nor the other way round.
    func run() async {
        await withTaskGroup { group in
            group.addTask { await reapLostNodes() }
            group.addTask { await removeLeftoversPeriodically() }
        }
    }

    private func reapLostNodes() async {
        let interval = min(keeper.pollInterval, keeper.lease / 3)
        while !Task.isCancelled {
            if keeper.isFresh(within: keeper.lease / 2) { await reap() }
            try? await Task.sleep(for: interval)
        }
    }

    private func removeLeftoversPeriodically() async {
        var failing = false
        while !Task.isCancelled {
            try? await Task.sleep(for: Self.leftoverInterval)
            do {
                try await removeLeftovers()
                if failing { logger.notice("looks for leftover containers again") }
                failing = false
            } catch  where Task.isCancelled {
                return
            } catch {
                // Said once per outage (the engine or the store is away), not every pass.
                if !failing { logger.warning("cannot look for leftover containers: \(error)") }
                failing = true
            }
        }
    }

    /// Ends the jobs of nodes whose lease ran out, and removes their containers from this
    /// node's engine (a node that died on this host, or one that shared its engine, left them
    /// running).
    func reap() async {
        let reaped: [JobRecord]
        do {
            reaped = try await store.reapLostNodes(now: Date())
        } catch {
            logger.warning("cannot look for nodes that stopped answering: \(error)")
            return
        }
        for record in reaped {
            await endings.ended(record, as: record.state)
            logger.warning(
                "ended the job of a node that stopped answering",
                metadata: ["job": "\(record.id)", "lostNode": "\(record.node ?? "?")", "reason": "node-lost"])
        }
        guard !reaped.isEmpty else { return }
        let ids = Set(reaped.map(\.id))
        do {
            for container in try await runtime.jobContainers() where ids.contains(container.jobID) {
                try await runtime.removeContainer(container.id)
                logger.notice(
                    "removed a container of a lost node's job",
                    metadata: ["job": "\(container.jobID)", "container": "\(container.id)"])
            }
        } catch {
            logger.warning("cannot remove the containers of a lost node's jobs: \(error)")
        }
    }

    /// Ends in `error` the jobs this node left running when it stopped (or that an earlier
    /// version left running without a node), and removes this node's leftover containers.
    /// Queued jobs stay queued; other nodes' jobs and containers are not touched. It reads the
    /// store's index of running jobs and the engine's containers, never every job.
    func recoverOwn() async throws {
        for var record in try await store.runningJobs(node: node) where await !running.contains(record.id) {
            record.state.restarted()
            try await store.update(id: record.id, state: record.state)
            logger.notice(
                "the job was running when the server stopped; it is now in error", metadata: ["job": "\(record.id)"])
            await endings.ended(record, as: record.state)
        }
        try await removeLeftovers()
    }

    /// Removes this node's containers that no job running here owns: those a crash left, and
    /// those whose removal failed while the engine was away (a step's, or a job's sandbox). A
    /// job whose end the store holds owns none, even while its task here has not yet let go of
    /// it (its node lost it, and another node ended it).
    func removeLeftovers() async throws {
        for container in try await runtime.jobContainers() where container.node == nil || container.node == node {
            // Containers of jobs the store does not know belong to another Dray on this engine.
            guard let record = try await store.job(id: container.jobID) else { continue }
            if record.state.status == .running, await running.contains(container.jobID) { continue }
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
}
