import DrayEngine
import Foundation
import Testing

/// What every ``JobStore`` must do, written once and run by each store's tests on its real
/// backend:
///
/// ```swift
/// @Test(arguments: JobStoreContract.Check.allCases)
/// func contract(_ check: JobStoreContract.Check) async throws {
///     try await JobStoreContract(store: makeStore()).run(check)
/// }
/// ```
public struct JobStoreContract: Sendable {
    public enum Check: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case createGetAndList
        case statusTransitions
        case unknownJob
        case logAppendAndPage
        case delete
        case concurrentWritersKeepOrder
        case hundredThousandLines
        case retriedBatchOnce
        case lineTextKeptWhole
        case secretsKeptThenErased
        case listPagesAndFilters
        case listCursorStableWhileAddingAndDeleting
        case queueClaimsOldestOnce
        case concurrentClaimsNeverShare
        case stopRequestsReachTheOwner
        case resumeAndCancelAreCompareAndSet
        case lostNodesAreReapedAndFenced
        case staleWritesAreRefused
        case changeFeedWakes
        case chunkBoundaries
        case startUpAndCleanUpIndexes
        case binaryBytesKept
        case nodesAtOnce
        case idempotentCreate
        case webhookDeliveries
        case templateVersions
        case scheduleTicks
        case priorityAndFairTurns
        case projectQuotasBoundClaims
        case tokensByHash
        case auditAppendPageAndPrune

