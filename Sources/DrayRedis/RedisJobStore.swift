import DrayEngine
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import ServiceLifecycle

/// A ``JobStore`` in Redis, in the original Dray's key layout, so that `redis-cli` shows what
/// its operators know and jobs the original wrote can be read:
///
/// - `jobs`: a list of job ids, in creation order (`RPUSH`);
/// - `jobs:<id>`: a hash with the original's `status`, `completedSteps` and `totalSteps`, and ours:
///   `job` (the description as JSON), `state` (the detail as JSON), `name`, for lists, and for
///   the control plane `node` and `version`;
/// - `jobs:<id>:log`: a list, one element per log line, as the original wrote it;
/// - `jobs:<id>:log:runs`: ours, beside it: the step and stream of its lines, by runs: a sorted
///   set whose members (`FIRST:0o`, `FIRST:2e`) have as score the index of the run's first line.
///   Jobs logged before runs keep `jobs:<id>:log:meta`, each line's step and stream in a list.
///
/// Every write that depends on the job existing is one Lua script, so it is atomic. The scripts
/// that change what a node or a live log follows publish on `dray:changes` (``watch(_:)``):
/// `queue`, `stop:NODE` or `job:ID`. It only wakes; whoever is woken reads the keys.
public final class RedisJobStore: JobStore {
    public let client: RedisClient

    private let logger: Logger

    public init(client: RedisClient, logger: Logger = Logger(label: "dray.redis")) {
        self.client = client
        self.logger = logger
    }

    public convenience init(configuration: RedisConfiguration, logger: Logger = Logger(label: "dray.redis")) {
        self.init(client: RedisClient(configuration: configuration), logger: logger)
    }

    /// The end of a state, as the scripts index it: seconds since 2001, or "" while it runs.
    private static func ended(_ state: JobState) -> String {
        guard state.status != .running, let finished = state.finishedAt else { return "" }
        return "\(finished.timeIntervalSinceReferenceDate)"
    }

    /// Builds the indexes of running and ended jobs once, over a store written before them (by
    /// the original Dray, or by an earlier version), reading the jobs in slices and saying how
    /// far it got; later starts find them built. Jobs the original wrote have no end time: they
    /// are never cleaned up, as before.
    public func prepare() async throws {
        guard try await access({ try await self.client.send("EXISTS", [.string(Self.indexedKey)]).int }) != 1 else {
            return
        }
        let total = try await access { try await self.client.send("LLEN", [.string(Self.jobsKey)]).int ?? 0 }
        if total > 0 { logger.notice("indexing the store's \(total) jobs once, for start-up and clean-up") }
        let slice = 1000
        var done = 0
        var lastReport = ContinuousClock.now
        while done < total {
            let ids = try await access {
                try await self.client.send("LRANGE", [.string(Self.jobsKey), .int(done), .int(done + slice - 1)])
                    .array?.compactMap(\.string) ?? []
            }
            if ids.isEmpty { break }
            // The state and the node only: a job's description is not needed to index it.
            let replies = try await access {
                try await self.client.pipeline(
                    ids.map { RedisCommand("HMGET", [.string(Self.jobKey($0))] + Self.indexFields) })
            }
            var commands: [RedisCommand] = []
            for (id, reply) in zip(ids, replies) {
                let fields = reply.array ?? []
                guard fields.count == Self.indexFields.count, fields.contains(where: { !$0.isNull }) else { continue }
                let state = (try? Self.state(fields)) ?? Self.legacyState(fields)
                let end = Self.ended(state)
                if !end.isEmpty {
                    commands.append(RedisCommand("ZADD", [.string(Self.finishedKey), .string(end), .string(id)]))
                } else if state.status == .running, fields[4].isNull, state.phase != .queued {
                    commands.append(RedisCommand("SADD", [.string(Self.unownedKey), .string(id)]))
                }
            }
            if !commands.isEmpty { _ = try await access { try await self.client.pipeline(commands) } }
            done += ids.count
            if ContinuousClock.now - lastReport > .seconds(2) {
                logger.notice("indexed \(done) of \(total) jobs")
                lastReport = .now
            }
        }
        _ = try await access { try await self.client.send("SET", [.string(Self.indexedKey), "1"]) }
        if total > 0 { logger.notice("indexed the store's \(total) jobs") }
    }

    public func runningJobs(node: String) async throws -> [JobRecord] {
        let ids = try await access {
            let replies = try await self.client.pipeline([
                RedisCommand("SMEMBERS", [.string(Self.claimedKey(node))]),
                RedisCommand("SMEMBERS", [.string(Self.unownedKey)]),
            ])
            return replies.flatMap { $0.array?.compactMap(\.string) ?? [] }
        }
        var records: [JobRecord] = []
        var ended: [RedisArgument] = []
        for id in Set(ids) {
            guard let record = try await job(id: id), record.state.status == .running else {
                ended.append(.string(id))
                continue
            }
            if record.node == node || (record.node == nil && record.state.phase != .queued) { records.append(record) }
        }
        // What a start ended, or what is gone, is no longer anyone's to end.
        if !ended.isEmpty {
            _ = try await access { try await self.client.send("SREM", [.string(Self.unownedKey)] + ended) }
        }
        return records
    }

    public func finishedJobs(before date: Date, limit: Int) async throws -> [JobSummary] {
        let ids = try await access {
            try await self.client.send(
                "ZRANGEBYSCORE",
                [
                    .string(Self.finishedKey), "-inf", .string("(\(date.timeIntervalSinceReferenceDate)"), "LIMIT", 0,
                    .int(limit),
                ]
            ).array?.compactMap(\.string) ?? []
        }
        guard !ids.isEmpty else { return [] }
        return try await access { try await self.summaries(ids).compactMap { $0 } }
    }

    static let jobsKey = "jobs"
    /// Ours: the ids of the `default` project's jobs of `normal` priority waiting to be claimed,
    /// oldest first. Another project's, or another priority's, wait in `dray:queue:RANK:PROJECT`;
    /// `dray:queues` names every queue that may hold one.
    static let queueKey = "dray:queue"
    /// Ours: the names of the queues that may hold a job.
    static let queuesKey = "dray:queues"
    /// Ours: each live node's lease, as the time it runs out (ms since 1970).
    static let nodesKey = "dray:nodes"
    /// Ours: the stop requests for a node's jobs, id to request.
    static func stopsKey(_ node: String) -> String { "dray:stops:\(node)" }
    /// Ours: the jobs a node claimed, for the reaper.
    static func claimedKey(_ node: String) -> String { "dray:claimed:\(node)" }
    static func jobKey(_ id: String) -> String { "jobs:\(id)" }
    static func logKey(_ id: String) -> String { "jobs:\(id):log" }
    static func metaKey(_ id: String) -> String { "jobs:\(id):log:meta" }
    static func runsKey(_ id: String) -> String { "jobs:\(id):log:runs" }
    /// Ours: the pub/sub channel of the change feed.
    static let changesChannel = "dray:changes"
    /// Ours: the ended jobs, scored by when they ended (seconds since 2001), for clean-up.
    static let finishedKey = "dray:finished"
    /// Ours: jobs left running with no node, by a version before nodes; for the next start.
    static let unownedKey = "dray:unowned"
    /// Ours: set once the indexes above hold every job (``prepare()``).
    static let indexedKey = "dray:indexed"

    private static let encoder = JSONEncoder.keepingSecrets()
    private static let decoder = JSONDecoder()

    /// Waits for graceful shutdown (or cancellation), then closes the connections.
    public func run() async throws {
        try? await gracefulShutdown()
        await client.close()
    }

    public func ping() async throws {
        _ = try await access { try await self.client.send("PING") }
    }

    public func create(_ record: JobRecord) async throws {
        let (keys, arguments) = try Self.creation(record)
        let created = try await access { try await self.script(Scripts.create, keys: keys, arguments: arguments) }
        guard created.int == 1 else { throw DrayError(.storage, "a job \(record.id) exists already in Redis") }
    }

