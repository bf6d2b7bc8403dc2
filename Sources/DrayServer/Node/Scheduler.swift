import DrayEngine
import Foundation
import Logging

/// Runs schedules: at each tick, every node races to claim it in the store, and the one that
/// wins submits the tick's job (or skips it: paused, its previous job still running without
/// `overlap`, or missed with `catchUp: "none"`). Each node sleeps until the next tick of any
/// schedule, and looks at the store at least once a second for new ones.
struct Scheduler: Sendable {
    let store: any JobStore
    /// Submits the job of `schedule`'s tick under `id`.
    let submit: @Sendable (_ schedule: Schedule, _ tick: Date, _ id: String) async throws -> Void
    let logger: Logger

    func run() async {
        while !Task.isCancelled {
            let now = Date()
            var wake = now.addingTimeInterval(1)
            do {
                for schedule in try await store.schedules() where !schedule.paused {
                    if let due = schedule.due(at: now) { await fire(schedule, tick: due.tick, missed: due.missed) }
                    if let next = schedule.next(after: now), next < wake { wake = next }
                }
            } catch {
                logger.warning("cannot read the schedules: \(error)")
            }
            let pause = wake.timeIntervalSinceNow
            if pause > 0 { try? await Task.sleep(for: .milliseconds(Int64(pause * 1000) + 1)) }
        }
    }

    /// Claims `tick` and runs it, unless another node claimed it first.
    func fire(_ schedule: Schedule, tick: Date, missed: Bool) async {
        var runs = !missed || schedule.catchUp == .one
        if runs, !schedule.overlap, let last = schedule.lastJob,
            let previous = try? await store.job(id: last), previous.state.status == .running
        {
            runs = false
        }
        let id = runs ? UUID().uuidString : nil
        var metadata: Logger.Metadata = ["schedule": "\(schedule.id)", "tick": "\(tick)"]
        do {
            guard try await store.claimTick(id: schedule.id, previous: schedule.lastTick, tick: tick, job: id) else {
                return
            }
        } catch {
            logger.warning("cannot claim a schedule's tick: \(error)", metadata: metadata)
            return
        }
        guard let id else {
            logger.info(
                missed ? "a missed tick was skipped (catchUp none)" : "a tick was skipped: the previous job still runs",
                metadata: metadata)
            return
        }
        metadata["job"] = "\(id)"
        do {
            try await submit(schedule, tick, id)
        } catch {
            logger.error("a schedule's tick could not submit its job: \(error)", metadata: metadata)
        }
    }
}
