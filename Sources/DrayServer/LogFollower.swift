import DrayEngine
import Foundation

/// What a follower of a job's log is told, in order.
public enum LogEvent: Sendable {
    /// Lines of the log, the first of them at `first` (from 0).
    case lines(first: Int, [LogLine])
    /// Nothing was written for a heartbeat: a follower that went away is noticed when this is written.
    case idle
    /// The job ended, in this state, after every line above: the last event.
    case ended(JobRecord)
}

/// A job's log from a line on, as it is written, and then its end (``JobService/follow(id:from:heartbeat:)``).
/// It waits on the ``ChangeBoard``, which this node's writes and the store's feed wake, and
/// looks again every second for a job another node runs without a feed. The store's outages
/// are waited out; a job deleted meanwhile ends the events without an end.
public struct LogFollower: AsyncSequence, Sendable {
    public typealias Element = LogEvent

    let service: JobService
    let id: String
    let start: Int
    let heartbeat: Duration
    /// Only this step's lines (from 0), counted among themselves; nil for every line.
    let step: Int?

    public func makeAsyncIterator() -> Iterator {
        Iterator(follower: self, next: step == nil ? start : 0, skip: step == nil ? 0 : start, emitted: start)
    }

    public struct Iterator: AsyncIteratorProtocol {
        let follower: LogFollower
        /// The next line of the whole log to read.
        var next: Int
        /// For one step's lines: how many of them are still to pass over, and how many came before.
        var skip: Int
        var emitted: Int
        var finished = false
        var lastEvent = ContinuousClock.now
        /// The job's state version when its state was last read; nil until it has been, or
        /// when a wait ended with no write (a job another node runs without a feed).
        var stateRead: Int?

        public mutating func next() async throws -> LogEvent? {
            let service = follower.service
            let id = follower.id
            while !finished {
                try Task.checkCancellation()
                do {
                    let seen = service.changes.version(of: id)
                    let stateSeen = service.changes.stateVersion(of: id)
                    let lines = try await service.log(id: id, from: next, limit: 1000)
                    if !lines.isEmpty {
                        next += lines.count
                        guard let step = follower.step else {
                            lastEvent = .now
                            return .lines(first: next - lines.count, lines)
                        }
                        var own = lines.filter { $0.step == step }
                        let passed = Swift.min(skip, own.count)
                        skip -= passed
                        own.removeFirst(passed)
                        if own.isEmpty { continue }
                        defer { emitted += own.count }
                        lastEvent = .now
                        return .lines(first: emitted, own)
                    }
                    // The recorder writes a job's last lines before its final state: read the
                    // state, then the log once more, and nothing is missed. Writes that only
                    // appended lines leave the state as it was read.
                    if stateRead != stateSeen {
                        stateRead = stateSeen
                        let record = try await service.job(id: id)
                        if record.state.status != .running {
                            if try await service.log(id: id, from: next, limit: 1).isEmpty {
                                finished = true
                                return .ended(record)
                            }
                            continue
                        }
                    }
                    // Woken by the next write; the timeout covers a job another server runs.
                    await service.changes.wait(for: id, after: seen, timeout: .seconds(1))
                    if service.changes.version(of: id) == seen { stateRead = nil }
                    if ContinuousClock.now - lastEvent >= follower.heartbeat {
                        lastEvent = .now
                        return .idle
                    }
                } catch let error as DrayError where error.code == .notFound {
                    finished = true
                } catch let error as DrayError where error.code == .storage {
                    try await Task.sleep(for: .seconds(1))
                }
            }
            return nil
        }
    }
}

extension JobService {
    /// Follows a job's log from line `index`: its lines as they are written, an ``LogEvent/idle``
    /// after each `heartbeat` without any, and at last the job's end. With `step`, only that
    /// step's lines, `index` counting them alone. A job that does not exist is `notFound`.
    public func follow(id: String, from index: Int, step: Int? = nil, heartbeat: Duration) async throws -> LogFollower {
        _ = try await job(id: id)
        return LogFollower(service: self, id: id, start: index, heartbeat: heartbeat, step: step)
    }
}