    public func create(_ record: JobRecord, idempotency: IdempotencyKey) async throws -> IdempotentCreate {
        let (keys, arguments) = try Self.creation(record)
        let milliseconds = max(1, Int(idempotency.lifetime.timeInterval * 1000))
        let answer = try await access {
            try await self.script(
                Scripts.createOnce, keys: keys + [Self.idempotencyKey(idempotency.key)],
                arguments: arguments + [.string(idempotency.digest), .int(milliseconds)])
        }
        // 1 when this job was added, 0 when its id was taken, or the key's holder, "digest id".
        switch answer.int {
        case 1: return .created
        case 0: throw DrayError(.storage, "a job \(record.id) exists already in Redis")
        default:
            let parts = answer.string?.split(separator: " ", maxSplits: 1) ?? []
            guard parts.count == 2 else {
                throw DrayError(.storage, "the idempotency key holds \"\(answer.string ?? "")\"")
            }
            return .existing(id: String(parts[1]), digest: String(parts[0]))
        }
    }

    /// The keys and arguments of ``Scripts/create``.
    private static func creation(_ record: JobRecord) throws -> ([String], [RedisArgument]) {
        let id = record.id
        let job = try encoder.encode(record.job)
        let state = try encoder.encode(record.state)
        return (
            [jobKey(id), jobsKey, logKey(id), metaKey(id)],
            [
                .string(id), .string(record.state.status.rawValue), .int(record.state.stepsCompleted),
                .int(record.job.steps.count), .bytes(Array(job)), .bytes(Array(state)),
                .string(record.job.name ?? ""), .string(ended(record.state)), .string(record.job.projectName),
                .int((record.job.priority ?? .normal).rank),
            ]
        )
    }

    /// The key that holds an idempotency key's job, by the key's SHA-256 (a client's key may be
    /// any text): `dray:idempotency:HEX`, expiring with it.
    static func idempotencyKey(_ key: String) -> String {
        "dray:idempotency:" + IdempotencyKey.digest(Data(key.utf8))
    }

    public func job(id: String) async throws -> JobRecord? {
        try await access {
            let reply = try await self.client.send("HMGET", [.string(Self.jobKey(id))] + Self.fields)
            return try Self.record(id: id, fields: reply.array ?? [])
        }
    }

    public func jobs() async throws -> [JobRecord] {
        try await access {
            let ids =
                try await self.client.send("LRANGE", [.string(Self.jobsKey), 0, -1]).array?.compactMap(\.string)
                ?? []
            var records: [JobRecord] = []
            records.reserveCapacity(ids.count)
            for batch in stride(from: 0, to: ids.count, by: 500) {
                let page = ids[batch..<min(batch + 500, ids.count)]
                let replies = try await self.client.pipeline(
                    page.map { RedisCommand("HMGET", [.string(Self.jobKey($0))] + Self.fields) })
                for (id, reply) in zip(page, replies) {
                    if case .error(let message) = reply { throw RedisError.server(message) }
                    if let record = try Self.record(id: id, fields: reply.array ?? []) { records.append(record) }
                }
            }
            return records
        }
    }

    /// Reads the `jobs` list in slices, and each slice's hashes in one pipeline, until the page
    /// is full. A cursor is the last job's position in the list and its id: new jobs go to the
    /// list's end, so they never move it; when a deletion did, the id is looked up again.
    public func list(_ listing: JobListing) async throws -> JobPage {
        try await access {
            let step = listing.newestFirst ? -1 : 1
            var position: Int
            if let cursor = listing.cursor {
                position = try await self.position(after: cursor, step: step)
            } else {
                position =
                    listing.newestFirst ? (try await self.client.send("LLEN", [.string(Self.jobsKey)]).int ?? 0) - 1 : 0
            }
            // One more than asked: whether it exists says whether there is a next page.
            let wanted = listing.limit.map { $0 + 1 } ?? .max
            // Without filters a page reads only its own jobs; a phase filter reads on in slices.
            let slice = listing.phases.isEmpty && listing.project == nil ? min(wanted, 500) : 500
            var found: [(position: Int, summary: JobSummary)] = []
            while found.count < wanted, position >= 0 {
                var ids: [String]
                var positions: [Int]
                if listing.statuses.isEmpty {
                    let (first, last) =
                        step > 0 ? (position, position + slice - 1) : (max(0, position - slice + 1), position)
                    ids =
                        try await self.client.send("LRANGE", [.string(Self.jobsKey), .int(first), .int(last)])
                        .array?.compactMap(\.string) ?? []
                    if ids.isEmpty { break }
                    positions = Array(first..<first + ids.count)
                    position = step > 0 ? first + ids.count : first - 1
                    if step < 0 {
                        ids.reverse()
                        positions.reverse()
                    }
                } else {
                    // Redis picks the jobs in a status asked for (reading only their status):
                    // only those are read whole, their states decoded.
                    let reply = try await self.script(
                        Scripts.scan, keys: [Self.jobsKey],
                        arguments: [
                            .int(position), .int(step), .int(min(wanted - found.count, Self.scanLimit)),
                            .int(Self.scanLimit),
                        ] + listing.statuses.map { .string($0.rawValue) })
                    let values = reply.array ?? []
                    guard let next = values.first?.int else { break }
                    position = next
                    positions = stride(from: 1, to: values.count - 1, by: 2).compactMap { values[$0].int }
                    ids = stride(from: 2, to: values.count, by: 2).compactMap { values[$0].string }
                }
                for (index, summary) in zip(positions, try await self.summaries(ids))
                where found.count < wanted {
                    if let summary, listing.matches(summary) {
                        found.append((index, summary))
                    }
                }
            }
            let page = found.prefix(listing.limit ?? found.count)
            return JobPage(
                jobs: page.map(\.summary),
                next: found.count > page.count ? page.last.map { "\($0.position):\($0.summary.id)" } : nil)
        }
    }

    /// The list position to read next after a cursor's job, going by `step`.
    private func position(after cursor: String, step: Int) async throws -> Int {
        let parts = cursor.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, let position = Int(parts[0]), position >= 0 else { throw JobListing.badCursor(cursor) }
        let id = String(parts[1])
        if try await client.send("LINDEX", [.string(Self.jobsKey), .int(position)]).string == id {
            return position + step
        }
        // Jobs before it were deleted: find where it is now. If it is gone too, its old place
        // is the best guess left (going forward, a job that moved into it is read again).
        let now = try await client.send("LPOS", [.string(Self.jobsKey), .string(id)]).int
        return (now ?? (step > 0 ? position : position - 1)) + (now == nil ? 0 : step)
    }

    /// The most jobs one ``Scripts/scan`` reads, so that Redis is never held long.
    static let scanLimit = 10_000

    private static let summaryFields: [RedisArgument] = [
        "status", "completedSteps", "totalSteps", "state", "name", "project",
    ]
    /// What ``prepare()`` reads to index a job: the original's three fields, the state, the node.
    private static let indexFields: [RedisArgument] = ["status", "completedSteps", "totalSteps", "state", "node"]

    /// The summaries of the jobs with `ids`, nil for one that is gone, from one pipeline (and
    /// a second for the names of jobs written before hashes had `name`).
    private func summaries(_ ids: [String]) async throws -> [JobSummary?] {
        let replies = try await client.pipeline(
            ids.map { RedisCommand("HMGET", [.string(Self.jobKey($0))] + Self.summaryFields) })
        var summaries: [JobSummary?] = []
        var unnamed: [Int] = []
        for (id, reply) in zip(ids, replies) {
            if case .error(let message) = reply { throw RedisError.server(message) }
            let fields = reply.array ?? []
            guard fields.count == 6, fields.contains(where: { !$0.isNull }) else {
                summaries.append(nil)
                continue
            }
            if !fields[3].isNull, fields[4].isNull { unnamed.append(summaries.count) }
            summaries.append(
                JobSummary(
                    id: id, name: fields[4].string.flatMap { $0.isEmpty ? nil : $0 },
                    totalSteps: Self.legacyCount(fields[2].string), state: try Self.state(fields),
                    project: fields[5].string))
        }
        if !unnamed.isEmpty {
            let jobs = try await client.pipeline(
                unnamed.map { RedisCommand("HGET", [.string(Self.jobKey(ids[$0])), "job"]) })
            for (index, reply) in zip(unnamed, jobs) {
                if case .bulkString(let job?) = reply {
                    summaries[index]?.name = try Self.decoder.decode(Job.self, from: job).name
                }
            }
        }
        return summaries
    }