        public var testDescription: String { rawValue }
    }

    public let store: any JobStore
    /// The store lets several nodes share it (PostgreSQL); else a second node is refused.
    public let manyNodes: Bool
    /// The store has a change feed that other processes see (Redis, PostgreSQL); else its
    /// ``JobQueue/watch(_:)`` returns at once and nodes poll.
    public let feed: Bool

    public init(store: any JobStore, manyNodes: Bool = false, feed: Bool = false) {
        self.store = store
        self.manyNodes = manyNodes
        self.feed = feed
    }

    public func run(_ check: Check) async throws {
        switch check {
        case .createGetAndList: try await createGetAndList()
        case .statusTransitions: try await statusTransitions()
        case .unknownJob: try await unknownJob()
        case .logAppendAndPage: try await logAppendAndPage()
        case .delete: try await delete()
        case .concurrentWritersKeepOrder: try await concurrentWritersKeepOrder()
        case .hundredThousandLines: try await hundredThousandLines()
        case .retriedBatchOnce: try await retriedBatchOnce()
        case .lineTextKeptWhole: try await lineTextKeptWhole()
        case .secretsKeptThenErased: try await secretsKeptThenErased()
        case .listPagesAndFilters: try await listPagesAndFilters()
        case .listCursorStableWhileAddingAndDeleting: try await listCursorStableWhileAddingAndDeleting()
        case .queueClaimsOldestOnce: try await queueClaimsOldestOnce()
        case .concurrentClaimsNeverShare: try await concurrentClaimsNeverShare()
        case .stopRequestsReachTheOwner: try await stopRequestsReachTheOwner()
        case .resumeAndCancelAreCompareAndSet: try await resumeAndCancelAreCompareAndSet()
        case .lostNodesAreReapedAndFenced: try await lostNodesAreReapedAndFenced()
        case .staleWritesAreRefused: try await staleWritesAreRefused()
        case .changeFeedWakes: try await changeFeedWakes()
        case .chunkBoundaries: try await chunkBoundaries()
        case .startUpAndCleanUpIndexes: try await startUpAndCleanUpIndexes()
        case .binaryBytesKept: try await binaryBytesKept()
        case .nodesAtOnce: try await nodesAtOnce()
        case .idempotentCreate: try await idempotentCreate()
        case .webhookDeliveries: try await webhookDeliveries()
        case .templateVersions: try await templateVersions()
        case .scheduleTicks: try await scheduleTicks()
        case .priorityAndFairTurns: try await priorityAndFairTurns()
        case .projectQuotasBoundClaims: try await projectQuotasBoundClaims()
        case .tokensByHash: try await tokensByHash()
        case .auditAppendPageAndPrune: try await auditAppendPageAndPrune()
        }
    }

    /// A new job of `steps` steps with a fresh id.
    public static func record(steps: Int = 2, name: String? = "contract") -> JobRecord {
        let id = UUID().uuidString
        let job = Job(
            id: id, name: name, environment: [.init(variable: "A", value: "1")],
            steps: (0..<steps).map {
                Step(name: "s\($0)", source: "dray/x:\($0)", output: $0 == 0 ? .file("/out/x") : nil)
            })
        return JobRecord(
            id: id, job: job,
            state: JobState(stepCount: steps, createdAt: Date(timeIntervalSince1970: 1_700_000_000.25)))
    }

    private func line(_ n: Int, step: Int = 0) -> LogLine {
        LogLine(step: step, stream: n % 3 == 0 ? .stderr : .stdout, text: "line \(n) ünïcödé")
    }

    func createGetAndList() async throws {
        try await store.ping()
        let records = (0..<3).map { _ in Self.record() }
        for record in records { try await store.create(record) }
        for record in records { #expect(try await store.job(id: record.id) == record) }
        let listed = try await store.jobs().map(\.id).filter { id in records.contains { $0.id == id } }
        #expect(listed == records.map(\.id), "jobs are listed in creation order")
    }

    /// Every page of `listing`, followed by cursor, and the summaries in order.
    private func pages(_ listing: JobListing) async throws -> (pages: Int, jobs: [JobSummary]) {
        var listing = listing
        var jobs: [JobSummary] = []
        var pages = 0
        while true {
            let page = try await store.list(listing)
            pages += 1
            jobs += page.jobs
            guard let next = page.next else { return (pages, jobs) }
            #expect(page.jobs.count == listing.limit, "a page that has a next one is full")
            listing.cursor = next
        }
    }

    func listPagesAndFilters() async throws {
        #expect(try await store.list(JobListing()).jobs.isEmpty)
        var records: [JobRecord] = []
        for index in 0..<23 {
            var record = Self.record(steps: 3, name: index == 4 ? nil : "job \(index)")
            try await store.create(record)
            switch index % 3 {
            case 1:
                record.state.preparing(step: 1)
                record.state.running(step: 1)
                record.state.stepsCompleted = 1
                record.state.startedAt = Date(timeIntervalSince1970: 1_700_000_001.5)
            case 2:
                if index % 2 == 0 {
                    record.state.cancel("step 2 failed")
                } else {
                    record.state.fail("step 2 failed")
                }
            default: break
            }
            try await store.update(id: record.id, state: record.state)
            records.append(record)
        }
        let all = try await store.list(JobListing())
        #expect(all.next == nil)
        #expect(all.jobs == records.map(JobSummary.init), "a summary says what the record says, oldest first")
        #expect(all.jobs[1].currentStep == 2 && all.jobs[1].totalSteps == 3 && all.jobs[4].name == nil)
        #expect(all.jobs[2].reason == .canceled && all.jobs[5].reason == .failed)

        let ascending = try await pages(JobListing(limit: 5))
        #expect(ascending.pages == 5 && ascending.jobs.map(\.id) == records.map(\.id))
        let descending = try await pages(JobListing(limit: 5, newestFirst: true))
        #expect(descending.jobs.map(\.id) == records.reversed().map(\.id), "newest first")
        let exact = try await store.list(JobListing(limit: 23))
        #expect(exact.jobs.count == 23 && exact.next == nil, "no next page when the page ends the list")

        let failed = try await pages(JobListing(limit: 2, statuses: [.error]))
        #expect(failed.jobs.map(\.id) == records.filter { $0.state.status == .error }.map(\.id))
        let newestFailed = try await pages(JobListing(limit: 3, newestFirst: true, statuses: [.error]))
        #expect(newestFailed.jobs.map(\.id) == records.filter { $0.state.status == .error }.reversed().map(\.id))
        let either = try await store.list(JobListing(newestFirst: true, statuses: [.error, .running]))
        #expect(either.jobs.map(\.id) == records.reversed().map(\.id) && either.next == nil)
        let canceled = try await pages(JobListing(limit: 2, newestFirst: true, phases: [.canceled]))
        #expect(canceled.jobs.map(\.id) == records.filter { $0.state.phase == .canceled }.reversed().map(\.id))
        let runningOrQueued = try await pages(JobListing(limit: 4, statuses: [.running], phases: [.running, .queued]))
        #expect(runningOrQueued.jobs.count == 16)
        #expect(try await store.list(JobListing(statuses: [.complete])).jobs.isEmpty)

        for cursor in ["", "x", "-1", "not a cursor at all"] {
            do {
                _ = try await store.list(JobListing(limit: 2, cursor: cursor))
                Issue.record("the cursor \"\(cursor)\" was taken")
            } catch let error as DrayError {
                #expect(error.code == .invalidJob && error.message.contains("cursor"))
            }
        }
    }

    func listCursorStableWhileAddingAndDeleting() async throws {
        var records: [JobRecord] = []
        for _ in 0..<10 {
            let record = Self.record()
            try await store.create(record)
            records.append(record)
        }
        for newestFirst in [false, true] {
            let first = try await store.list(JobListing(limit: 4, newestFirst: newestFirst))
            let added = Self.record()
            try await store.create(added)
            records.append(added)
            let second = try await store.list(JobListing(limit: 4, cursor: first.next, newestFirst: newestFirst))
            let expected = newestFirst ? Array(records.dropLast().reversed()) : records
            #expect(second.jobs.map(\.id) == expected[4..<8].map(\.id), "a new job does not move the cursor")
            // Deleting jobs before the cursor moves no job after it either.
            let earlier = newestFirst ? expected[1] : expected[0]
            #expect(try await store.delete(id: earlier.id))
            records.removeAll { $0.id == earlier.id }
            let third = try await store.list(JobListing(limit: 100, cursor: second.next, newestFirst: newestFirst))
            let rest = newestFirst ? Array(records.filter { $0.id != added.id }.reversed()) : records
            let after = rest.drop { $0.id != second.jobs.last?.id }.dropFirst()
            #expect(third.jobs.map(\.id) == after.map(\.id), "deleting earlier jobs skips none")
        }
    }

    func queueClaimsOldestOnce() async throws {
        let records = (0..<3).map { _ in Self.record() }
        for record in records { try await store.create(record) }
        #expect(try await store.queuedCount() == 3)
        let first = try await store.claim(node: "a", limit: 2)
        #expect(first.map(\.id) == records.prefix(2).map(\.id), "the oldest first")
        #expect(first.allSatisfy { $0.node == "a" })
        #expect(try await store.job(id: records[0].id)?.node == "a")
        #expect(try await store.claim(node: "b", limit: 5).map(\.id) == [records[2].id])
        #expect(try await store.claim(node: "a", limit: 5).isEmpty)
        #expect(try await store.queuedCount() == 0)
        // A deleted or ended job is never claimed.
        let deleted = Self.record()
        try await store.create(deleted)
        #expect(try await store.delete(id: deleted.id))
        var ended = Self.record()
        try await store.create(ended)
        ended.state.fail("canceled before it started", phase: .canceled, reason: .canceled)
        #expect(try await store.endQueued(id: ended.id, state: ended.state))
        #expect(try await store.claim(node: "a", limit: 5).isEmpty)
        #expect(try await store.queuedCount() == 0)
    }

    /// A submit's Idempotency-Key: one job per key within its lifetime, whatever the digest
    /// (the service compares it), exactly one of many creators at once, and free again after.
    func idempotentCreate() async throws {
        let key = "order-\(UUID())"
        let first = Self.record()
        #expect(try await store.create(first, idempotency: .init(key: key, digest: "d1")) == .created)
        let again = Self.record()
        #expect(
            try await store.create(again, idempotency: .init(key: key, digest: "d1"))
                == .existing(id: first.id, digest: "d1"))
        #expect(
            try await store.create(again, idempotency: .init(key: key, digest: "d2"))
                == .existing(id: first.id, digest: "d1"), "the digest the key was made with")
        #expect(try await store.job(id: again.id) == nil)
        #expect(try await store.job(id: first.id) == first)
        let other = Self.record()
        #expect(try await store.create(other, idempotency: .init(key: key + "-2", digest: "d1")) == .created)

        let race = "race-\(UUID())"
        let racers = (0..<8).map { _ in Self.record() }
        let outcomes = try await withThrowingTaskGroup(of: (String, IdempotentCreate).self) { group in
            for racer in racers {
                group.addTask { (racer.id, try await store.create(racer, idempotency: .init(key: race, digest: "r"))) }
            }
            var outcomes: [(String, IdempotentCreate)] = []
            for try await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
        let created = outcomes.filter { $0.1 == .created }.map(\.0)
        #expect(created.count == 1, "exactly one of the creators at once adds its job")
        for (id, outcome) in outcomes where !created.contains(id) {
            #expect(outcome == .existing(id: created.first ?? "", digest: "r"))
            #expect(try await store.job(id: id) == nil)
        }

        let brief = "brief-\(UUID())"
        #expect(
            try await store.create(
                Self.record(), idempotency: .init(key: brief, digest: "a", lifetime: .milliseconds(300)))
                == .created)
        try await Task.sleep(for: .milliseconds(1500))
        #expect(
            try await store.create(
                Self.record(), idempotency: .init(key: brief, digest: "b", lifetime: .milliseconds(300)))
                == .created, "a key past its lifetime is free again")
    }

    /// Webhook deliveries: kept in order, claimed by one node of many for a lease, due again
    /// when it runs out (the node was lost) or at their next try, never once done, and gone
    /// with their job.
    func webhookDeliveries() async throws {
        let record = Self.record()
        try await store.create(record)
        let now = Date(timeIntervalSinceReferenceDate: 800_000_000.5)
        var deliveries: [Delivery] = []
        for index in 0..<3 {
            let event: WebhookEvent = index == 0 ? .start : .end
            let signature: String? = index == 0 ? "sha256=ab" : nil
            deliveries.append(
                Delivery(
                    job: record.id, url: "https://hooks.example.com/\(index)", event: event,
                    body: Data("{\"n\":\(index)}".utf8), signature: signature,
                    createdAt: now.addingTimeInterval(Double(index))))
        }
        try await store.addDeliveries(deliveries)
        #expect(try await store.deliveries(job: record.id) == deliveries)
        #expect(try await store.deliveries(job: UUID().uuidString).isEmpty)

        let later = now.addingTimeInterval(10)
        let claimed = try await withThrowingTaskGroup(of: [Delivery].self) { group in
            for _ in 0..<4 {
                group.addTask { try await store.claimDeliveries(now: later, limit: 2, lease: .seconds(30)) }
            }
            var all: [Delivery] = []
            for try await some in group { all += some }
            return all
        }
        #expect(claimed.map { $0.id }.sorted() == deliveries.map { $0.id }.sorted(), "each is claimed by one node")
        #expect(
            try await store.claimDeliveries(now: later.addingTimeInterval(10), limit: 10, lease: .seconds(30)).isEmpty)
        let lost = try await store.claimDeliveries(now: later.addingTimeInterval(31), limit: 10, lease: .seconds(30))
        #expect(lost.count == 3, "due again once the lease ran out")

        var delivered = deliveries[0]
        delivered.status = Delivery.Status.delivered
        delivered.attempts = 1
        delivered.responseStatus = 200
        delivered.nextAttemptAt = nil
        delivered.deliveredAt = later
        var retrying = deliveries[1]
        retrying.attempts = 1
        retrying.responseStatus = 500
        retrying.nextAttemptAt = now.addingTimeInterval(100)
        var failed = deliveries[2]
        failed.status = Delivery.Status.failed
        failed.error = "connection refused"
        failed.nextAttemptAt = nil
        for delivery in [delivered, retrying, failed] { try await store.updateDelivery(delivery) }
        #expect(try await store.claimDeliveries(now: now.addingTimeInterval(99), limit: 10, lease: .seconds(1)).isEmpty)
        #expect(
            try await store.claimDeliveries(now: now.addingTimeInterval(101), limit: 10, lease: .seconds(1)) == [
                retrying
            ])
        #expect(try await store.deliveries(job: record.id) == [delivered, retrying, failed])

        #expect(try await store.delete(id: record.id))
        #expect(try await store.deliveries(job: record.id).isEmpty)
        #expect(
            try await store.claimDeliveries(now: now.addingTimeInterval(10_000), limit: 10, lease: .seconds(1)).isEmpty)
    }

    /// Templates: each put is the next version of its name, also from many nodes at once;
    /// any version can be read; the list has each name's latest; a delete takes every version.
    func templateVersions() async throws {
        let job = Self.record().job
        let parameters = TemplateParameters(
            properties: ["word": TemplateParameter(type: .string, default: .string("moss"), pattern: "[a-z]+")],
            required: ["word"])
        let made = Date(timeIntervalSinceReferenceDate: 800_000_000.25)
        #expect(try await store.template(name: "t", version: nil) == nil)
        let first = try await store.putTemplate(
            JobTemplate(name: "t", createdAt: made, job: job, parameters: parameters))
        #expect(first.version == 1)
        var changed = job
        changed.name = "changed"
        let second = try await store.putTemplate(
            JobTemplate(name: "t", createdAt: made, job: changed, parameters: TemplateParameters()))
        #expect(second.version == 2)
        #expect(try await store.template(name: "t", version: nil) == second)
        #expect(try await store.template(name: "t", version: 1) == first)
        #expect(try await store.template(name: "t", version: 3) == nil)

        let versions = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<6 {
                group.addTask {
                    try await store.putTemplate(JobTemplate(name: "u", job: job, parameters: parameters)).version
                }
            }
            var versions: [Int] = []
            for try await version in group { versions.append(version) }
            return versions
        }
        #expect(versions.sorted() == Array(1...6), "each put at once is a version of its own")
        _ = try await store.putTemplate(JobTemplate(name: "a", job: job, parameters: parameters))
        #expect(try await store.templates().map { "\($0.name) \($0.version)" } == ["a 1", "t 2", "u 6"])

        #expect(try await store.deleteTemplate(name: "t"))
        #expect(try await store.template(name: "t", version: 1) == nil)
        #expect(try await store.deleteTemplate(name: "t") == false)
        #expect(try await store.templates().map(\.name) == ["a", "u"])
    }

    /// Schedules: kept, paused and resumed, deleted; each tick claimed by exactly one of many
    /// nodes at once, and only from the tick the claimer saw last.
    func scheduleTicks() async throws {
        let made = Date(timeIntervalSinceReferenceDate: 800_000_000.5)
        let schedule = Schedule(cron: "@every 2s", timeZone: "Europe/Paris", job: Self.record().job, createdAt: made)
        let other = Schedule(cron: "0 3 * * *", template: "nightly", params: ["n": .integer(2)], createdAt: made + 1)
        try await store.createSchedule(schedule)
        try await store.createSchedule(other)
        #expect(try await store.schedule(id: schedule.id) == schedule)
        #expect(try await store.schedules().map(\.id) == [schedule.id, other.id])
        #expect(try await store.schedule(id: UUID().uuidString) == nil)

        let paused = try await store.setPaused(id: schedule.id, true)
        #expect(paused?.paused == true)
        #expect(try await store.setPaused(id: schedule.id, false)?.paused == false)
        #expect(try await store.setPaused(id: UUID().uuidString, true) == nil)

        let tick = made.addingTimeInterval(2)
        let winners = try await withThrowingTaskGroup(of: Bool.self) { group in
            for node in 0..<5 {
                group.addTask {
                    try await store.claimTick(id: schedule.id, previous: nil, tick: tick, job: "job-\(node)")
                }
            }
            var winners = 0
            for try await won in group where won { winners += 1 }
            return winners
        }
        #expect(winners == 1, "one node of many claims a tick")
        let claimed = try #require(try await store.schedule(id: schedule.id))
        #expect(claimed.lastTick == tick)
        #expect(claimed.lastJob?.hasPrefix("job-") == true)
        #expect(try await store.claimTick(id: schedule.id, previous: nil, tick: tick, job: "late") == false)
        let next = tick.addingTimeInterval(2)
        // A skipped tick keeps the last job.
        #expect(try await store.claimTick(id: schedule.id, previous: tick, tick: next, job: nil))
        #expect(try await store.schedule(id: schedule.id)?.lastJob == claimed.lastJob)
        #expect(try await store.schedule(id: schedule.id)?.lastTick == next)

        #expect(try await store.deleteSchedule(id: schedule.id))
        #expect(try await store.deleteSchedule(id: schedule.id) == false)
        #expect(try await store.claimTick(id: schedule.id, previous: next, tick: next + 2, job: nil) == false)
        #expect(try await store.schedules().map(\.id) == [other.id])
    }

    func concurrentClaimsNeverShare() async throws {
        let records = (0..<40).map { _ in Self.record() }
        for record in records { try await store.create(record) }
        let claimed = try await withThrowingTaskGroup(of: [String].self) { group in
            for node in ["a", "b", "c", "d"] {
                group.addTask {
                    var mine: [String] = []
                    while true {
                        let got = try await store.claim(node: node, limit: 3)
                        if got.isEmpty { return mine }
                        mine += got.map(\.id)
                    }
                }
            }
            var all: [String] = []
            for try await mine in group { all += mine }
            return all
        }
        #expect(claimed.count == records.count, "every job is claimed once")
        #expect(Set(claimed) == Set(records.map(\.id)))
    }

    func stopRequestsReachTheOwner() async throws {
        let queued = Self.record()
        let running = Self.record()
        try await store.create(running)
        try await store.create(queued)
        _ = try await store.claim(node: "a", limit: 1)
        #expect(try await store.requestStop(id: queued.id, .cancel) == false, "no node runs a queued job")
        #expect(try await store.requestStop(id: running.id, .delete))
        #expect(try await store.requestStop(id: UUID().uuidString, .cancel) == false)
        #expect(try await store.stopRequests(node: "b").isEmpty)
        let requests = try await store.stopRequests(node: "a")
        #expect(requests.map(\.id) == [running.id] && requests.map(\.request) == [.delete])
        #expect(try await store.stopRequests(node: "a").isEmpty, "each request is given once")
    }

    func resumeAndCancelAreCompareAndSet() async throws {
        var record = Self.record()
        try await store.create(record)
        let claimed = try #require(try await store.claim(node: "a", limit: 1).first)
        record.state.fail("step 1 exited with code 1")
        try await store.update(id: record.id, state: record.state, owner: "a", version: claimed.version)
        var resumed = record.state
        resumed.requeue(from: 0)
        let id = record.id
        let queued = resumed
        let both = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<2 { group.addTask { try await store.requeue(id: id, state: queued) } }
            var results: [Bool] = []
            for try await result in group { results.append(result) }
            return results
        }
        #expect(both.filter { $0 }.count == 1, "two resumes at once: one wins")
        let again = try await store.claim(node: "b", limit: 5)
        #expect(again.map(\.id) == [record.id] && again.first?.state.phase == .queued, "a resumed job is queued again")
        var ended = resumed
        ended.fail("canceled", phase: .canceled, reason: .canceled)
        #expect(try await store.endQueued(id: record.id, state: ended) == false, "a claimed job is the owner's to end")
        do {
            try await store.update(id: record.id, state: ended, owner: "a", version: claimed.version + 1)
            Issue.record("node a wrote to a job node b has claimed")
        } catch let error as DrayError {
            #expect(error.code == .conflict)
        }
    }

    func lostNodesAreReapedAndFenced() async throws {
        var record = Self.record()
        try await store.create(record)
        #expect(try await store.heartbeat(node: "gone", lease: .milliseconds(1)))
        let claimed = try #require(try await store.claim(node: "gone", limit: 1).first)
        record.state.preparing(step: 1)
        record.state.running(step: 1)
        try await store.update(id: record.id, state: record.state, owner: "gone", version: claimed.version)
        #expect(try await store.reapLostNodes(now: Date().addingTimeInterval(-60)).isEmpty, "a live lease is kept")
        try await Task.sleep(for: .milliseconds(20))
        let reaped = try await store.reapLostNodes(now: Date())
        #expect(reaped.map(\.id) == [record.id])
        let stored = try #require(try await store.job(id: record.id))
        #expect(stored.state.status == .error && stored.state.reason == .nodeLost)
        #expect(stored.state.error?.contains("node gone") == true && stored.state.error?.contains(#""s1""#) == true)
        #expect(try await store.reapLostNodes(now: Date()).isEmpty, "reaped once")
        do {
            record.state.complete()
            try await store.update(id: record.id, state: record.state, owner: "gone", version: claimed.version + 1)
            Issue.record("a lost node's write was taken")
        } catch let error as DrayError {
            #expect(error.code == .conflict)
        }
        #expect(try await store.job(id: record.id)?.state.reason == .nodeLost)
    }

    func staleWritesAreRefused() async throws {
        var record = Self.record()
        try await store.create(record)
        #expect(try await store.job(id: record.id)?.version == 0)
        let claimed = try #require(try await store.claim(node: "a", limit: 1).first)
        #expect(claimed.version == 1, "a claim is a write")
        #expect(try await store.job(id: record.id)?.version == 1)
        record.state.running(step: 0)
        try await store.update(id: record.id, state: record.state, owner: "a", version: 1)
        #expect(try await store.job(id: record.id)?.version == 2)
        func refused(at version: Int, _ why: Comment) async throws {
            do {
                try await store.update(id: record.id, state: record.state, owner: "a", version: version)
                Issue.record(why)
            } catch let error as DrayError {
                #expect(error.code == .conflict && error.message.contains("version \(version)"), "\(error.message)")
            }
        }
        try await refused(at: 1, "a write at a version written since was taken")
        try await refused(at: 3, "a write at a version not reached yet was taken")
        // Anyone else's write (here: a server's own recovery) moves the version on.
        var other = record.state
        other.fail("server restarted", reason: .restarted)
        try await store.update(id: record.id, state: other)
        try await refused(at: 2, "the owner overwrote a write it had not seen")
        let stored = try #require(try await store.job(id: record.id))
        #expect(stored.version == 3 && stored.state.reason == .restarted)
    }

    func changeFeedWakes() async throws {
        let seen = AsyncStream<StoreChange>.makeStream()
        let store = store
        let watcher = Task { try await store.watch { seen.continuation.yield($0) } }
        defer { watcher.cancel() }
        guard feed else {
            try await withThrowingTaskGroup { group in
                group.addTask { try await watcher.value }
                group.addTask {
                    try await Task.sleep(for: .seconds(5))
                    Issue.record("a store without a feed did not return from watch at once")
                }
                try await group.next()
                group.cancelAll()
            }
            return
        }
        var changes = seen.stream.makeAsyncIterator()
        #expect(await changes.next() == .queued, "a first look when it starts listening")
        var record = Self.record()
        try await store.create(record)
        #expect(await changes.next() == .queued, "a new job")
        try await store.appendLog(id: record.id, lines: [line(0)])
        #expect(await changes.next() == .log(record.id), "a log line, and no state")
        let claimed = try #require(try await store.claim(node: "a", limit: 1).first)
        record.state.running(step: 0)
        try await store.update(id: record.id, state: record.state, owner: "a", version: claimed.version)
        #expect(await changes.next() == .job(record.id), "a state")
        #expect(try await store.requestStop(id: record.id, .cancel))
        #expect(await changes.next() == .queued, "a stop request wakes the nodes")
    }

    func nodesAtOnce() async throws {
        #expect(try await store.heartbeat(node: "a", lease: .seconds(30)))
        #expect(try await store.heartbeat(node: "a", lease: .seconds(30)), "a node renews its own lease")
        if manyNodes {
            #expect(try await store.heartbeat(node: "b", lease: .seconds(30)))
        } else {
            do {
                _ = try await store.heartbeat(node: "b", lease: .seconds(30))
                Issue.record("a second node was let in")
            } catch let error as DrayError {
                #expect(error.code == .leaseHeld && error.message.contains("PostgreSQL"), "\(error.message)")
            }
            try await store.leave(node: "a")
            #expect(try await store.heartbeat(node: "b", lease: .seconds(30)), "once a leaves, b may come")
        }
    }

    func statusTransitions() async throws {
        var done = Self.record()
        try await store.create(done)
        done.state.preparing(step: 0)
        done.state.running(step: 0)
        done.state.startedAt = Date()
        try await store.update(id: done.id, state: done.state)
        #expect(try await store.job(id: done.id)?.state == done.state)
        done.state.stepsCompleted = 2
        done.state.steps = [StepState(exitCode: 0, startedAt: Date(), finishedAt: Date()), StepState(exitCode: 0)]
        done.state.complete()
        try await store.update(id: done.id, state: done.state)
        #expect(try await store.job(id: done.id)?.state == done.state)

        var failed = Self.record()
        try await store.create(failed)
        failed.state.steps[0].exitCode = 3
        failed.state.fail(#"step 1 "s0" exited with code 3"#)
        try await store.update(id: failed.id, state: failed.state)
        let stored = try #require(try await store.job(id: failed.id))
        #expect(stored.state.status == .error)
        #expect(stored.state.error == #"step 1 "s0" exited with code 3"#)
        #expect(stored.state.steps[0].exitCode == 3)
    }

    func unknownJob() async throws {
        let id = UUID().uuidString
        #expect(try await store.job(id: id) == nil)
        #expect(try await store.delete(id: id) == false)
        for call in [
            { try await store.update(id: id, state: JobState(stepCount: 1)) },
            { try await store.appendLog(id: id, lines: [line(0)]) },
            { _ = try await store.log(id: id, from: 0, limit: nil) },
        ] as [@Sendable () async throws -> Void] {
            do {
                try await call()
                Issue.record("a call about an unknown job did not throw")
            } catch let error as DrayError {
                #expect(error.code == .notFound)
            }
        }
    }

    func logAppendAndPage() async throws {
        let record = Self.record()
        try await store.create(record)
        #expect(try await store.log(id: record.id, from: 0, limit: nil).isEmpty)
        let lines = (0..<25).map { line($0, step: $0 / 10) }
        try await store.appendLog(id: record.id, lines: Array(lines[0..<10]))
        try await store.appendLog(id: record.id, lines: [])
        try await store.appendLog(id: record.id, lines: Array(lines[10...]))
        #expect(try await store.log(id: record.id, from: 0, limit: nil) == lines)
        #expect(try await store.log(id: record.id, from: 7, limit: 5) == Array(lines[7..<12]))
        #expect(try await store.log(id: record.id, from: 20, limit: 100) == Array(lines[20...]))
        #expect(try await store.log(id: record.id, from: 25, limit: nil).isEmpty)
        #expect(try await store.log(id: record.id, from: 1000, limit: 10).isEmpty)
    }

    func delete() async throws {
        let kept = Self.record()
        let deleted = Self.record()
        try await store.create(kept)
        try await store.create(deleted)
        try await store.appendLog(id: deleted.id, lines: [line(1)])
        #expect(try await store.delete(id: deleted.id))
        #expect(try await store.job(id: deleted.id) == nil)
        #expect(try await store.delete(id: deleted.id) == false)
        let ids = try await store.jobs().map(\.id)
        #expect(ids.contains(kept.id) && !ids.contains(deleted.id))
        // The same id can be used again with nothing left of the old log.
        try await store.create(deleted)
        #expect(try await store.log(id: deleted.id, from: 0, limit: nil).isEmpty)
    }

    func concurrentWritersKeepOrder() async throws {
        let record = Self.record()
        try await store.create(record)
        let writers = 8
        let batches = 25
        try await withThrowingTaskGroup { group in
            for writer in 0..<writers {
                group.addTask {
                    for batch in 0..<batches {
                        let lines = (0..<10).map { LogLine(step: writer, stream: .stdout, text: "\(batch * 10 + $0)") }
                        try await store.appendLog(id: record.id, lines: lines)
                    }
                }
            }
            try await group.waitForAll()
        }
        let log = try await store.log(id: record.id, from: 0, limit: nil)
        #expect(log.count == writers * batches * 10)
        for writer in 0..<writers {
            let numbers = log.filter { $0.step == writer }.map { Int($0.text)! }
            #expect(numbers == Array(0..<batches * 10), "writer \(writer)'s lines keep their order")
        }
    }

    func hundredThousandLines() async throws {
        let record = Self.record()
        try await store.create(record)
        let total = 100_000
        for start in stride(from: 0, to: total, by: 1000) {
            try await store.appendLog(
                id: record.id, lines: (start..<start + 1000).map { LogLine(step: 0, stream: .stdout, text: "\($0)") })
        }
        var index = 0
        while true {
            let page = try await store.log(id: record.id, from: index, limit: 1000)
            if page.isEmpty { break }
            #expect(page.map(\.text) == (index..<index + page.count).map(String.init))
            index += page.count
        }
        #expect(index == total)
        let last = try await store.log(id: record.id, from: total - 1, limit: 1000)
        #expect(last.map(\.text) == ["\(total - 1)"])
    }

    /// An append retried with the same batch (its answer was lost) adds its lines once; the
    /// same lines in a new batch are added again.
    func retriedBatchOnce() async throws {
        let record = Self.record()
        try await store.create(record)
        let first = UUID()
        try await store.appendLog(id: record.id, lines: [line(1), line(2)], batch: first)
        try await store.appendLog(id: record.id, lines: [line(1), line(2)], batch: first)
        try await store.appendLog(id: record.id, lines: [line(1), line(2)], batch: UUID())
        try await store.appendLog(id: record.id, lines: [line(3)], batch: nil)
        try await store.appendLog(id: record.id, lines: [line(3)], batch: nil)
        #expect(
            try await store.log(id: record.id, from: 0, limit: nil) == [
                line(1), line(2), line(1), line(2), line(3), line(3),
            ])
    }

    /// A line keeps every character it was given: a NUL, a bare CR, U+FFFD and emoji.
    func lineTextKeptWhole() async throws {
        let record = Self.record()
        try await store.create(record)
        let texts = ["before\u{0}after", "x\revent: end\r", "\u{FFFD}\u{1F600}", ""]
        let lines = texts.map { LogLine(step: 0, stream: .stdout, text: $0) }
        try await store.appendLog(id: record.id, lines: lines, batch: UUID())
        #expect(try await store.log(id: record.id, from: 0, limit: nil).map(\.text) == texts)
    }

    /// Pages that start inside a chunk, end inside one, cross several, or start past the end,
    /// over appends of many lines at once (several chunks), of one line, and of a line larger
    /// than a chunk's byte bound.
    func chunkBoundaries() async throws {
        let record = Self.record()
        try await store.create(record)
        var all = (0..<2500).map { line($0) }
        try await store.appendLog(id: record.id, lines: all, batch: UUID())
        for n in 2500..<2503 {
            try await store.appendLog(id: record.id, lines: [line(n, step: 1)], batch: UUID())
            all.append(line(n, step: 1))
        }
        let big = LogLine(step: 1, stream: .stderr, bytes: Array(repeating: UInt8(ascii: "b"), count: 300 * 1024))
        let after = (2504..<2510).map { line($0, step: 1) }
        try await store.appendLog(id: record.id, lines: [line(2503, step: 1), big] + after, batch: UUID())
        all += [line(2503, step: 1), big] + after
        for (start, limit) in [
            (0, 1), (999, 3), (1000, 1000), (1500, 1001), (2498, 5), (2502, 4), (2504, 3), (2509, 10),
        ] {
            let page = try await store.log(id: record.id, from: start, limit: limit)
            #expect(page == Array(all[start..<min(all.count, start + limit)]), "lines \(start) to \(start + limit - 1)")
        }
        #expect(try await store.log(id: record.id, from: 0, limit: nil) == all)
        #expect(try await store.log(id: record.id, from: 2000, limit: nil) == Array(all[2000...]))
        #expect(try await store.log(id: record.id, from: all.count, limit: 5).isEmpty)
        #expect(try await store.log(id: record.id, from: all.count + 1000, limit: nil).isEmpty)
        #expect(try await store.log(id: record.id, from: 10, limit: 0).isEmpty)
    }

    /// A node's start reads only the running jobs it claimed (and those left with no node, as
    /// a store written before nodes has them, once ``JobStore/prepare()`` has indexed it); clean-up
    /// reads ended jobs by end time, the earliest first.
    func startUpAndCleanUpIndexes() async throws {
        let queued = Self.record()
        let mine = Self.record()
        let theirs = Self.record()
        var legacy = Self.record()
        legacy.state.preparing(step: 0)
        legacy.state.running(step: 0)
        for record in [mine, theirs] { try await store.create(record) }
        _ = try await store.claim(node: "a", limit: 1)
        _ = try await store.claim(node: "b", limit: 1)
        try await store.create(queued)
        try await store.create(legacy)
        let base = Date(timeIntervalSinceReferenceDate: 800_000_000)
        var ended: [JobRecord] = []
        for offset in [30.0, 10.0, 20.0] {
            var record = Self.record()
            record.state.fail("step 1 exited with code 1", at: base.addingTimeInterval(offset))
            try await store.create(record)
            ended.append(record)
        }
        try await store.prepare()
        #expect(Set(try await store.runningJobs(node: "a").map(\.id)) == [mine.id, legacy.id])
        #expect(Set(try await store.runningJobs(node: "b").map(\.id)) == [theirs.id, legacy.id])
        let oldest = [ended[1], ended[2], ended[0]].map(\.id)
        #expect(try await store.finishedJobs(before: base.addingTimeInterval(60), limit: 10).map(\.id) == oldest)
        #expect(
            try await store.finishedJobs(before: base.addingTimeInterval(25), limit: 10).map(\.id)
                == Array(oldest.prefix(2)))
        #expect(try await store.finishedJobs(before: base.addingTimeInterval(60), limit: 1).map(\.id) == [oldest[0]])
        // A resumed job runs again; a deleted one is gone; a job that ends joins the index.
        var resumed = ended[1].state
        resumed.requeue(from: resumed.stepsCompleted)
        #expect(try await store.requeue(id: ended[1].id, state: resumed))
        #expect(try await store.delete(id: ended[2].id))
        var now = legacy.state
        now.fail("server restarted", reason: .restarted, at: base.addingTimeInterval(40))
        try await store.update(id: legacy.id, state: now)
        #expect(
            try await store.finishedJobs(before: base.addingTimeInterval(60), limit: 10).map(\.id) == [
                ended[0].id, legacy.id,
            ])
        #expect(try await store.runningJobs(node: "a").map(\.id) == [mine.id])
    }

    /// A line's bytes come back as the step wrote them, valid UTF-8 or not; its text has
    /// U+FFFD for each invalid byte.
    func binaryBytesKept() async throws {
        let record = Self.record()
        try await store.create(record)
        let binary: [[UInt8]] = [[0x00, 0xFF, 0xFE, 0x41], [0xC3], Array(0...255).filter { $0 != 0x0A }, []]
        let lines = binary.map { LogLine(step: 0, stream: .stdout, bytes: $0) }
        try await store.appendLog(id: record.id, lines: lines, batch: UUID())
        let read = try await store.log(id: record.id, from: 0, limit: nil)
        #expect(read.map(\.bytes) == binary)
        #expect(read.first?.text == "\u{0}\u{FFFD}\u{FFFD}A")
    }

    /// A secret's value is kept (a job needs it to run), until the job's description is
    /// replaced by one with its secrets erased; another job is untouched.
    func secretsKeptThenErased() async throws {
        var record = Self.record()
        record.job.environment = [EnvironmentVariable(variable: "TOKEN", value: "s3cret", secret: true)]
        let other = Self.record()
        try await store.create(record)
        try await store.create(other)
        #expect(try await store.job(id: record.id)?.job.secretValues == ["s3cret"])
        try await store.update(id: record.id, job: record.job.erasingSecrets())
        let erased = try #require(try await store.job(id: record.id))
        #expect(erased.job.secretValues == [""])
        #expect(erased.job.environment?.first?.isSecret == true)
        #expect(try await store.job(id: other.id)?.job == other.job)
        await #expect(throws: DrayError.self) { try await store.update(id: "NOPE", job: record.job) }
    }

    // MARK: - Projects, tokens, the audit log

    /// A new queued job of `project`, of `priority`.
    private func queued(_ project: String, _ priority: Priority? = nil) async throws -> JobRecord {
        var record = Self.record(steps: 1)
        record.job.project = project
        record.job.priority = priority
        try await store.create(record)
        return record
    }

    /// The claim takes the highest priority first, and between projects takes turns: a project
    /// with many queued jobs does not starve one with few. Each project's jobs, oldest first.
    func priorityAndFairTurns() async throws {
        var a: [JobRecord] = []
        for _ in 0..<6 { a.append(try await queued("a")) }
        let b = [try await queued("b"), try await queued("b")]
        let low = try await queued("c", .low)
        let high = try await queued("a", .high)
        #expect(try await store.queuedCount(project: "a") == 7)
        #expect(try await store.queuedCount(project: "b") == 2)
        #expect(try await store.queuedCount() == 10)
        let summaries = try await store.list(JobListing(project: "b")).jobs
        #expect(summaries.map(\.id) == b.map(\.id), "a list of one project's jobs")
        #expect(summaries.allSatisfy { $0.project == "b" })
        var order: [String] = []
        while let claimed = try await store.claim(node: "n", limit: 1).first { order.append(claimed.id) }
        let expected = [high, b[0], a[0], b[1], a[1], a[2], a[3], a[4], a[5], low].map(\.id)
        #expect(order == expected, "high first, then a and b in turns, the low one last")
        // A batch claim takes the same turns.
        var more: [JobRecord] = []
        for _ in 0..<3 { more.append(try await queued("a")) }
        more.append(try await queued("b"))
        let batch = try await store.claim(node: "n", limit: 4).map(\.id)
        #expect(Set(batch) == Set(more.map(\.id)))
        #expect(batch.prefix(2).contains(more[3].id), "b's job is among the first two of the batch")
    }

    /// A project's `maxRunningJobs` bounds its claimed jobs on every node; its other jobs wait
    /// and another project's are claimed meanwhile.
    func projectQuotasBoundClaims() async throws {
        #expect(try await store.putProject(Project(name: "q", maxRunningJobs: 1, maxQueuedJobs: 5)))
        #expect(try await store.putProject(Project(name: "q", maxRunningJobs: 1, maxQueuedJobs: 6)) == false)
        #expect(try await store.project(name: "q")?.maxQueuedJobs == 6)
        #expect(try await store.project(name: "none") == nil)
        #expect(try await store.projects().map(\.name) == ["q"])
        let first = try await queued("q")
        let second = try await queued("q")
        let other = try await queued("r")
        let claimed = try await store.claim(node: "n", limit: 5)
        #expect(Set(claimed.map(\.id)) == [first.id, other.id], "q's second job waits")
        #expect(try await store.claim(node: "m", limit: 5).isEmpty, "on every node")
        var done = try #require(claimed.first { $0.id == first.id })
        done.state.complete()
        try await store.update(id: done.id, state: done.state, owner: "n", version: done.version)
        #expect(try await store.claim(node: "m", limit: 5).map(\.id) == [second.id], "once q's first ended")
        // Lifting the quota frees the queue at once.
        let third = try await queued("q")
        #expect(try await store.claim(node: "m", limit: 5).isEmpty)
        _ = try await store.putProject(Project(name: "q"))
        #expect(try await store.claim(node: "m", limit: 5).map(\.id) == [third.id])
    }

    /// Tokens are found by their hash only, listed by project, and revoked for good.
    func tokensByHash() async throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let read = AccessToken(
            id: "t1", name: "ann", project: "p", scope: .read, hash: AccessToken.hash(of: "dray_one"), createdAt: now)
        let admin = AccessToken(
            id: "t2", name: "bob", project: "o", scope: .admin, hash: AccessToken.hash(of: "dray_two"),
            createdAt: now.addingTimeInterval(1), expiresAt: now.addingTimeInterval(86400))
        try await store.createToken(read)
        try await store.createToken(admin)
        #expect(try await store.token(hash: AccessToken.hash(of: "dray_one")) == read)
        #expect(try await store.token(hash: AccessToken.hash(of: "dray_two")) == admin)
        #expect(try await store.token(hash: AccessToken.hash(of: "dray_three")) == nil)
        #expect(try await store.tokens(project: nil).map(\.id) == ["t1", "t2"])
        #expect(try await store.tokens(project: "o").map(\.id) == ["t2"])
        let revoked = try await store.revokeToken(id: "t1", at: now.addingTimeInterval(5))
        #expect(revoked?.revokedAt == now.addingTimeInterval(5))
        #expect(try await store.token(hash: read.hash)?.isLive(at: now.addingTimeInterval(6)) == false)
        #expect(try await store.token(hash: admin.hash)?.isLive(at: now.addingTimeInterval(6)) == true)
        #expect(try await store.token(hash: admin.hash)?.isLive(at: now.addingTimeInterval(86401)) == false)
        #expect(try await store.revokeToken(id: "t9", at: now) == nil)
    }

    /// The audit log: newest first, in pages from a cursor, by project, pruned by age.
    func auditAppendPageAndPrune() async throws {
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        for index in 0..<5 {
            try await store.appendAudit(
                AuditEntry(
                    time: start.addingTimeInterval(Double(index)), action: "job.submit", outcome: "ok",
                    project: index % 2 == 0 ? "even" : "odd", target: "job\(index)",
                    token: .init(id: "t", name: "ann"), address: "127.0.0.1"))
        }
        let first = try await store.audit(project: nil, limit: 2, cursor: nil)
        #expect(first.entries.map(\.target) == ["job4", "job3"])
        #expect(first.entries.first?.token == .init(id: "t", name: "ann"))
        let second = try await store.audit(project: nil, limit: 2, cursor: first.next)
        #expect(second.entries.map(\.target) == ["job2", "job1"])
        let last = try await store.audit(project: nil, limit: 2, cursor: second.next)
        #expect(last.entries.map(\.target) == ["job0"])
        #expect(last.next == nil)
        #expect(
            try await store.audit(project: "even", limit: 10, cursor: nil).entries.map(\.target) == [
                "job4", "job2", "job0",
            ])
        await #expect(throws: DrayError.self) { try await store.audit(project: nil, limit: 2, cursor: "x") }
        #expect(try await store.pruneAudit(before: start.addingTimeInterval(2)) == 2)
        #expect(
            try await store.audit(project: nil, limit: 10, cursor: nil).entries.map(\.target) == [
                "job4", "job3", "job2",
            ])
        #expect(try await store.audit(project: "odd", limit: 10, cursor: nil).entries.map(\.target) == ["job3"])
    }
}
