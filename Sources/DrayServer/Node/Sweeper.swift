import DrayEngine
import Foundation
import Logging

/// Cleans up after finished jobs: frees the spools of jobs finished longer than `keepOutputs`
/// ago (their secrets go too: they cannot be resumed), and deletes jobs finished longer than
/// `jobTTL` ago.
struct Sweeper: Sendable {
    let store: any JobStore
    let keepOutputs: Duration?
    let jobTTL: Duration?
    let running: RunningJobs
    let spools: Spools
    let executor: JobExecutor
    let logger: Logger

    /// How often finished jobs are looked at.
    var interval: Duration {
        let shortest = [keepOutputs, jobTTL].compactMap { $0 }.min() ?? .seconds(600)
        return min(max(shortest / 10, .milliseconds(200)), .seconds(60))
    }

    /// Sweeps every ``interval`` until the task is canceled.
    func run() async {
        while !Task.isCancelled {
            await sweep()
            try? await Task.sleep(for: interval)
        }
    }

    func sweep(now: Date = Date()) async {
        guard keepOutputs != nil || jobTTL != nil else { return }
        let records: [JobRecord]
        do {
            records = try await store.jobs()
        } catch {
            logger.warning("cannot look for old jobs to clean up: \(error)")
            return
        }
        for record in records where record.state.status != .running {
            guard let finished = record.state.finishedAt, await !running.contains(record.id) else { continue }
            let age = Duration.seconds(now.timeIntervalSince(finished))
            if let ttl = jobTTL, age > ttl {
                if (try? await store.delete(id: record.id)) == true {
                    await spools.remove(record.id)
                    logger.info(
                        "job deleted: finished more than --job-ttl \(ttl) ago", metadata: ["job": "\(record.id)"])
                }
            } else if let keep = keepOutputs, age > keep, await !spools.wasFreed(record.id) {
                await spools.remove(record.id, keepingRecord: true)
                await executor.eraseSecrets(of: record)
                logger.debug("freed the job's step outputs", metadata: ["job": "\(record.id)"])
            }
        }
    }
}
