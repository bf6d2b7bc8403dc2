import DrayEngine
import Foundation
import Logging

/// What follows whenever a job ends, however it ended (it ran here, it was canceled in the
/// queue, its node was lost, or this node restarted while it ran): the metrics count it, its
/// webhooks are told, its followers are woken, a complete job's secrets are erased, the queue is woken (a slot or a
/// place in the queue is free), and the end is logged. Every way of ending a job calls
/// ``ended(_:as:)``, once, after the store holds the end.
struct JobEndings: Sendable {
    let store: any JobStore
    let changes: ChangeBoard
    let metrics: DrayMetrics
    let queue: Doorbell
    let webhooks: WebhookSender
    let logger: Logger

    /// `record`'s job ended in `state`, now in the store.
    func ended(_ record: JobRecord, as state: JobState) async {
        metrics.jobEnded(state)
        // Signed now, before the webhooks' secrets are erased with the others.
        await webhooks.tell(record, as: state, .end)
        // A complete job cannot run again: its secrets are no longer needed anywhere.
        if state.status == .complete { await eraseSecrets(of: record) }
        changes.remove(record.id)
        queue.ring()
        var ended: Logger.Metadata = ["job": "\(record.id)", "status": "\(state.status.rawValue)"]
        if let reason = state.reason { ended["reason"] = "\(reason.rawValue)" }
        if let error = state.error { ended["error"] = "\(error)" }
        if let node = record.node { ended["node"] = "\(node)" }
        logger.info("job ended", metadata: ended)
    }

    /// Erases the values of a job's secrets from the store, once it can no longer run or be resumed.
    func eraseSecrets(of record: JobRecord) async {
        guard record.job.secretValues.contains(where: { !$0.isEmpty }) else { return }
        do {
            try await store.update(id: record.id, job: record.job.erasingSecrets())
        } catch {
            logger.warning("cannot erase the job's secrets from the store: \(error)", metadata: ["job": "\(record.id)"])
        }
    }
}

/// Wakes a waiting loop: rings made while it works are kept as one.
final class Doorbell: Sendable {
    let rings: AsyncStream<Void>
    private let bell: AsyncStream<Void>.Continuation

    init() {
        (rings, bell) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    func ring() {
        bell.yield()
    }

    /// Ends ``rings``: the loop that waits on them stops.
    func silence() {
        bell.finish()
    }
}