    public func update(id: String, job: Job) async throws {
        let encoded = try Self.encoder.encode(job)
        let updated = try await access {
            try await self.script(
                Scripts.replaceJob, keys: [Self.jobKey(id)], arguments: [.bytes(Array(encoded))])
        }
        guard updated.int == 1 else { throw DrayError.noJob(id) }
    }

    public func update(id: String, state: JobState) async throws {
        let encoded = try Self.encoder.encode(state)
        let updated = try await access {
            try await self.script(
                Scripts.update, keys: [Self.jobKey(id)],
                arguments: [
                    .string(state.status.rawValue), .int(state.stepsCompleted), .bytes(Array(encoded)),
                    .string(Self.ended(state)),
                ])
        }
        guard updated.int == 1 else { throw DrayError.noJob(id) }
    }

    /// One transaction: the reserve script (the job, the batch, the runs), the lines in one
    /// `RPUSH` (never through Lua, which would make each line a string of its own), and the
    /// settle script, which takes them off again when the reserve said they are not to be added.
    public func appendLog(id: String, lines: [LogLine], batch: UUID?) async throws {
        guard !lines.isEmpty else { return }
        // The runs of one step and stream: each its length and its meta.
        var runs: [RedisArgument] = []
        var last: (step: Int, stream: StandardStream)?
        var count = 0
        for line in lines {
            if let last, last == (line.step, line.stream) {
                count += 1
                continue
            }
            if last != nil { runs.append(.int(count)) }
            runs.append(.string(Self.meta(line)))
            (last, count) = ((line.step, line.stream), 1)
        }
        runs.append(.int(count))
        let keys = [Self.jobKey(id), Self.logKey(id), Self.metaKey(id), Self.runsKey(id)]
        let reserve = Self.scriptCommand(
            Scripts.reserveAppend, keys: keys,
            arguments: [.string(batch?.uuidString ?? ""), .int(lines.count), .int(runs.count / 2)] + runs)
        var texts: [RedisArgument] = [.string(Self.logKey(id))]
        texts.reserveCapacity(1 + lines.count)
        for line in lines { texts.append(.bytes(line.bytes)) }
        let push = RedisCommand("RPUSH", arguments: texts)
        let settle = Self.scriptCommand(Scripts.settleAppend, keys: keys, arguments: [.int(lines.count)])
        let length = try await access {
            let replies = try await self.client.pipeline([
                RedisCommand("MULTI"), reserve, push, settle, RedisCommand("EXEC"),
            ])
            // The queued commands' replies, then EXEC's: theirs.
            let results = replies.last?.array ?? []
            for case .error(let message) in replies + results { throw RedisError.server(message) }
            return results.first?.int
        }
        guard let length, length >= 0 else { throw DrayError.noJob(id) }
    }

    public func log(id: String, from index: Int, limit: Int?) async throws -> [LogLine] {
        let start = max(0, index)
        let stop = limit.map { start + $0 - 1 } ?? -1
        if stop < start && stop != -1 {
            guard try await job(id: id) != nil else { throw DrayError.noJob(id) }
            return []
        }
        let reply = try await access {
            try await self.script(
                Scripts.page, keys: [Self.jobKey(id), Self.logKey(id), Self.metaKey(id), Self.runsKey(id)],
                arguments: [.int(start), .int(stop)])
        }
        guard let parts = reply.array, parts.count == 3 else { throw DrayError.noJob(id) }
        let texts = parts[0].array ?? []
        let metas = parts[1].array ?? []
        // The runs that hold the page's lines, from the one that holds its first: "FIRST:META".
        let runs = (parts[2].array ?? []).compactMap { value -> (first: Int, meta: (Int, StandardStream))? in
            guard let text = value.string, let colon = text.firstIndex(of: ":"), let first = Int(text[..<colon])
            else { return nil }
            return (first, Self.parseMeta(String(text[text.index(after: colon)...])))
        }
        var run = 0
        return texts.enumerated().map { offset, text in
            let step: Int
            let stream: StandardStream
            if offset < metas.count {
                (step, stream) = Self.parseMeta(metas[offset].string)
            } else {
                while run + 1 < runs.count, runs[run + 1].first <= start + offset { run += 1 }
                (step, stream) = run < runs.count ? runs[run].meta : (0, .stdout)
            }
            var bytes: [UInt8] = []
            if case .bulkString(let buffer?) = text { bytes = Array(buffer.readableBytesView) }
            return LogLine(step: step, stream: stream, bytes: bytes)
        }
    }

    public func delete(id: String) async throws -> Bool {
        let deleted = try await access {
            try await self.script(
                Scripts.delete,
                keys: [Self.jobKey(id), Self.logKey(id), Self.metaKey(id), Self.jobsKey, Self.runsKey(id)],
                arguments: [.string(id)])
        }
        return deleted.int == 1
    }

    // MARK: - Projects, tokens, the audit log

    /// Ours: each project's record by name; each one's `maxRunningJobs`, which the claim reads.
    static let projectsKey = "dray:projects"
    static let projectMaxKey = "dray:project-max"
    /// Ours: each token's record by id, and each token's id by its hash.
    static let tokensKey = "dray:tokens"
    static let tokenHashesKey = "dray:token-hashes"
    /// Ours: the audit log: each entry's record by its number; the numbers by number, by time,
    /// and by project.
    static let auditRecordsKey = "dray:audit:records"
    static let auditKey = "dray:audit"
    static let auditTimesKey = "dray:audit:times"
    static func auditKey(project: String) -> String { "dray:audit:project:\(project)" }

    public func putProject(_ project: Project) async throws -> Bool {
        let record = try Self.encoder.encode(project)
        let max: RedisArgument = project.maxRunningJobs.map { .int($0) } ?? .string("")
        return try await access {
            try await self.script(
                Scripts.putProject, keys: [Self.projectsKey, Self.projectMaxKey],
                arguments: [.string(project.name), .bytes(Array(record)), max]
            ).int == 1
        }
    }

    public func project(name: String) async throws -> Project? {
        try await access {
            try await self.client.send("HGET", [.string(Self.projectsKey), .string(name)]).data.map {
                try Self.decoder.decode(Project.self, from: $0)
            }
        }
    }

    public func projects() async throws -> [Project] {
        try await access {
            try await self.client.send("HVALS", [.string(Self.projectsKey)]).array?.compactMap(\.data).map {
                try Self.decoder.decode(Project.self, from: $0)
            }.sorted { $0.name < $1.name } ?? []
        }
    }

    public func createToken(_ token: AccessToken) async throws {
        let record = try Self.encoder.encode(token)
        _ = try await access {
            try await self.client.pipeline([
                RedisCommand("HSET", [.string(Self.tokensKey), .string(token.id), .bytes(Array(record))]),
                RedisCommand("HSET", [.string(Self.tokenHashesKey), .string(token.hash), .string(token.id)]),
            ])
        }
    }

    public func token(hash: String) async throws -> AccessToken? {
        try await access {
            try await self.script(
                Scripts.tokenByHash, keys: [Self.tokenHashesKey, Self.tokensKey], arguments: [.string(hash)]
            )
            .data.map { try Self.decoder.decode(AccessToken.self, from: $0) }
        }
    }

    public func tokens(project: String?) async throws -> [AccessToken] {
        try await access {
            try await self.client.send("HVALS", [.string(Self.tokensKey)]).array?.compactMap(\.data).map {
                try Self.decoder.decode(AccessToken.self, from: $0)
            }.filter { project == nil || $0.project == project }.sorted {
                ($0.createdAt, $0.id) < ($1.createdAt, $1.id)
            } ?? []
        }
    }

