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
    let endings: JobEndings
    let logger: Logger
    /// `--max-log-bytes`, per job; nil keeps every line.
    let maxLogBytes: Int?

    /// Runs the job to its end and returns how it ended. A new job starts at its first step; a
    /// resumed one where it failed (a streaming job that is not durable, which keeps no output
    /// between its steps, from the start), when the step's input is in this node's spool:
    /// resumed on another node, it starts again from step 1.
    func run(_ record: JobRecord, startedAt: Date = Date()) async -> JobState {
        let id = record.id
        let changes = self.changes
        let recorder = StoreRecorder(
            id: id, store: store, logger: logger, owner: (node, record.version), metrics: endings.metrics,
            steps: record.state.steps, maxLogBytes: maxLogBytes
        ) { state in
            changes.bump(id, state: state)
        }
        var from = record.state.resumeStep(of: record.job)
        var start = record.state
        start.start(at: startedAt)
        var missing = false
        for input in record.state.resumeInputs(of: record.job) where await spools.output(of: id, step: input) == nil {
            missing = true
        }
        if missing {
            logger.notice(
                "the job's spooled input is on the node that ran it before: it runs again from step 1",
                metadata: ["job": "\(id)"])
            from = 0
            start.rewind(to: 0)
        }
        await endings.webhooks.tell(record, as: start, .start)
        let runner = self.runner
        let spool = spools.directory(of: id)
        let reasons = self.reasons
        let state = await recorder.recording { [start, from] observer in
            await runner.run(
                record.job, id: id, spoolDirectory: spool, observer: observer, state: start, from: from,
                stopReason: { reasons[id] })
        }
        await endings.ended(record, as: state)
        return state
    }
}
