import DrayEngine
import Foundation
import Synchronization

/// A real store whose answers to a node's state writes are lost the first `losses` times: the
/// write lands, and the caller gets an error, as when the connection drops before the reply.
/// Everything else goes straight through.
public final class AnswerLosingStore: JobStore {
    public let store: any JobStore
    private let losses: Mutex<Int>

    public init(_ store: any JobStore, losses: Int) {
        self.store = store
        self.losses = Mutex(losses)
    }

    public func update(id: String, state: JobState, owner node: String, version: Int) async throws {
        try await store.update(id: id, state: state, owner: node, version: version)
        let lose = losses.withLock { left in
            defer { left = max(0, left - 1) }
            return left > 0
        }
        if lose { throw DrayError(.storage, "the connection closed before the answer (a lost answer, on purpose)") }
    }

    public func ping() async throws { try await store.ping() }
    public func create(_ record: JobRecord) async throws { try await store.create(record) }
    public func addDeliveries(_ deliveries: [Delivery]) async throws { try await store.addDeliveries(deliveries) }
    public func deliveries(job: String) async throws -> [Delivery] { try await store.deliveries(job: job) }
    public func claimDeliveries(now: Date, limit: Int, lease: Duration) async throws -> [Delivery] {
        try await store.claimDeliveries(now: now, limit: limit, lease: lease)
    }
    public func updateDelivery(_ delivery: Delivery) async throws { try await store.updateDelivery(delivery) }
    public func putTemplate(_ template: JobTemplate) async throws -> JobTemplate {
        try await store.putTemplate(template)
    }
    public func template(name: String, version: Int?) async throws -> JobTemplate? {
        try await store.template(name: name, version: version)
    }
    public func templates() async throws -> [JobTemplate] { try await store.templates() }
    public func createSchedule(_ schedule: Schedule) async throws { try await store.createSchedule(schedule) }
    public func schedule(id: String) async throws -> Schedule? { try await store.schedule(id: id) }
    public func schedules() async throws -> [Schedule] { try await store.schedules() }
    public func deleteSchedule(id: String) async throws -> Bool { try await store.deleteSchedule(id: id) }
    public func setPaused(id: String, _ paused: Bool) async throws -> Schedule? {
        try await store.setPaused(id: id, paused)
    }
    public func claimTick(id: String, previous: Date?, tick: Date, job: String?) async throws -> Bool {
        try await store.claimTick(id: id, previous: previous, tick: tick, job: job)
    }
    public func deleteTemplate(name: String) async throws -> Bool { try await store.deleteTemplate(name: name) }
    public func create(_ record: JobRecord, idempotency: IdempotencyKey) async throws -> IdempotentCreate {
        try await store.create(record, idempotency: idempotency)
    }
    public func job(id: String) async throws -> JobRecord? { try await store.job(id: id) }
    public func jobs() async throws -> [JobRecord] { try await store.jobs() }
    public func list(_ listing: JobListing) async throws -> JobPage { try await store.list(listing) }
    public func runningJobs(node: String) async throws -> [JobRecord] { try await store.runningJobs(node: node) }
    public func finishedJobs(before date: Date, limit: Int) async throws -> [JobSummary] {
        try await store.finishedJobs(before: date, limit: limit)
    }
    public func update(id: String, state: JobState) async throws { try await store.update(id: id, state: state) }
    public func update(id: String, job: Job) async throws { try await store.update(id: id, job: job) }
    public func appendLog(id: String, lines: [LogLine], batch: UUID?) async throws {
        try await store.appendLog(id: id, lines: lines, batch: batch)
    }
    public func log(id: String, from index: Int, limit: Int?) async throws -> [LogLine] {
        try await store.log(id: id, from: index, limit: limit)
    }
    public func delete(id: String) async throws -> Bool { try await store.delete(id: id) }
    public func heartbeat(node: String, lease: Duration) async throws -> Bool {
        try await store.heartbeat(node: node, lease: lease)
    }
    public func leave(node: String) async throws { try await store.leave(node: node) }
    public func claim(node: String, limit: Int) async throws -> [JobRecord] {
        try await store.claim(node: node, limit: limit)
    }
    public func queuedCount() async throws -> Int { try await store.queuedCount() }
    public func putProject(_ project: Project) async throws -> Bool { try await store.putProject(project) }
    public func project(name: String) async throws -> Project? { try await store.project(name: name) }
    public func projects() async throws -> [Project] { try await store.projects() }
    public func createToken(_ token: AccessToken) async throws { try await store.createToken(token) }
    public func token(hash: String) async throws -> AccessToken? { try await store.token(hash: hash) }
    public func tokens(project: String?) async throws -> [AccessToken] { try await store.tokens(project: project) }
    public func revokeToken(id: String, at date: Date) async throws -> AccessToken? {
        try await store.revokeToken(id: id, at: date)
    }
    public func appendAudit(_ entry: AuditEntry) async throws { try await store.appendAudit(entry) }
    public func audit(project: String?, limit: Int, cursor: String?) async throws -> AuditPage {
        try await store.audit(project: project, limit: limit, cursor: cursor)
    }
    public func pruneAudit(before date: Date) async throws -> Int { try await store.pruneAudit(before: date) }
    public func queuedCount(project: String) async throws -> Int { try await store.queuedCount(project: project) }
    public func requestStop(id: String, _ request: StopRequest) async throws -> Bool {
        try await store.requestStop(id: id, request)
    }
    public func stopRequests(node: String) async throws -> [(id: String, request: StopRequest)] {
        try await store.stopRequests(node: node)
    }
    public func reapLostNodes(now: Date) async throws -> [JobRecord] { try await store.reapLostNodes(now: now) }
    public func requeue(id: String, state: JobState) async throws -> Bool {
        try await store.requeue(id: id, state: state)
    }
    public func endQueued(id: String, state: JobState) async throws -> Bool {
        try await store.endQueued(id: id, state: state)
    }
    public func watch(_ changed: @escaping @Sendable (StoreChange) -> Void) async throws {
        try await store.watch(changed)
    }
}
