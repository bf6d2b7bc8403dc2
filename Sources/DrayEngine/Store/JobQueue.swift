import Foundation

/// What a node is asked to do to a job it runs, by whichever node took the request.
public enum StopRequest: String, Sendable, Codable, CaseIterable {
    /// Stop it; it ends in `error`, reason `canceled`.
    case cancel
    /// Stop it, then delete it.
    case delete
}

/// The control plane, kept in the store: the queue of jobs waiting to run, which node runs
/// which job, the nodes' leases, and the requests to stop a job. Nothing another node must see
/// lives only in a process's memory, so that queued jobs survive any crash and a job can be
/// canceled through any node.
///
/// A node renews its lease with ``heartbeat(node:lease:)``. A job it claims is its own while
/// that lease holds; once it runs out, any node's ``reapLostNodes(now:)`` ends the job in
/// `error`, reason `node-lost`, and the writes of the node that lost it are refused (fencing).
public protocol JobQueue: Sendable {
    /// Marks `node` alive for `lease` from now. Returns false when the node's lease had run out
    /// and its jobs were taken: it must stop them and write nothing about them. A store that
    /// holds one node at a time (SQLite, Redis) throws `leaseHeld` while another node's lease
    /// is live (that node may have stopped answering: its lease runs out), or a `conflict` when
    /// it knows the other node is alive (SQLite's lock). "From now" is on the store's clock.
    func heartbeat(node: String, lease: Duration) async throws -> Bool
    /// Records the URL at which `node` answers other nodes (`--advertise-url`), kept while the
    /// node comes and goes: its spool's outputs are fetched there. A store that holds one node
    /// at a time keeps none.
    func advertise(node: String, url: String) async throws
    /// The URL `node` advertised last, nil when none.
    func advertisedURL(node: String) async throws -> String?
    /// Gives up `node`'s lease at once, as a node does when it stops cleanly.
    func leave(node: String) async throws
    /// Up to `limit` of the oldest queued jobs that no node has claimed, now `node`'s.
    func claim(node: String, limit: Int) async throws -> [JobRecord]
    /// How many jobs wait in the queue, unclaimed.
    func queuedCount() async throws -> Int
    /// Asks the node that runs job `id` to stop it. False when no node runs it.
    func requestStop(id: String, _ request: StopRequest) async throws -> Bool
    /// The stop requests for `node`'s jobs, each given once.
    func stopRequests(node: String) async throws -> [(id: String, request: StopRequest)]
    /// Ends in `error`, reason `node-lost`, the running jobs of every node whose lease ran out
    /// before `now`, and forgets those nodes. Returns the jobs it ended. A store that nodes on
    /// many hosts share compares leases on its own clock, never on theirs: there `now` says only
    /// how far from the present to look (`Date()` is the present; a later one reaps earlier).
    func reapLostNodes(now: Date) async throws -> [JobRecord]
    /// Puts a job that ended in `error` back in the queue with `state` (a resume). False when
    /// the job is not in `error` any more: another resume took it first.
    func requeue(id: String, state: JobState) async throws -> Bool
    /// Ends with `state` a job that waits in the queue, unclaimed. False when a node has
    /// claimed it already (then ask that node with ``requestStop(id:_:)``).
    func endQueued(id: String, state: JobState) async throws -> Bool
    /// Replaces the state of a job that `node` runs, written last at `version` (as claimed, or
    /// as this node last wrote it), and makes it `version + 1`. Throws a `conflict` when the job
    /// is no longer `node`'s (its lease ran out and another node ended it) or when it was
    /// written since: the fence. Any other write of a job's state or node adds one to its version.
    func update(id: String, state: JobState, owner node: String, version: Int) async throws
    /// Calls `changed` for every change any node makes, until the task is canceled. It only
    /// wakes: whoever is woken reads the store. A store without a feed returns at once, and
    /// nodes look every second instead.
    func watch(_ changed: @escaping @Sendable (StoreChange) -> Void) async throws
}

/// What a store's change feed says happened.
public enum StoreChange: Sendable, Equatable {
    /// A job joined the queue (or a node was asked to stop one): idle nodes look at the store.
    case queued
    /// A job's state (and maybe its log) was written.
    case job(String)
    /// Only lines of a job's log were appended: a follower reads them, not the job's state.
    case log(String)

    /// The change a feed's message names: `queue`, `stop:NODE`, `job:ID` or `log:ID`; nil for
    /// another.
    public init?(payload: String) {
        if payload == "queue" || payload.hasPrefix("stop:") {
            self = .queued
        } else if payload.hasPrefix("job:") {
            self = .job(String(payload.dropFirst(4)))
        } else if payload.hasPrefix("log:") {
            self = .log(String(payload.dropFirst(4)))
        } else {
            return nil
        }
    }
}

extension JobQueue {
    /// One node at a time: no other node asks where outputs are.
    public func advertise(node: String, url: String) async throws {}

    public func advertisedURL(node: String) async throws -> String? { nil }

    /// No feed: nodes poll.
    public func watch(_ changed: @escaping @Sendable (StoreChange) -> Void) async throws {}
}

extension DrayError {
    /// The write of a node whose job was taken, or that did not see the job's last write.
    public static func fenced(_ id: String, node: String, version: Int) -> DrayError {
        DrayError(
            .conflict,
            "job \(id) is no longer node \(node)'s at version \(version): its lease ran out and another node ended it, or it was written since"
        )
    }

    /// A second node on a store that holds one, while the first one's lease is live: it may
    /// have stopped answering, so a node that starts waits for the lease to run out.
    public static func oneNodeOnly(store: String, other: String) -> DrayError {
        DrayError(
            .leaseHeld,
            "node \(other) holds this \(store) store's lease: \(store) holds one node at a time; run several nodes on PostgreSQL (--store postgres://…), or stop the other node (a node that stopped answering loses its lease --lease after its last renewal)"
        )
    }
}

extension Duration {
    /// The duration in seconds, as `Date` and the stores count time.
    public var timeInterval: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