    public func revokeToken(id: String, at date: Date) async throws -> AccessToken? {
        // One node at a time writes to Redis: the read and the write need no script.
        guard
            let data = try await access({
                try await self.client.send("HGET", [.string(Self.tokensKey), .string(id)]).data
            })
        else { return nil }
        var token = try Self.decoder.decode(AccessToken.self, from: data)
        if token.revokedAt == nil { token.revokedAt = date }
        let record = try Self.encoder.encode(token)
        _ = try await access {
            try await self.client.send("HSET", [.string(Self.tokensKey), .string(id), .bytes(Array(record))])
        }
        return token
    }

    public func appendAudit(_ entry: AuditEntry) async throws {
        let record = try Self.encoder.encode(entry)
        _ = try await access {
            try await self.script(
                Scripts.appendAudit,
                keys: [
                    Self.auditRecordsKey, Self.auditKey, Self.auditTimesKey,
                    entry.project.map(Self.auditKey(project:)) ?? "",
                ],
                arguments: [.bytes(Array(record)), .string(String(entry.time.timeIntervalSince1970))])
        }
    }

    public func audit(project: String?, limit: Int, cursor: String?) async throws -> AuditPage {
        let position = try AuditPage.position(before: cursor)
        let before = position == .max ? "+inf" : "(\(position)"
        let key = project.map(Self.auditKey(project:)) ?? Self.auditKey
        let seqs = try await access {
            try await self.client.send(
                "ZREVRANGEBYSCORE", [.string(key), .string(before), "-inf", "LIMIT", 0, .int(limit + 1)]
            ).array?.compactMap(\.string) ?? []
        }
        let page = Array(seqs.prefix(limit))
        guard !page.isEmpty else { return AuditPage(entries: [], next: nil) }
        let records = try await access {
            try await self.client.send("HMGET", [.string(Self.auditRecordsKey)] + page.map { .string($0) }).array ?? []
        }
        return AuditPage(
            entries: try records.compactMap(\.data).map { try Self.decoder.decode(AuditEntry.self, from: $0) },
            next: seqs.count > page.count ? page.last : nil)
    }

    public func pruneAudit(before date: Date) async throws -> Int {
        try await access {
            try await self.script(
                Scripts.pruneAudit, keys: [Self.auditRecordsKey, Self.auditKey, Self.auditTimesKey],
                arguments: [.string(String(date.timeIntervalSince1970))]
            ).int ?? 0
        }
    }

    // MARK: - Schedules

    /// A schedule's hash (`record`, `paused`, `lastTick`, `lastJob`), and every schedule's id by creation.
    static func scheduleKey(_ id: String) -> String { "dray:schedule:\(id)" }
    static let schedulesKey = "dray:schedules"

    public func createSchedule(_ schedule: Schedule) async throws {
        let record = try Self.encoder.encode(schedule)
        _ = try await access {
            try await self.script(
                Scripts.createSchedule, keys: [Self.scheduleKey(schedule.id), Self.schedulesKey],
                arguments: [
                    .string(schedule.id), .bytes(Array(record)), .string(schedule.paused ? "1" : "0"),
                    .string(String(schedule.createdAt.timeIntervalSinceReferenceDate)),
                ])
        }
    }

    public func schedule(id: String) async throws -> Schedule? {
        let fields = try await access {
            try await self.client.send(
                "HMGET", [.string(Self.scheduleKey(id)), "record", "paused", "lastTick", "lastJob"]
            ).array ?? []
        }
        guard fields.count == 4, let record = fields[0].string else { return nil }
        var schedule = try Self.decoder.decode(Schedule.self, from: Data(record.utf8))
        schedule.paused = fields[1].string == "1"
        schedule.lastTick = fields[2].string.flatMap(Double.init).map(Date.init(timeIntervalSinceReferenceDate:))
        schedule.lastJob = fields[3].string.flatMap { $0.isEmpty ? nil : $0 }
        return schedule
    }

    public func schedules() async throws -> [Schedule] {
        let ids = try await access {
            try await self.client.send("ZRANGE", [.string(Self.schedulesKey), 0, -1]).array?.compactMap(\.string) ?? []
        }
        var schedules: [Schedule] = []
        for id in ids {
            if let schedule = try await schedule(id: id) { schedules.append(schedule) }
        }
        return schedules
    }

    public func deleteSchedule(id: String) async throws -> Bool {
        let deleted = try await access {
            try await self.script(
                Scripts.deleteSchedule, keys: [Self.scheduleKey(id), Self.schedulesKey], arguments: [.string(id)])
        }
        return deleted.int == 1
    }

    public func setPaused(id: String, _ paused: Bool) async throws -> Schedule? {
        _ = try await access {
            try await self.script(
                Scripts.pauseSchedule, keys: [Self.scheduleKey(id)], arguments: [.string(paused ? "1" : "0")])
        }
        return try await schedule(id: id)
    }

    public func claimTick(id: String, previous: Date?, tick: Date, job: String?) async throws -> Bool {
        let claimed = try await access {
            try await self.script(
                Scripts.claimTick, keys: [Self.scheduleKey(id)],
                arguments: [
                    .string(previous.map { String($0.timeIntervalSinceReferenceDate) } ?? ""),
                    .string(String(tick.timeIntervalSinceReferenceDate)), .string(job ?? ""),
                ])
        }
        return claimed.int == 1
    }

    // MARK: - Templates

    /// A template's versions, oldest first (version N at index N-1), and every template's name.
    static func templateKey(_ name: String) -> String { "dray:template:\(name)" }
    static let templatesKey = "dray:templates"

    public func putTemplate(_ template: JobTemplate) async throws -> JobTemplate {
        let record = try Self.encoder.encode(template)
        let version = try await access {
            try await self.script(
                Scripts.putTemplate, keys: [Self.templateKey(template.name), Self.templatesKey],
                arguments: [.string(template.name), .bytes(Array(record))])
        }
        var stored = template
        stored.version = version.int ?? 1
        return stored
    }

    public func template(name: String, version: Int?) async throws -> JobTemplate? {
        let reply = try await access {
            try await self.script(
                Scripts.template, keys: [Self.templateKey(name)], arguments: [.int(version ?? 0)])
        }
        return try Self.template(reply)
    }

    public func templates() async throws -> [JobTemplate] {
        let names = try await access {
            try await self.client.send("SMEMBERS", [.string(Self.templatesKey)]).array?.compactMap(\.string) ?? []
        }
        var templates: [JobTemplate] = []
        for name in names.sorted() {
            if let template = try await template(name: name, version: nil) { templates.append(template) }
        }
        return templates
    }

    public func deleteTemplate(name: String) async throws -> Bool {
        let deleted = try await access {
            try await self.script(
                Scripts.deleteTemplate, keys: [Self.templateKey(name), Self.templatesKey], arguments: [.string(name)])
        }
        return deleted.int == 1
    }

    /// `[version, record]`, or an empty answer.
    private static func template(_ reply: RESPValue) throws -> JobTemplate? {
        guard let parts = reply.array, parts.count == 2, let version = parts[0].int, let record = parts[1].string else {
            return nil
        }
        var template = try decoder.decode(JobTemplate.self, from: Data(record.utf8))
        template.version = version
        return template
    }

    // MARK: - Webhook deliveries

    /// A delivery's record; the deliveries due, by time; a job's deliveries, by creation.
    static func deliveryKey(_ id: String) -> String { "dray:delivery:\(id)" }
    static let deliveriesDueKey = "dray:deliveries:due"
    static func jobDeliveriesKey(_ job: String) -> String { "dray:deliveries:job:\(job)" }

    public func addDeliveries(_ deliveries: [Delivery]) async throws {
        for delivery in deliveries {
            let record = try Self.encoder.encode(delivery)
            _ = try await access {
                try await self.script(
                    Scripts.addDelivery,
                    keys: [Self.deliveryKey(delivery.id), Self.jobDeliveriesKey(delivery.job), Self.deliveriesDueKey],
                    arguments: [
                        .string(delivery.id), .bytes(Array(record)),
                        .string(String(delivery.createdAt.timeIntervalSinceReferenceDate)),
                        .string(delivery.due.map { String($0.timeIntervalSinceReferenceDate) } ?? ""),
                    ])
            }
        }
    }

