import DrayEngine
import Foundation
import Logging

/// Cleans up after finished jobs: frees the spools of jobs finished longer than `keepOutputs`
/// ago (their secrets go too: they cannot be resumed), and deletes jobs finished longer than
/// `jobTTL` ago, and the audit log's entries older than `keepAudit`.
struct Sweeper: Sendable {
    let store: any JobStore
    let keepOutputs: Duration?
    let jobTTL: Duration?
    let keepAudit: Duration?
    let running: RunningJobs
    let spools: Spools
    let endings: JobEndings
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

    /// Deletes the jobs that ended more than `jobTTL` ago, from the store's index by end time;
    /// frees the spools (on this node's disk) of jobs that ended more than `keepOutputs` ago.
    /// Neither reads every job.
    func sweep(now: Date = Date()) async {
        if let ttl = jobTTL { await deleteOld(before: now.addingTimeInterval(-ttl.timeInterval)) }
        if let keep = keepOutputs { await freeSpools(before: now.addingTimeInterval(-keep.timeInterval)) }
        if let keep = keepAudit {
            do {
                let pruned = try await store.pruneAudit(before: now.addingTimeInterval(-keep.timeInterval))
                if pruned > 0 { logger.info("audit log: \(pruned) entries older than --keep-audit \(keep) removed") }
            } catch {
                logger.warning("cannot prune the audit log: \(error)")
            }
        }
    }

    private func deleteOld(before cutoff: Date) async {
        let page = 200
        while !Task.isCancelled {
            let old: [JobSummary]
            do {
                old = try await store.finishedJobs(before: cutoff, limit: page)
            } catch {
                logger.warning("cannot look for old jobs to clean up: \(error)")
                return
            }
            var deleted = 0
            for summary in old where await !running.contains(summary.id) {
                guard (try? await store.delete(id: summary.id)) == true else { continue }
                deleted += 1
                await spools.remove(summary.id)
                logger.info(
                    "job deleted: finished more than --job-ttl \(jobTTL ?? .zero) ago",
                    metadata: ["job": "\(summary.id)"])
            }
            if old.count < page || deleted == 0 { return }
        }
    }

    /// Looks only at the spools still here whose last write is older than `cutoff`, and frees
    /// those of jobs that ended before it (or that the store no longer has).
    private func freeSpools(before cutoff: Date) async {
        for id in await spools.written(before: cutoff) where await !running.contains(id) {
            let record: JobRecord?
            do {
                record = try await store.job(id: id)
            } catch {
                logger.warning("cannot look for old spools to free: \(error)")
                return
            }
            guard let record else {
                await spools.remove(id)
                continue
            }
            guard record.state.status != .running, let finished = record.state.finishedAt, finished < cutoff else {
                continue
            }
            await spools.remove(id, keepingRecord: true)
            // Without its outputs the job cannot be resumed: its secrets go too.
            await endings.eraseSecrets(of: record)
            logger.debug("freed the job's step outputs", metadata: ["job": "\(id)"])
        }
    }
}
