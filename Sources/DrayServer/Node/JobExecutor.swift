import DrayEngine
import Foundation
import Logging

/// Runs one job this node claimed with ``JobRunner``, recording its log and state through a
/// ``StoreRecorder`` that holds the claim (node and version).
struct JobExecutor: Sendable {
    let store: any JobStore
    let runner: JobRunner
    let spools: Spools
    let node: String
    let reasons: StopReasons
    let changes: ChangeBoard
    let metrics: DrayMetrics
    let logger: Logger
    /// `--max-log-bytes`, per job; nil keeps every line.
    let maxLogBytes: Int?

    /// Runs the job to its end and returns how it ended. A new job starts at its first step; a
    /// resumed one where it failed (a streaming job, which keeps no output between its steps,
    /// from the start), when the step's input is in this node's spool: resumed on another
    /// node, it starts again from step 1.
    func run(_ record: JobRecord) async -> JobState {
        let id = record.id
        let changes = self.changes
        let recorder = StoreRecorder(
            id: id, store: store, logger: logger, owner: (node, record.version), metrics: metrics,
            steps: record.state.steps, maxLogBytes: maxLogBytes
        ) {
            changes.bump(id)
        }
        var from = record.job.streaming == true ? 0 : min(record.state.stepsCompleted, record.job.steps.count - 1)
        var start = record.state
        if from > 0, await spools.output(of: id, step: from - 1) == nil {
            logger.notice(
                "the job's spooled input is on the node that ran it before: it runs again from step 1",
                metadata: ["job": "\(id)"])
            from = 0
            start.stepsCompleted = 0
            for index in start.steps.indices { start.steps[index] = StepState() }
        }
        let runner = self.runner
        let spool = spools.directory(of: id)
        let reasons = self.reasons
        let state = await recorder.recording { [start, from] observer in
            await runner.run(
                record.job, id: id, spoolDirectory: spool, observer: observer, state: start, from: from,
                stopReason: { reasons[id] })
        }
        metrics.jobEnded(state)
        // A complete job cannot run again: its secrets are no longer needed anywhere.
        if state.status == .complete { await eraseSecrets(of: record) }
        changes.remove(id)
        var ended: Logger.Metadata = ["job": "\(id)", "status": "\(state.status.rawValue)"]
        if let reason = state.reason { ended["reason"] = "\(reason.rawValue)" }
        if let error = state.error { ended["error"] = "\(error)" }
        logger.info("job ended", metadata: ended)
        return state
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