    public func deliveries(job: String) async throws -> [Delivery] {
        let records = try await access {
            try await self.script(Scripts.jobDeliveries, keys: [Self.jobDeliveriesKey(job)], arguments: [])
        }
        return try Self.deliveries(records)
    }

    public func claimDeliveries(now: Date, limit: Int, lease: Duration) async throws -> [Delivery] {
        let time = now.timeIntervalSinceReferenceDate
        let records = try await access {
            try await self.script(
                Scripts.claimDeliveries, keys: [Self.deliveriesDueKey],
                arguments: [.string(String(time)), .int(limit), .string(String(time + lease.timeInterval))])
        }
        return try Self.deliveries(records)
    }

    public func updateDelivery(_ delivery: Delivery) async throws {
        let record = try Self.encoder.encode(delivery)
        _ = try await access {
            try await self.script(
                Scripts.updateDelivery, keys: [Self.deliveryKey(delivery.id), Self.deliveriesDueKey],
                arguments: [
                    .string(delivery.id), .bytes(Array(record)),
                    .string(delivery.due.map { String($0.timeIntervalSinceReferenceDate) } ?? ""),
                ])
        }
    }

    private static func deliveries(_ reply: RESPValue) throws -> [Delivery] {
        try (reply.array ?? []).compactMap(\.string).map { try decoder.decode(Delivery.self, from: Data($0.utf8)) }
    }

    // MARK: - The control plane (one node at a time)

    public func heartbeat(node: String, lease: Duration) async throws -> Bool {
        // The lease is reckoned on Redis's clock (TIME), never the nodes' own, which may differ.
        let other = try await access {
            try await self.script(
                Scripts.heartbeat, keys: [Self.nodesKey],
                arguments: [.string(node), .int(Int(lease / .milliseconds(1)))])
        }
        if let other = other.string, !other.isEmpty { throw DrayError.oneNodeOnly(store: "Redis", other: other) }
        return true
    }

    public func leave(node: String) async throws {
        _ = try await access { try await self.client.send("HDEL", [.string(Self.nodesKey), .string(node)]) }
    }

    public func claim(node: String, limit: Int) async throws -> [JobRecord] {
        guard limit > 0 else { return [] }
        return try await access {
            let ids =
                try await self.script(
                    Scripts.claim, keys: [Self.queuesKey, Self.claimedKey(node)],
                    arguments: [.string(node), .int(limit)]
                ).array?.compactMap(\.string) ?? []
            guard !ids.isEmpty else { return [] }
            let replies = try await self.client.pipeline(
                ids.map { RedisCommand("HMGET", [.string(Self.jobKey($0))] + Self.fields) })
            return try zip(ids, replies).compactMap { id, reply in try Self.record(id: id, fields: reply.array ?? []) }
        }
    }

    public func queuedCount() async throws -> Int {
        try await access {
            try await self.script(Scripts.queued, keys: [Self.queuesKey], arguments: [.string("")]).int ?? 0
        }
    }

    public func queuedCount(project: String) async throws -> Int {
        try await access {
            try await self.script(Scripts.queued, keys: [Self.queuesKey], arguments: [.string(project)]).int ?? 0
        }
    }

    public func requestStop(id: String, _ request: StopRequest) async throws -> Bool {
        try await access {
            try await self.script(
                Scripts.requestStop, keys: [Self.jobKey(id)], arguments: [.string(id), .string(request.rawValue)]
            ).int == 1
        }
    }

    public func stopRequests(node: String) async throws -> [(id: String, request: StopRequest)] {
        let all = try await access {
            try await self.script(Scripts.takeStops, keys: [Self.stopsKey(node)], arguments: []).array ?? []
        }
        return stride(from: 0, to: all.count - 1, by: 2).compactMap { index in
            guard let id = all[index].string, let request = all[index + 1].string.flatMap(StopRequest.init) else {
                return nil
            }
            return (id: id, request: request)
        }
    }

    /// Reads the lost nodes' claimed sets, not every job.
    public func reapLostNodes(now: Date) async throws -> [JobRecord] {
        // Leases are compared on Redis's clock; `now` says only how far from the present to look.
        let (time, nodes) = try await access {
            let replies = try await self.client.pipeline([
                RedisCommand("TIME", []), RedisCommand("HGETALL", [.string(Self.nodesKey)]),
            ])
            return (replies[0].array ?? [], replies[1].array ?? [])
        }
        guard time.count == 2, let seconds = time[0].int, let micros = time[1].int else {
            throw DrayError(.storage, "Redis answered TIME with \(time)")
        }
        let cutoff = seconds * 1000 + micros / 1000 + Int(now.timeIntervalSinceNow * 1000)
        var ended: [JobRecord] = []
        for index in stride(from: 0, to: nodes.count - 1, by: 2) {
            guard let node = nodes[index].string, let until = nodes[index + 1].int, until < cutoff else { continue }
            let ids = try await access {
                try await self.client.send("SMEMBERS", [.string(Self.claimedKey(node))]).array?.compactMap(\.string)
                    ?? []
            }
            for id in ids {
                guard var record = try await job(id: id), record.node == node, record.state.status == .running else {
                    continue
                }
                record.state.lose(node: node, job: record.job, at: now)
                if try await transition(id: id, state: record.state, from: .running, node: node, then: "release") {
                    ended.append(record)
                }
            }
            _ = try await access {
                try await self.client.pipeline([
                    RedisCommand("DEL", [.string(Self.claimedKey(node)), .string(Self.stopsKey(node))]),
                    RedisCommand("HDEL", [.string(Self.nodesKey), .string(node)]),
                ])
            }
        }
        return ended
    }

    public func requeue(id: String, state: JobState) async throws -> Bool {
        try await transition(id: id, state: state, from: .error, node: "*", then: "requeue")
    }

    public func endQueued(id: String, state: JobState) async throws -> Bool {
        try await transition(id: id, state: state, from: .running, node: "")
    }

    public func update(id: String, state: JobState, owner node: String, version: Int) async throws {
        guard try await transition(id: id, state: state, from: nil, node: node, version: version) else {
            throw DrayError.fenced(id, node: node, version: version)
        }
    }

    /// Replaces the state of a job in status `from` (nil for any) whose node is `node` ("" for
    /// none, "*" for any) and, when given, whose version is `version`, then does `then` (see
    /// ``Scripts/transition``).
    private func transition(
        id: String, state: JobState, from status: JobStatus?, node: String, version: Int? = nil,
        then action: String = ""
    ) async throws -> Bool {
        let encoded = try Self.encoder.encode(state)
        let result = try await access {
            try await self.script(
                Scripts.transition, keys: [Self.jobKey(id)],
                arguments: [
                    .string(id), .string(state.status.rawValue), .int(state.stepsCompleted),
                    .bytes(Array(encoded)), .string(status?.rawValue ?? "*"), .string(node), .string(action),
                    .string(version.map(String.init) ?? "*"), .string(Self.ended(state)),
                ])
        }
        guard result.int != -1 else { throw DrayError.noJob(id) }
        return result.int == 1
    }

    /// Subscribes to `dray:changes` on a connection of its own, again a second after any
    /// failure, until the task is canceled. Each time it has subscribed it says `queued` once:
    /// whatever happened while no one listened, nodes look.
    public func watch(_ changed: @escaping @Sendable (StoreChange) -> Void) async throws {
        while !Task.isCancelled {
            do {
                try await client.subscribe(to: Self.changesChannel, subscribed: { changed(.queued) }) { payload in
                    if let change = StoreChange(payload: payload) { changed(change) }
                }
            } catch {
                if Task.isCancelled { return }
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    // MARK: - Encoding

    private static let fields: [RedisArgument] = [
        "status", "completedSteps", "totalSteps", "job", "state", "node", "version",
    ]

    /// A record from the hash's fields; nil when there is no hash. A job the original Dray wrote
    /// has only `status`, `completedSteps` and `totalSteps`: the rest is made up from them.
    static func record(id: String, fields: [RESPValue]) throws -> JobRecord? {
        guard fields.count >= 5, fields.contains(where: { !$0.isNull }) else { return nil }
        if case .bulkString(let job?) = fields[3], case .bulkString(let state?) = fields[4] {
            return JobRecord(
                id: id, job: try decoder.decode(Job.self, from: job),
                state: try decoder.decode(JobState.self, from: state), node: fields.count > 5 ? fields[5].string : nil,
                version: fields.count > 6 ? fields[6].int ?? 0 : 0)
        }
        let totalSteps = legacyCount(fields[2].string)
        return JobRecord(
            id: id, job: Job(id: id, steps: Array(repeating: Step(source: ""), count: totalSteps)),
            state: legacyState(fields))
    }

    /// The state in a hash's first four fields (`status`, `completedSteps`, `totalSteps`,
    /// `state`): the JSON that Dray writes, or for a job the original wrote, one made up from
    /// its three fields.
    static func state(_ fields: [RESPValue]) throws -> JobState {
        if case .bulkString(let json?) = fields[3] { return try decoder.decode(JobState.self, from: json) }
        return legacyState(fields)
    }

    /// The state of a job the original Dray wrote, from its `status`, `completedSteps` and
    /// `totalSteps` (the hash's first three fields).
    static func legacyState(_ fields: [RESPValue]) -> JobState {
        JobState(
            legacyStatus: fields[0].string, stepsCompleted: fields[1].int ?? 0,
            stepCount: legacyCount(fields[2].string))
    }

    /// The original wrote `totalSteps` as Go's `string(n)`: the character with code n, not digits.
    static func legacyCount(_ text: String?) -> Int {
        guard let text else { return 0 }
        if let count = Int(text) { return max(0, count) }
        if text.unicodeScalars.count == 1, let scalar = text.unicodeScalars.first, scalar.value < 0x1_0000 {
            return Int(scalar.value)
        }
        return 0
    }

    static func meta(_ line: LogLine) -> String {
        "\(line.step)\(line.stream == .stderr ? "e" : "o")"
    }

    static func parseMeta(_ text: String?) -> (Int, StandardStream) {
        guard let text, let last = text.last else { return (0, .stdout) }
        return (Int(text.dropLast()) ?? 0, last == "e" ? .stderr : .stdout)
    }

    // MARK: - Calls

    private func script(_ script: String, keys: [String], arguments: [RedisArgument]) async throws -> RESPValue {
        try await client.send(Self.scriptCommand(script, keys: keys, arguments: arguments))
    }

    private static func scriptCommand(_ script: String, keys: [String], arguments: [RedisArgument]) -> RedisCommand {
        let head: [RedisArgument] = [.string(script), .int(keys.count)] + keys.map { .string($0) }
        return RedisCommand("EVAL", arguments: [head, arguments].joined())
    }

    /// Runs a call, giving its failures the store's error type.
    private func access<T>(_ body: () async throws -> T) async throws -> T {
        try await DrayError.storage("the Redis store at \(client.configuration.redactedURL)", body)
    }

    /// The Lua scripts, each run atomically by `EVAL`.
    enum Scripts {
        /// Indexes a job's end: `ended(id, at)` puts it in `dray:finished` at the score `at`
        /// (seconds since 2001), or takes it out when `at` is "" (it runs).
        static let indexEnd = """
            local function ended(id, at)
              if at ~= '' then redis.call('ZADD', 'dray:finished', at, id) else redis.call('ZREM', 'dray:finished', id) end
            end

            """

        /// A job's queue, from its hash's `project` and `rank`: `dray:queue` for the `default`
        /// project's `normal` jobs, `dray:queue:RANK:PROJECT` for the others.
        static let queues = """
            local function queueOf(key)
              local fields = redis.call('HMGET', key, 'project', 'rank')
              local project, rank = fields[1] or 'default', fields[2] or '1'
              if project == 'default' and rank == '1' then return 'dray:queue' end
              return 'dray:queue:' .. rank .. ':' .. project
            end
            local function enqueue(key, id)
              local queue = queueOf(key)
              redis.call('RPUSH', queue, id)
              redis.call('SADD', 'dray:queues', queue)
              redis.call('PUBLISH', 'dray:changes', 'queue')
            end
            local function dequeue(key, id)
              local queue = queueOf(key)
              redis.call('LREM', queue, 0, id)
              if redis.call('LLEN', queue) == 0 then redis.call('SREM', 'dray:queues', queue) end
            end

            """

        /// KEYS: job, jobs, log, meta. ARGV: id, status, completedSteps, totalSteps, job, state,
        /// name ("" for none), its end ("" while it runs), project, priority's rank. 1, or 0 when
        /// the job exists. A running job joins its queue.
        static let create = createJob + "return create()"

        static let createJob =
            indexEnd + queues + """
                local function create()
                  if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
                  redis.call('DEL', KEYS[3], KEYS[4], string.sub(KEYS[4], 1, -5) .. 'runs')
                  redis.call('HSET', KEYS[1], 'status', ARGV[2], 'completedSteps', ARGV[3], 'totalSteps', ARGV[4], 'job', ARGV[5], 'state', ARGV[6], 'name', ARGV[7], 'project', ARGV[9], 'rank', ARGV[10])
                  redis.call('RPUSH', KEYS[2], ARGV[1])
                  ended(ARGV[1], ARGV[8])
                  if ARGV[2] == 'running' then enqueue(KEYS[1], ARGV[1]) end
                  return 1
                end

                """

        /// ``create``, unless the idempotency key KEYS[5] holds a job: then "digest id". ARGV[11]:
        /// the request's digest; ARGV[12]: the key's lifetime in milliseconds.
        static let createOnce =
            createJob + """
                local held = redis.call('GET', KEYS[5])
                if held then return held end
                local made = create()
                if made == 1 then redis.call('SET', KEYS[5], ARGV[11] .. ' ' .. ARGV[1], 'PX', ARGV[12]) end
                return made
                """

        /// Lua's name of a queue's project and priority's rank.
        static let queueNames = """
            local function queueName(queue)
              if queue == 'dray:queue' then return 1, 'default' end
              local rank, project = string.match(queue, '^dray:queue:(%d):(.+)$')
              return tonumber(rank), project
            end
            if redis.call('LLEN', 'dray:queue') > 0 then redis.call('SADD', KEYS[1], 'dray:queue') end

            """

        /// KEYS: the queues' names, the node's claimed set. ARGV: node, limit. The ids claimed.
        /// Each is the oldest of the highest priority's queue whose project is under its
        /// `maxRunningJobs` (`dray:project-max`) and had its turn (`dray:turns`) longest ago. A
        /// project's claimed jobs are kept in `dray:active:PROJECT`; those that no longer run
        /// leave it when it is counted.
        static let claim =
            queueNames + """
                local function active(project)
                  local key = 'dray:active:' .. project
                  for _, id in ipairs(redis.call('SMEMBERS', key)) do
                    local fields = redis.call('HMGET', 'jobs:' .. id, 'status', 'node')
                    if fields[1] ~= 'running' or not fields[2] then redis.call('SREM', key, id) end
                  end
                  return redis.call('SCARD', key)
                end
                local claimed = {}
                while #claimed < tonumber(ARGV[2]) do
                  local best, bestRank, bestTurn, bestProject
                  for _, queue in ipairs(redis.call('SMEMBERS', KEYS[1])) do
                    if redis.call('LLEN', queue) == 0 then
                      redis.call('SREM', KEYS[1], queue)
                    else
                      local rank, project = queueName(queue)
                      local max = redis.call('HGET', 'dray:project-max', project)
                      if not max or active(project) < tonumber(max) then
                        local turn = tonumber(redis.call('HGET', 'dray:turns', project) or '0')
                        if not best or rank > bestRank or (rank == bestRank and (turn < bestTurn or (turn == bestTurn and project < bestProject))) then
                          best, bestRank, bestTurn, bestProject = queue, rank, turn, project
                        end
                      end
                    end
                  end
                  if not best then break end
                  local id = redis.call('LPOP', best)
                  local key = 'jobs:' .. id
                  if redis.call('HGET', key, 'status') == 'running' and not redis.call('HGET', key, 'node') then
                    redis.call('HSET', key, 'node', ARGV[1])
                    redis.call('HINCRBY', key, 'version', 1)
                    redis.call('SADD', KEYS[2], id)
                    redis.call('SADD', 'dray:active:' .. bestProject, id)
                    redis.call('HSET', 'dray:turns', bestProject, redis.call('INCR', 'dray:turn'))
                    table.insert(claimed, id)
                  end
                end
                return claimed
                """

        /// KEYS: the queues' names. ARGV: a project, or "" for every one. How many jobs wait.
        static let queued =
            queueNames + """
                local total = 0
                for _, queue in ipairs(redis.call('SMEMBERS', KEYS[1])) do
                  local _, project = queueName(queue)
                  if ARGV[1] == '' or ARGV[1] == project then total = total + redis.call('LLEN', queue) end
                end
                return total
                """

        /// KEYS: projects, project-max. ARGV: name, record, maxRunningJobs ("" for none). 1 when new.
        static let putProject = """
            local new = redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
            if ARGV[3] == '' then redis.call('HDEL', KEYS[2], ARGV[1]) else redis.call('HSET', KEYS[2], ARGV[1], ARGV[3]) end
            return new
            """

        /// KEYS: token-hashes, tokens. ARGV: hash. The token's record, or nil.
        static let tokenByHash = """
            local id = redis.call('HGET', KEYS[1], ARGV[1])
            if not id then return false end
            return redis.call('HGET', KEYS[2], id)
            """

        /// KEYS: audit records, audit, audit times, the project's audit ("" for none). ARGV:
        /// record, time (seconds since 1970). The entry's number.
        static let appendAudit = """
            local seq = redis.call('INCR', 'dray:audit:seq')
            redis.call('HSET', KEYS[1], seq, ARGV[1])
            redis.call('ZADD', KEYS[2], seq, seq)
            redis.call('ZADD', KEYS[3], ARGV[2], seq)
            if KEYS[4] ~= '' then redis.call('ZADD', KEYS[4], seq, seq) end
            return seq
            """

        /// KEYS: audit records, audit, audit times. ARGV: time. How many entries older than it
        /// were removed, from every index.
        static let pruneAudit = """
            local old = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[1])
            for _, seq in ipairs(old) do
              local record = redis.call('HGET', KEYS[1], seq)
              local ok, entry = pcall(cjson.decode, record or '{}')
              if ok and type(entry.project) == 'string' then
                redis.call('ZREM', 'dray:audit:project:' .. entry.project, seq)
              end
            end
            for i = 1, #old, 1000 do
              local last = math.min(i + 999, #old)
              redis.call('HDEL', KEYS[1], unpack(old, i, last))
              redis.call('ZREM', KEYS[2], unpack(old, i, last))
              redis.call('ZREM', KEYS[3], unpack(old, i, last))
            end
            return #old
            """

        /// KEYS: nodes. ARGV: node, the lease (ms), reckoned from Redis's TIME. "" when renewed,
        /// else the other node whose lease is live.
        static let heartbeat = """
            local time = redis.call('TIME')
            local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
            local all = redis.call('HGETALL', KEYS[1])
            for i = 1, #all, 2 do
              if all[i] ~= ARGV[1] and tonumber(all[i + 1]) > now then return all[i] end
            end
            redis.call('HSET', KEYS[1], ARGV[1], now + tonumber(ARGV[2]))
            return ''
            """

        /// KEYS: job. ARGV: id, request. 1 when the job runs on a node, whose requests now hold it.
        static let requestStop = """
            if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 0 end
            local node = redis.call('HGET', KEYS[1], 'node')
            if not node then return 0 end
            redis.call('HSET', 'dray:stops:' .. node, ARGV[1], ARGV[2])
            redis.call('PUBLISH', 'dray:changes', 'stop:' .. node)
            return 1
            """

        /// KEYS: the node's stops. The requests, as id, request, id, request…, taken.
        static let takeStops = """
            local all = redis.call('HGETALL', KEYS[1])
            redis.call('DEL', KEYS[1])
            return all
            """

        /// KEYS: job. ARGV: id, status, completedSteps, state, the status it must have ("*"
        /// for any), the node it must have ("" for none, "*" for any), what else to do: "requeue"
        /// (lose the node, join the queue), "release" (lose the node) or "", the version it must
        /// have ("*" for any), and its end ("" while it runs). 1 when the state was replaced (and
        /// the version went up by one), 0 when the job is not as required, -1 when there is no
        /// job. A queued job that ends leaves its queue.
        static let transition =
            indexEnd + queues + """
                if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
                if ARGV[5] ~= '*' and redis.call('HGET', KEYS[1], 'status') ~= ARGV[5] then return 0 end
                local node = redis.call('HGET', KEYS[1], 'node') or ''
                if ARGV[6] ~= '*' and node ~= ARGV[6] then return 0 end
                if ARGV[8] ~= '*' and (redis.call('HGET', KEYS[1], 'version') or '0') ~= ARGV[8] then return 0 end
                redis.call('HSET', KEYS[1], 'status', ARGV[2], 'completedSteps', ARGV[3], 'state', ARGV[4])
                redis.call('HINCRBY', KEYS[1], 'version', 1)
                ended(ARGV[1], ARGV[9])
                if ARGV[7] == 'requeue' or ARGV[7] == 'release' then redis.call('HDEL', KEYS[1], 'node') end
                redis.call('PUBLISH', 'dray:changes', 'job:' .. ARGV[1])
                if ARGV[7] == 'requeue' then
                  enqueue(KEYS[1], ARGV[1])
                elseif node == '' and ARGV[2] ~= 'running' then
                  dequeue(KEYS[1], ARGV[1])
                end
                return 1
                """

        /// KEYS: job. ARGV: job. 1, or 0 when there is no job.
        static let replaceJob = """
            if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
            redis.call('HSET', KEYS[1], 'job', ARGV[1])
            return 1
            """

        /// KEYS: job. ARGV: status, completedSteps, state, its end ("" while it runs). 1, or 0 when
        /// there is no job.
        static let update =
            indexEnd + """
                if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
                redis.call('HSET', KEYS[1], 'status', ARGV[1], 'completedSteps', ARGV[2], 'state', ARGV[3])
                redis.call('HINCRBY', KEYS[1], 'version', 1)
                ended(string.sub(KEYS[1], 6), ARGV[4])
                redis.call('PUBLISH', 'dray:changes', 'job:' .. string.sub(KEYS[1], 6))
                return 1
                """

        /// The first of an append's transaction (see ``RedisJobStore/appendLog(id:lines:batch:)``).
        /// KEYS: job, log, meta, runs. ARGV: the batch ("" for none), the number of lines n, of
        /// runs r, then each run's meta and length. The log's length before the lines, or -1 when
        /// there is no job; when there is none, or the batch equals the job's last one (appended
        /// already), `dray:append:skip` tells the settle script to take the lines off again. A run
        /// that goes on with the last one's step and stream adds no member. A job logged before
        /// runs goes on with a meta a line.
        static let reserveAppend = """
            local batch = ARGV[1]
            if redis.call('EXISTS', KEYS[1]) == 0 then
              redis.call('SET', 'dray:append:skip', 1)
              return -1
            end
            local at = redis.call('LLEN', KEYS[2])
            if batch ~= '' and redis.call('HGET', KEYS[1], 'lastBatch') == batch then
              redis.call('SET', 'dray:append:skip', 1)
              return at
            end
            local runs = tonumber(ARGV[3])
            if redis.call('EXISTS', KEYS[3]) == 1 then
              for r = 0, runs - 1 do
                local meta, count = ARGV[4 + 2 * r], tonumber(ARGV[5 + 2 * r])
                for k = 1, count, 1000 do
                  local metas = {}
                  for j = 1, math.min(1000, count - k + 1) do metas[j] = meta end
                  redis.call('RPUSH', KEYS[3], unpack(metas))
                end
              end
            else
              local last = redis.call('ZRANGE', KEYS[4], -1, -1)[1]
              local current = last and string.match(last, ':(.*)$')
              local first = at
              for r = 0, runs - 1 do
                local meta = ARGV[4 + 2 * r]
                if meta ~= current then
                  redis.call('ZADD', KEYS[4], first, first .. ':' .. meta)
                  current = meta
                end
                first = first + tonumber(ARGV[5 + 2 * r])
              end
            end
            if batch ~= '' then redis.call('HSET', KEYS[1], 'lastBatch', batch) end
            return at
            """

        /// The last of an append's transaction, after its `RPUSH`. KEYS: job, log, meta, runs.
        /// ARGV: the number of lines n. Takes the n lines off when the reserve said so, else tells
        /// the followers.
        static let settleAppend = """
            if redis.call('GET', 'dray:append:skip') then
              redis.call('DEL', 'dray:append:skip')
              redis.call('LTRIM', KEYS[2], 0, -1 - tonumber(ARGV[1]))
              return 0
            end
            redis.call('PUBLISH', 'dray:changes', 'log:' .. string.sub(KEYS[1], 6))
            return 1
            """

        /// KEYS: jobs. ARGV: position, step (1 oldest first, -1 newest first), wanted, the most
        /// jobs to read, then the statuses asked for. Reads the list from `position` on and
        /// picks the jobs whose hash has one of the statuses, until `wanted` are found or the
        /// most were read: {the position to read next (-1 at the end), then each one's position
        /// and id}.
        static let scan = """
            local position, step, wanted, most = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
            local statuses = {}
            for i = 5, #ARGV do statuses[ARGV[i]] = true end
            local found, count, read = {}, 0, 0
            while count < wanted and read < most and position >= 0 do
              local first, last = position, position + 499
              if step < 0 then first, last = math.max(0, position - 499), position end
              local ids = redis.call('LRANGE', KEYS[1], first, last)
              if #ids == 0 then position = -1 break end
              local from, to = 1, #ids
              if step < 0 then from, to = #ids, 1 end
              position = step > 0 and first + #ids or first - 1
              for i = from, to, step do
                read = read + 1
                if statuses[redis.call('HGET', 'jobs:' .. ids[i], 'status')] then
                  table.insert(found, first + i - 1)
                  table.insert(found, ids[i])
                  count = count + 1
                  if count >= wanted then
                    position = first + i - 1 + step
                    break
                  end
                end
              end
            end
            table.insert(found, 1, position)
            return found
            """

        /// KEYS: job, log, meta, runs. ARGV: start, stop (-1: the end). {texts, metas, runs}: the
        /// metas of a job logged before runs, else the runs that hold the page, from the one that
        /// holds its first line; nil when there is no job.
        static let page = """
            if redis.call('EXISTS', KEYS[1]) == 0 then return false end
            local texts = redis.call('LRANGE', KEYS[2], ARGV[1], ARGV[2])
            if redis.call('EXISTS', KEYS[3]) == 1 then
              return {texts, redis.call('LRANGE', KEYS[3], ARGV[1], ARGV[2]), {}}
            end
            local runs = redis.call('ZREVRANGEBYSCORE', KEYS[4], ARGV[1], '-inf', 'LIMIT', 0, 1)
            local stop = ARGV[2] == '-1' and '+inf' or ARGV[2]
            for _, run in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], '(' .. ARGV[1], stop)) do
              runs[#runs + 1] = run
            end
            return {texts, {}, runs}
            """

        /// KEYS: job, log, meta, jobs, runs. ARGV: id. 1 when the job existed.
        static let delete =
            queues + """
                dequeue(KEYS[1], ARGV[1])
                redis.call('SREM', 'dray:active:' .. (redis.call('HGET', KEYS[1], 'project') or 'default'), ARGV[1])
                local existed = redis.call('DEL', KEYS[1])
                redis.call('DEL', KEYS[2], KEYS[3], KEYS[5])
                redis.call('LREM', KEYS[4], 0, ARGV[1])
                redis.call('ZREM', 'dray:finished', ARGV[1])
                redis.call('SREM', 'dray:unowned', ARGV[1])
                local told = 'dray:deliveries:job:' .. ARGV[1]
                for _, delivery in ipairs(redis.call('ZRANGE', told, 0, -1)) do
                  redis.call('DEL', 'dray:delivery:' .. delivery)
                  redis.call('ZREM', 'dray:deliveries:due', delivery)
                end
                redis.call('DEL', told)
                return existed
                """

        /// KEYS: the schedule, the schedules. ARGV: id, record, paused, created.
        static let createSchedule = """
            redis.call('HSET', KEYS[1], 'record', ARGV[2], 'paused', ARGV[3], 'lastTick', '', 'lastJob', '')
            redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
            return 1
            """

        /// KEYS: the schedule, the schedules. ARGV: id. 1 when it existed.
        static let deleteSchedule = """
            redis.call('ZREM', KEYS[2], ARGV[1])
            return redis.call('DEL', KEYS[1])
            """

        /// KEYS: the schedule. ARGV: paused ("1" or "0").
        static let pauseSchedule = """
            if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
            redis.call('HSET', KEYS[1], 'paused', ARGV[1])
            return 1
            """

        /// KEYS: the schedule. ARGV: the previous tick ("" none), the tick, the job ("" none).
        /// 1 when the last tick was still the previous one, and is now the tick.
        static let claimTick = """
            if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
            if redis.call('HGET', KEYS[1], 'lastTick') ~= ARGV[1] then return 0 end
            redis.call('HSET', KEYS[1], 'lastTick', ARGV[2])
            if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'lastJob', ARGV[3]) end
            return 1
            """

        /// KEYS: the template's versions, the names. ARGV: name, record. The new version.
        static let putTemplate = """
            local version = redis.call('RPUSH', KEYS[1], ARGV[2])
            redis.call('SADD', KEYS[2], ARGV[1])
            return version
            """

        /// KEYS: the template's versions. ARGV: the version, 0 for the latest. {version, record} or {}.
        static let template = """
            local count = redis.call('LLEN', KEYS[1])
            local version = tonumber(ARGV[1])
            if version == 0 then version = count end
            if version < 1 or version > count then return {} end
            return {version, redis.call('LINDEX', KEYS[1], version - 1)}
            """

        /// KEYS: the template's versions, the names. ARGV: name. 1 when it existed.
        static let deleteTemplate = """
            redis.call('SREM', KEYS[2], ARGV[1])
            return redis.call('DEL', KEYS[1])
            """

        /// KEYS: the delivery, its job's deliveries, the due ones. ARGV: id, record, created, due ("" never).
        static let addDelivery = """
            redis.call('SET', KEYS[1], ARGV[2])
            redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
            if ARGV[4] ~= '' then redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1]) end
            return 1
            """

        /// KEYS: a job's deliveries. Their records, oldest first.
        static let jobDeliveries = """
            local records = {}
            for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
              local record = redis.call('GET', 'dray:delivery:' .. id)
              if record then table.insert(records, record) end
            end
            return records
            """

        /// KEYS: the due ones. ARGV: now, limit, the lease's end. The records claimed: each due
        /// again only at the lease's end.
        static let claimDeliveries = """
            local records = {}
            for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))) do
              redis.call('ZADD', KEYS[1], ARGV[3], id)
              local record = redis.call('GET', 'dray:delivery:' .. id)
              if record then table.insert(records, record) else redis.call('ZREM', KEYS[1], id) end
            end
            return records
            """

        /// KEYS: the delivery, the due ones. ARGV: id, record, due ("" never).
        static let updateDelivery = """
            if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
            redis.call('SET', KEYS[1], ARGV[2])
            if ARGV[3] ~= '' then redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1]) else redis.call('ZREM', KEYS[2], ARGV[1]) end
            return 1
            """
    }
}
