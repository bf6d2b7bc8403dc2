import DrayEngine
import Foundation
import GRDB
import Synchronization

/// A ``JobStore`` in one SQLite file, in WAL mode, with versioned migrations.
///
/// Log lines are kept in chunks of up to ``LogChunk/lineLimit`` lines, as the bytes the steps
/// wrote, in rows keyed by (job, index of the chunk's first line): an append is a row or a few,
/// and a page of the log is one index seek and the chunks from there.
public final class SQLiteJobStore: JobStore {
    private let pool: DatabasePool
    /// This process's hold on the store (``NodeLock``): a store is one host's file, so the
    /// operating system tells a live second process from a dead one at once.
    private let lock: NodeLock

    /// Opens (creating if needed) the database at `path` and migrates it to the current schema.
    public init(path: String) throws {
        lock = NodeLock(path: path + ".lock")
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.label = "dray"
        do {
            try FileManager.default.createDirectory(
                at: URL(fileURLWithPath: path).deletingLastPathComponent(), withIntermediateDirectories: true)
            pool = try DatabasePool(path: path, configuration: configuration)
            // Space that deletes free goes back to the file system (incremental vacuum): a file
            // made before this runs one full VACUUM, once, to take the mode.
            try pool.barrierWriteWithoutTransaction { db in
                if try Int.fetchOne(db, sql: "PRAGMA auto_vacuum") != 2 {
                    try db.execute(sql: "PRAGMA auto_vacuum = INCREMENTAL")
                    try db.execute(sql: "VACUUM")
                }
            }
            try Self.migrator.migrate(pool)
        } catch {
            throw DrayError(.storage, "cannot open the SQLite store at \(path): \(error)", cause: error)
        }
    }

    /// The schema, one migration per version. Never edit a registered migration; add one.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: jobs and log lines") { db in
            try db.execute(
                sql: """
                    CREATE TABLE jobs (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        id TEXT NOT NULL UNIQUE,
                        job BLOB NOT NULL,
                        state BLOB NOT NULL,
                        status TEXT NOT NULL,
                        log_count INTEGER NOT NULL DEFAULT 0
                    );
                    CREATE TABLE log_lines (
                        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                        seq INTEGER NOT NULL,
                        step INTEGER NOT NULL,
                        stream INTEGER NOT NULL,
                        text TEXT NOT NULL,
                        PRIMARY KEY (job_id, seq)
                    ) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v2: the last log batch, for safe retries") { db in
            try db.execute(sql: "ALTER TABLE jobs ADD COLUMN last_batch TEXT")
        }
        migrator.registerMigration("v3: a summary of each job in columns, for lists") { db in
            // Times are seconds since 2001, as the JSON of the state has them.
            try db.execute(
                sql: """
                    ALTER TABLE jobs ADD COLUMN name TEXT;
                    ALTER TABLE jobs ADD COLUMN total_steps INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE jobs ADD COLUMN phase TEXT NOT NULL DEFAULT 'queued';
                    ALTER TABLE jobs ADD COLUMN steps_completed INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE jobs ADD COLUMN current_step INTEGER;
                    ALTER TABLE jobs ADD COLUMN reason TEXT;
                    ALTER TABLE jobs ADD COLUMN created_at REAL NOT NULL DEFAULT 0;
                    ALTER TABLE jobs ADD COLUMN started_at REAL;
                    ALTER TABLE jobs ADD COLUMN finished_at REAL;
                    UPDATE jobs SET
                        name = json_extract(CAST(job AS TEXT), '$.name'),
                        total_steps = json_array_length(CAST(job AS TEXT), '$.steps'),
                        phase = json_extract(CAST(state AS TEXT), '$.phase'),
                        steps_completed = json_extract(CAST(state AS TEXT), '$.stepsCompleted'),
                        current_step = json_extract(CAST(state AS TEXT), '$.currentStep'),
                        reason = json_extract(CAST(state AS TEXT), '$.reason'),
                        created_at = json_extract(CAST(state AS TEXT), '$.createdAt'),
                        started_at = json_extract(CAST(state AS TEXT), '$.startedAt'),
                        finished_at = json_extract(CAST(state AS TEXT), '$.finishedAt');
                    CREATE INDEX jobs_by_status ON jobs (status, seq);
                    CREATE INDEX jobs_by_phase ON jobs (phase, seq);
                    """)
        }
        migrator.registerMigration("v4: the control plane: claims, stop requests, node leases") { db in
            try db.execute(
                sql: """
                    ALTER TABLE jobs ADD COLUMN node TEXT;
                    ALTER TABLE jobs ADD COLUMN stop_request TEXT;
                    CREATE TABLE nodes (id TEXT PRIMARY KEY, lease_until REAL NOT NULL) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v5: a version for each job's state, so that a stale write is refused") { db in
            try db.execute(sql: "ALTER TABLE jobs ADD COLUMN version INTEGER NOT NULL DEFAULT 0")
        }
        migrator.registerMigration("v6: log lines in chunks, as bytes") { db in
            try db.execute(
                sql: """
                    CREATE TABLE log_chunks (
                        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                        first INTEGER NOT NULL,
                        count INTEGER NOT NULL,
                        data BLOB NOT NULL,
                        PRIMARY KEY (job_id, first)
                    ) WITHOUT ROWID
                    """)
            let insert = try db.makeStatement(
                sql: "INSERT INTO log_chunks (job_id, first, count, data) VALUES (?, ?, ?, ?)")
            var job: String?
            var first = 0
            var lines: [LogLine] = []
            func flush() throws {
                guard let job, !lines.isEmpty else { return }
                try insert.execute(arguments: [job, first, lines.count, Data(LogChunk.encode(lines[...]))])
            }
            let rows = try Row.fetchCursor(
                db, sql: "SELECT job_id, seq, step, stream, text FROM log_lines ORDER BY job_id, seq")
            while let row = try rows.next() {
                let id: String = row[0]
                if id != job || lines.count >= LogChunk.lineLimit {
                    try flush()
                    job = id
                    first = row[1]
                    lines = []
                }
                let text: Data = row[4]
                lines.append(
                    LogLine(step: row[2], stream: (row[3] as Int) == 2 ? .stderr : .stdout, bytes: [UInt8](text)))
            }
            try flush()
            try db.execute(sql: "DROP TABLE log_lines")
        }
        migrator.registerMigration("v7: indexes for start-up and clean-up: running jobs by node, ended jobs by time") {
            db in
            try db.execute(
                sql: """
                    CREATE INDEX jobs_running_by_node ON jobs (node, status);
                    CREATE INDEX jobs_by_finished ON jobs (finished_at) WHERE status != 'running';
                    """)
        }
        migrator.registerMigration("v8: idempotency keys: the job each submit's key made, for 24 hours") { db in
            try db.execute(
                sql: """
                    CREATE TABLE idempotency_keys (
                        key TEXT PRIMARY KEY, digest TEXT NOT NULL, job TEXT NOT NULL, expires REAL NOT NULL
                    ) WITHOUT ROWID;
                    CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires);
                    """)
        }
        migrator.registerMigration("v9: webhook deliveries, due or kept") { db in
            try db.execute(
                sql: """
                    CREATE TABLE deliveries (
                        id TEXT PRIMARY KEY, job TEXT NOT NULL, created REAL NOT NULL, due REAL, record BLOB NOT NULL
                    ) WITHOUT ROWID;
                    CREATE INDEX deliveries_by_job ON deliveries (job, created);
                    CREATE INDEX deliveries_due ON deliveries (due) WHERE due IS NOT NULL;
                    """)
        }
        migrator.registerMigration("v10: job templates, every version") { db in
            try db.execute(
                sql: """
                    CREATE TABLE templates (
                        name TEXT NOT NULL, version INTEGER NOT NULL, record BLOB NOT NULL, PRIMARY KEY (name, version)
                    ) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v11: schedules, and the tick each last claimed") { db in
            try db.execute(
                sql: """
                    CREATE TABLE schedules (
                        id TEXT PRIMARY KEY, created REAL NOT NULL, paused INTEGER NOT NULL DEFAULT 0,
                        last_tick REAL, last_job TEXT, record BLOB NOT NULL
                    ) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v12: projects, tokens, the audit log; each job's project and priority") { db in
            try db.execute(
                sql: """
                    ALTER TABLE jobs ADD COLUMN project TEXT NOT NULL DEFAULT 'default';
                    ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 1;
                    CREATE INDEX jobs_queue ON jobs (priority, project, seq)
                        WHERE phase = 'queued' AND status = 'running' AND node IS NULL;
                    CREATE INDEX jobs_claimed ON jobs (project) WHERE status = 'running' AND node IS NOT NULL;
                    CREATE INDEX jobs_by_project ON jobs (project, seq);
                    CREATE TABLE projects (name TEXT PRIMARY KEY, max_running INTEGER, record BLOB NOT NULL) WITHOUT ROWID;
                    CREATE TABLE project_turns (project TEXT PRIMARY KEY, turn INTEGER NOT NULL) WITHOUT ROWID;
                    CREATE TABLE tokens (
                        id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, project TEXT NOT NULL, created REAL NOT NULL,
                        record BLOB NOT NULL
                    ) WITHOUT ROWID;
                    CREATE TABLE audit (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, project TEXT, record BLOB NOT NULL
                    );
                    CREATE INDEX audit_by_project ON audit (project, seq);
                    CREATE INDEX audit_by_time ON audit (time);
                    """)
        }
        return migrator
    }

    private static let encoder = JSONEncoder.keepingSecrets()
    private static let decoder = JSONDecoder()

    public func ping() async throws {
        try await access { try await self.pool.read { db in _ = try Int.fetchOne(db, sql: "SELECT 1") } }
    }

    public func create(_ record: JobRecord) async throws {
        let insert = try Self.insert(record)
        try await access { try await self.pool.write(insert) }
    }

    public func create(_ record: JobRecord, idempotency: IdempotencyKey) async throws -> IdempotentCreate {
        let insert = try Self.insert(record)
        let now = Date().timeIntervalSinceReferenceDate
        return try await access {
            // One transaction: the key is looked up, and claimed with the job, or not at all.
            try await self.pool.write { db in
                try db.execute(sql: "DELETE FROM idempotency_keys WHERE expires < ?", arguments: [now])
                if let row = try Row.fetchOne(
                    db, sql: "SELECT job, digest FROM idempotency_keys WHERE key = ?", arguments: [idempotency.key])
                {
                    return .existing(id: row["job"], digest: row["digest"])
                }
                try insert(db)
                try db.execute(
                    sql: "INSERT INTO idempotency_keys (key, digest, job, expires) VALUES (?, ?, ?, ?)",
                    arguments: [
                        idempotency.key, idempotency.digest, record.id, now + idempotency.lifetime.timeInterval,
                    ])
                return .created
            }
        }
    }

    /// Writes a new job's row.
    private static func insert(_ record: JobRecord) throws -> @Sendable (Database) throws -> Void {
        let job = try encoder.encode(record.job)
        let state = try encoder.encode(record.state)
        let arguments: StatementArguments =
            [
                record.id, job, state, record.job.name, record.job.steps.count, record.job.projectName,
                (record.job.priority ?? .normal).rank,
            ] + stateArguments(record.state)
        return { db in
            try db.execute(
                sql: "INSERT INTO jobs (id, job, state, name, total_steps, project, priority, \(stateColumns)) "
                    + "VALUES (?, ?, ?, ?, ?, ?, ?, \(stateParameters))",
                arguments: arguments)
        }
    }

    public func job(id: String) async throws -> JobRecord? {
        try await access {
            try await self.pool.read { db in
                try Row.fetchOne(db, sql: "SELECT \(Self.recordColumns) FROM jobs WHERE id = ?", arguments: [id]).map(
                    Self.record)
            }
        }
    }

    public func jobs() async throws -> [JobRecord] {
        try await access {
            try await self.pool.read { db in
                try Row.fetchAll(db, sql: "SELECT \(Self.recordColumns) FROM jobs ORDER BY seq").map(Self.record)
            }
        }
    }

    public func list(_ listing: JobListing) async throws -> JobPage {
        var conditions: [String] = []
        var values: [any DatabaseValueConvertible & Sendable] = []
        if let cursor = listing.cursor {
            guard let seq = Int64(cursor), seq >= 0 else { throw JobListing.badCursor(cursor) }
            conditions.append(listing.newestFirst ? "seq < ?" : "seq > ?")
            values.append(seq)
        }
        if let project = listing.project {
            conditions.append("project = ?")
            values.append(project)
        }
        for (column, names) in [
            ("status", listing.statuses.map(\.rawValue)), ("phase", listing.phases.map(\.rawValue)),
        ]
        where !names.isEmpty {
            conditions.append("\(column) IN (\(names.map { _ in "?" }.joined(separator: ", ")))")
            values += names.sorted()
        }
        // One more than asked: whether it exists says whether there is a next page.
        values.append(listing.limit.map { $0 + 1 } ?? -1)
        let sql = """
            SELECT \(Self.summaryColumns) FROM jobs
            \(conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "))
            ORDER BY seq \(listing.newestFirst ? "DESC" : "ASC") LIMIT ?
            """
        let arguments = values
        let rows = try await access {
            try await self.pool.read { db in
                try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map {
                    (seq: $0[0] as Int64, summary: Self.summary($0))
                }
            }
        }
        let page = rows.prefix(listing.limit ?? rows.count)
        return JobPage(
            jobs: page.map(\.summary), next: rows.count > page.count ? page.last.map { String($0.seq) } : nil)
    }

    public func runningJobs(node: String) async throws -> [JobRecord] {
        try await access {
            try await self.pool.read { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT \(Self.recordColumns) FROM jobs WHERE node = ? AND status = 'running'
                        UNION ALL
                        SELECT \(Self.recordColumns) FROM jobs WHERE node IS NULL AND status = 'running' AND phase != 'queued'
                        """,
                    arguments: [node]
                ).map(Self.record)
            }
        }
    }

    public func finishedJobs(before date: Date, limit: Int) async throws -> [JobSummary] {
        try await access {
            try await self.pool.read { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT \(Self.summaryColumns) FROM jobs
                        WHERE status != 'running' AND finished_at < ? ORDER BY finished_at LIMIT ?
                        """,
                    arguments: [date.timeIntervalSinceReferenceDate, limit]
                ).map(Self.summary)
            }
        }
    }

    /// The columns that mirror a job's state, for lists and their filters.
    private static let stateColumns =
        "status, phase, steps_completed, current_step, reason, created_at, started_at, finished_at"
    private static let stateParameters = "?, ?, ?, ?, ?, ?, ?, ?"

    private static func stateArguments(_ state: JobState) -> StatementArguments {
        [
            state.status.rawValue, state.phase.rawValue, state.stepsCompleted, state.currentStep,
            state.reason?.rawValue, state.createdAt.timeIntervalSinceReferenceDate,
            state.startedAt?.timeIntervalSinceReferenceDate, state.finishedAt?.timeIntervalSinceReferenceDate,
        ]
    }

    /// The columns ``summary(_:)`` reads, in its order.
    private static let summaryColumns = "seq, id, name, total_steps, \(stateColumns), project"

    /// A row of ``summaryColumns``, read by position: by name, GRDB lowercases the name and
    /// looks it up for every column of every row (a tenth of an unpaged listing's time).
    private static func summary(_ row: Row) -> JobSummary {
        let date = { (index: Int) in (row[index] as Double?).map(Date.init(timeIntervalSinceReferenceDate:)) }
        var summary = JobSummary(
            id: row[1], name: row[2], status: JobStatus(rawValue: row[4]) ?? .error,
            phase: JobPhase(rawValue: row[5]) ?? .failed, stepsCompleted: row[6], totalSteps: row[3],
            currentStep: (row[7] as Int?).map { $0 + 1 }, reason: (row[8] as String?).flatMap(FailureReason.init),
            createdAt: date(9) ?? Date(), startedAt: date(10), finishedAt: date(11))
        summary.project = row[12]
        return summary
    }

    public func update(id: String, job: Job) async throws {
        let encoded = try Self.encoder.encode(job)
        let changed = try await access {
            try await self.pool.write { db in
                try db.execute(sql: "UPDATE jobs SET job = ? WHERE id = ?", arguments: [encoded, id])
                return db.changesCount
            }
        }
        guard changed > 0 else { throw DrayError.noJob(id) }
    }

    public func update(id: String, state: JobState) async throws {
        let encoded = try Self.encoder.encode(state)
        let changed = try await access {
            try await self.pool.write { db in
                try db.execute(
                    sql:
                        "UPDATE jobs SET state = ?, version = version + 1, (\(Self.stateColumns)) = (\(Self.stateParameters)) WHERE id = ?",
                    arguments: [encoded] + Self.stateArguments(state) + [id])
                return db.changesCount
            }
        }
        guard changed > 0 else { throw DrayError.noJob(id) }
    }

    public func appendLog(id: String, lines: [LogLine], batch: UUID?) async throws {
        guard !lines.isEmpty else { return }
        let token = batch?.uuidString
        let chunks = LogChunk.split(lines).map { chunk in
            (chunk.first, chunk.count, Data(LogChunk.encode(lines[chunk.first..<chunk.first + chunk.count])))
        }
        try await access {
            try await self.pool.write { db in
                guard
                    let row = try Row.fetchOne(
                        db, sql: "SELECT log_count, last_batch FROM jobs WHERE id = ?", arguments: [id])
                else {
                    throw DrayError.noJob(id)
                }
                let count: Int = row["log_count"]
                if let token, row["last_batch"] as String? == token { return }
                let insert = try db.cachedStatement(
                    sql: "INSERT INTO log_chunks (job_id, first, count, data) VALUES (?, ?, ?, ?)")
                for (first, lineCount, data) in chunks {
                    try insert.execute(arguments: [id, count + first, lineCount, data])
                }
                try db.execute(
                    sql: "UPDATE jobs SET log_count = ?, last_batch = ? WHERE id = ?",
                    arguments: [count + lines.count, token, id])
            }
        }
    }

    /// One seek to the chunk that holds line `index`, then the chunks after it until the page is full.
    public func log(id: String, from index: Int, limit: Int?) async throws -> [LogLine] {
        let start = max(0, index)
        let wanted = limit ?? .max
        return try await access {
            try await self.pool.read { db in
                guard try Bool.fetchOne(db, sql: "SELECT 1 FROM jobs WHERE id = ?", arguments: [id]) != nil else {
                    throw DrayError.noJob(id)
                }
                guard wanted > 0 else { return [] }
                let from =
                    try Int.fetchOne(
                        db, sql: "SELECT max(first) FROM log_chunks WHERE job_id = ? AND first <= ?",
                        arguments: [id, start]) ?? 0
                let chunks = try Row.fetchCursor(
                    db, sql: "SELECT first, data FROM log_chunks WHERE job_id = ? AND first >= ? ORDER BY first",
                    arguments: [id, from])
                var lines: [LogLine] = []
                while lines.count < wanted, let chunk = try chunks.next() {
                    let first: Int = chunk[0]
                    let data: Data = chunk[1]
                    lines += try LogChunk.decode(
                        [UInt8](data), skip: max(0, start - first), limit: wanted - lines.count)
                }
                return lines
            }
        }
    }

    /// Deletes the job and its log. After a large log (or every 100 deletes), gives the freed
    /// pages back to the file system and truncates the write-ahead log, so that the file shrinks.
    public func delete(id: String) async throws -> Bool {
        let (deleted, lines) = try await access {
            try await self.pool.write { db in
                let lines = try Int.fetchOne(db, sql: "SELECT log_count FROM jobs WHERE id = ?", arguments: [id]) ?? 0
                try db.execute(sql: "DELETE FROM jobs WHERE id = ?", arguments: [id])
                let deleted = db.changesCount > 0
                try db.execute(sql: "DELETE FROM deliveries WHERE job = ?", arguments: [id])
                return (deleted, lines)
            }
        }
        guard deleted else { return false }
        let due = deletes.withLock { count in
            count += 1
            return count % 100 == 0
        }
        if lines >= 10_000 || due { try? await giveSpaceBack() }
        return true
    }

    // MARK: - Schedules

    public func createSchedule(_ schedule: Schedule) async throws {
        let record = try Self.encoder.encode(schedule)
        try await access {
            try await self.pool.write { db in
                try db.execute(
                    sql:
                        "INSERT INTO schedules (id, created, paused, last_tick, last_job, record) VALUES (?, ?, ?, ?, ?, ?)",
                    arguments: [
                        schedule.id, schedule.createdAt.timeIntervalSinceReferenceDate, schedule.paused,
                        schedule.lastTick?.timeIntervalSinceReferenceDate, schedule.lastJob, record,
                    ])
            }
        }
    }

    public func schedule(id: String) async throws -> Schedule? {
        try await schedules(where: "WHERE id = ?", [id]).first
    }

    public func schedules() async throws -> [Schedule] {
        try await schedules(where: "", [])
    }

    private func schedules(where condition: String, _ arguments: StatementArguments) async throws -> [Schedule] {
        try await access {
            try await self.pool.read { db in
                try Row.fetchAll(
                    db,
                    sql: "SELECT paused, last_tick, last_job, record FROM schedules \(condition) ORDER BY created, id",
                    arguments: arguments
                ).map { row in
                    var schedule = try Self.decoder.decode(Schedule.self, from: row["record"] as Data)
                    schedule.paused = row["paused"]
                    schedule.lastTick = (row["last_tick"] as Double?).map(Date.init(timeIntervalSinceReferenceDate:))
                    schedule.lastJob = row["last_job"]
                    return schedule
                }
            }
        }
    }

    public func deleteSchedule(id: String) async throws -> Bool {
        try await access {
            try await self.pool.write { db in
                try db.execute(sql: "DELETE FROM schedules WHERE id = ?", arguments: [id])
                return db.changesCount > 0
            }
        }
    }

    public func setPaused(id: String, _ paused: Bool) async throws -> Schedule? {
        try await access {
            try await self.pool.write { db in
                try db.execute(sql: "UPDATE schedules SET paused = ? WHERE id = ?", arguments: [paused, id])
            }
        }
        return try await schedule(id: id)
    }

    public func claimTick(id: String, previous: Date?, tick: Date, job: String?) async throws -> Bool {
        try await access {
            try await self.pool.write { db in
                try db.execute(
                    sql: """
                        UPDATE schedules SET last_tick = ?, last_job = coalesce(?, last_job)
                        WHERE id = ? AND last_tick IS ?
                        """,
                    arguments: [
                        tick.timeIntervalSinceReferenceDate, job, id, previous?.timeIntervalSinceReferenceDate,
                    ])
                return db.changesCount > 0
            }
        }
    }

    // MARK: - Projects, tokens, the audit log

    public func putProject(_ project: Project) async throws -> Bool {
        let record = try Self.encoder.encode(project)
        return try await access {
            try await self.pool.write { db in
                let existed =
                    try Bool.fetchOne(
                        db, sql: "SELECT EXISTS (SELECT 1 FROM projects WHERE name = ?)", arguments: [project.name])
                    ?? false
                try db.execute(
                    sql: """
                        INSERT INTO projects (name, max_running, record) VALUES (?, ?, ?)
                        ON CONFLICT (name) DO UPDATE SET max_running = excluded.max_running, record = excluded.record
                        """,
                    arguments: [project.name, project.maxRunningJobs, record])
                return !existed
            }
        }
    }

    public func project(name: String) async throws -> Project? {
        try await access {
            try await self.pool.read { db in
                try Data.fetchOne(db, sql: "SELECT record FROM projects WHERE name = ?", arguments: [name]).map {
                    try Self.decoder.decode(Project.self, from: $0)
                }
            }
        }
    }

    public func projects() async throws -> [Project] {
        try await access {
            try await self.pool.read { db in
                try Data.fetchAll(db, sql: "SELECT record FROM projects ORDER BY name").map {
                    try Self.decoder.decode(Project.self, from: $0)
                }
            }
        }
    }

    public func createToken(_ token: AccessToken) async throws {
        let record = try Self.encoder.encode(token)
        try await access {
            try await self.pool.write { db in
                try db.execute(
                    sql: "INSERT INTO tokens (id, hash, project, created, record) VALUES (?, ?, ?, ?, ?)",
                    arguments: [token.id, token.hash, token.project, token.createdAt.timeIntervalSince1970, record])
            }
        }
    }

    public func token(hash: String) async throws -> AccessToken? {
        try await access {
            try await self.pool.read { db in
                try Data.fetchOne(db, sql: "SELECT record FROM tokens WHERE hash = ?", arguments: [hash]).map {
                    try Self.decoder.decode(AccessToken.self, from: $0)
                }
            }
        }
    }

    public func tokens(project: String?) async throws -> [AccessToken] {
        try await access {
            try await self.pool.read { db in
                try Data.fetchAll(
                    db,
                    sql: "SELECT record FROM tokens WHERE ? IS NULL OR project = ? ORDER BY created, id",
                    arguments: [project, project]
                ).map { try Self.decoder.decode(AccessToken.self, from: $0) }
            }
        }
    }

    public func revokeToken(id: String, at date: Date) async throws -> AccessToken? {
        try await access {
            try await self.pool.write { db in
                guard let data = try Data.fetchOne(db, sql: "SELECT record FROM tokens WHERE id = ?", arguments: [id])
                else { return nil }
                var token = try Self.decoder.decode(AccessToken.self, from: data)
                if token.revokedAt == nil { token.revokedAt = date }
                try db.execute(
                    sql: "UPDATE tokens SET record = ? WHERE id = ?", arguments: [try Self.encoder.encode(token), id])
                return token
            }
        }
    }

    public func appendAudit(_ entry: AuditEntry) async throws {
        let record = try Self.encoder.encode(entry)
        try await access {
            try await self.pool.write { db in
                try db.execute(
                    sql: "INSERT INTO audit (time, project, record) VALUES (?, ?, ?)",
                    arguments: [entry.time.timeIntervalSince1970, entry.project, record])
            }
        }
    }

    public func audit(project: String?, limit: Int, cursor: String?) async throws -> AuditPage {
        let before = try AuditPage.position(before: cursor)
        let rows = try await access {
            try await self.pool.read { db in
                try Row.fetchAll(
                    db,
                    sql:
                        "SELECT seq, record FROM audit WHERE seq < ? AND (? IS NULL OR project = ?) ORDER BY seq DESC LIMIT ?",
                    arguments: [before, project, project, limit + 1]
                ).map { (seq: $0["seq"] as Int64, record: $0["record"] as Data) }
            }
        }
        let page = rows.prefix(limit)
        return AuditPage(
            entries: try page.map { try Self.decoder.decode(AuditEntry.self, from: $0.record) },
            next: rows.count > page.count ? page.last.map { String($0.seq) } : nil)
    }

    public func pruneAudit(before date: Date) async throws -> Int {
        try await access {
            try await self.pool.write { db in
                try db.execute(sql: "DELETE FROM audit WHERE time < ?", arguments: [date.timeIntervalSince1970])
                return db.changesCount
            }
        }
    }

    public func queuedCount(project: String) async throws -> Int {
        try await access {
            try await self.pool.read { db in
                try Int.fetchOne(
                    db,
                    sql:
                        "SELECT count(*) FROM jobs WHERE phase = 'queued' AND status = 'running' AND node IS NULL AND project = ?",
                    arguments: [project]) ?? 0
            }
        }
    }

    // MARK: - Templates

    public func putTemplate(_ template: JobTemplate) async throws -> JobTemplate {
        let record = try Self.encoder.encode(template)
        let version = try await access {
            try await self.pool.write { db in
                let version =
                    (try Int.fetchOne(
                        db, sql: "SELECT max(version) FROM templates WHERE name = ?", arguments: [template.name]) ?? 0)
                    + 1
                try db.execute(
                    sql: "INSERT INTO templates (name, version, record) VALUES (?, ?, ?)",
                    arguments: [template.name, version, record])
                return version
            }
        }
        var stored = template
        stored.version = version
        return stored
    }

    public func template(name: String, version: Int?) async throws -> JobTemplate? {
        try await access {
            try await self.pool.read { db in
                let row =
                    try version.map {
                        try Row.fetchOne(
                            db, sql: "SELECT version, record FROM templates WHERE name = ? AND version = ?",
                            arguments: [name, $0])
                    }
                    ?? Row.fetchOne(
                        db, sql: "SELECT version, record FROM templates WHERE name = ? ORDER BY version DESC LIMIT 1",
                        arguments: [name])
                return try row.map(Self.template)
            }
        }
    }

    public func templates() async throws -> [JobTemplate] {
        try await access {
            try await self.pool.read { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT version, record FROM templates t
                        WHERE version = (SELECT max(version) FROM templates WHERE name = t.name) ORDER BY name
                        """
                ).map(Self.template)
            }
        }
    }

    public func deleteTemplate(name: String) async throws -> Bool {
        try await access {
            try await self.pool.write { db in
                try db.execute(sql: "DELETE FROM templates WHERE name = ?", arguments: [name])
                return db.changesCount > 0
            }
        }
    }

    /// A template's row: its version, and its record.
    private static func template(_ row: Row) throws -> JobTemplate {
        var template = try decoder.decode(JobTemplate.self, from: row["record"] as Data)
        template.version = row["version"]
        return template
    }

    // MARK: - Webhook deliveries

    public func addDeliveries(_ deliveries: [Delivery]) async throws {
        let rows = try deliveries.map { delivery -> StatementArguments in
            [
                delivery.id, delivery.job, delivery.createdAt.timeIntervalSinceReferenceDate,
                delivery.due?.timeIntervalSinceReferenceDate, try Self.encoder.encode(delivery),
            ]
        }
        try await access {
            try await self.pool.write { db in
                for row in rows {
                    try db.execute(
                        sql: "INSERT INTO deliveries (id, job, created, due, record) VALUES (?, ?, ?, ?, ?)",
                        arguments: row)
                }
            }
        }
    }

    public func deliveries(job: String) async throws -> [Delivery] {
        let records = try await access {
            try await self.pool.read { db in
                try Data.fetchAll(
                    db, sql: "SELECT record FROM deliveries WHERE job = ? ORDER BY created, id", arguments: [job])
            }
        }
        return try records.map { try Self.decoder.decode(Delivery.self, from: $0) }
    }

    public func claimDeliveries(now: Date, limit: Int, lease: Duration) async throws -> [Delivery] {
        let time = now.timeIntervalSinceReferenceDate
        let records = try await access {
            try await self.pool.write { db in
                let rows = try Row.fetchAll(
                    db, sql: "SELECT id, record FROM deliveries WHERE due <= ? ORDER BY due LIMIT ?",
                    arguments: [time, limit])
                for row in rows {
                    try db.execute(
                        sql: "UPDATE deliveries SET due = ? WHERE id = ?",
                        arguments: [time + lease.timeInterval, row["id"] as String])
                }
                return rows.map { $0["record"] as Data }
            }
        }
        return try records.map { try Self.decoder.decode(Delivery.self, from: $0) }
    }

    public func updateDelivery(_ delivery: Delivery) async throws {
        let record = try Self.encoder.encode(delivery)
        try await access {
            try await self.pool.write { db in
                try db.execute(
                    sql: "UPDATE deliveries SET due = ?, record = ? WHERE id = ?",
                    arguments: [delivery.due?.timeIntervalSinceReferenceDate, record, delivery.id])
            }
        }
    }

    /// Deletes since the file was opened.
    private let deletes = Mutex(0)

    /// Frees the pages deletes left empty, and truncates the write-ahead log when no reader holds it.
    func giveSpaceBack() async throws {
        try await access {
            try await self.pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA incremental_vacuum")
                _ = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)")
            }
        }
    }

    private static let recordColumns = "id, job, state, node, version"

    private static func record(_ row: Row) throws -> JobRecord {
        JobRecord(
            id: row["id"],
            job: try decoder.decode(Job.self, from: row["job"] as Data),
            state: try decoder.decode(JobState.self, from: row["state"] as Data),
            node: row["node"], version: row["version"])
    }

    // MARK: - The control plane (one node at a time)

    public func heartbeat(node: String, lease: Duration) async throws -> Bool {
        let ours = try lock.hold()
        let now = Date().timeIntervalSince1970
        let until = now + lease.timeInterval
        return try await access {
            try await self.pool.write { db in
                let others = try Row.fetchAll(
                    db, sql: "SELECT id, lease_until FROM nodes WHERE id != ?", arguments: [node])
                for row in others {
                    let other: String = row["id"]
                    if ours.contains(other) {
                        // Another node of this process: it is alive.
                        if (row["lease_until"] as Double) > now {
                            throw DrayError.oneNodeOnly(store: "SQLite", other: other)
                        }
                    } else {
                        // The store's lock is ours, so the process of that node has ended: its lease
                        // ends now, and the reaper ends its jobs as node-lost.
                        try db.execute(sql: "UPDATE nodes SET lease_until = 0 WHERE id = ?", arguments: [other])
                    }
                }
                try db.execute(
                    sql:
                        "INSERT INTO nodes (id, lease_until) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET lease_until = excluded.lease_until",
                    arguments: [node, until])
                self.lock.joined(node)
                return true
            }
        }
    }

    public func leave(node: String) async throws {
        try await access {
            try await self.pool.write { db in try db.execute(sql: "DELETE FROM nodes WHERE id = ?", arguments: [node]) }
        }
        lock.release(for: node)
    }

    /// In ``ClaimOrder``'s order, in one transaction.
    public func claim(node: String, limit: Int) async throws -> [JobRecord] {
        guard limit > 0 else { return [] }
        return try await access {
            try await self.pool.write { db in
                var records: [JobRecord] = []
                while records.count < limit, let head = try Row.fetchOne(db, sql: ClaimOrder.nextQueueSQL) {
                    let priority: Int = head["priority"]
                    let project: String = head["project"]
                    guard
                        let row = try Row.fetchOne(
                            db,
                            sql: """
                                SELECT \(Self.recordColumns) FROM jobs WHERE phase = 'queued' AND status = 'running'
                                AND node IS NULL AND priority = ? AND project = ? ORDER BY seq LIMIT 1
                                """,
                            arguments: [priority, project])
                    else { break }
                    var record = try Self.record(row)
                    try db.execute(
                        sql: "UPDATE jobs SET node = ?, version = version + 1 WHERE id = ?",
                        arguments: [node, record.id])
                    try db.execute(sql: ClaimOrder.takeTurnSQL, arguments: [project])
                    record.node = node
                    record.version += 1
                    records.append(record)
                }
                return records
            }
        }
    }

    public func queuedCount() async throws -> Int {
        try await access {
            try await self.pool.read { db in
                try Int.fetchOne(
                    db, sql: "SELECT COUNT(*) FROM jobs WHERE phase = 'queued' AND status = 'running' AND node IS NULL")
                    ?? 0
            }
        }
    }

    public func requestStop(id: String, _ request: StopRequest) async throws -> Bool {
        try await access {
            try await self.pool.write { db in
                try db.execute(
                    sql: "UPDATE jobs SET stop_request = ? WHERE id = ? AND status = 'running' AND node IS NOT NULL",
                    arguments: [request.rawValue, id])
                return db.changesCount > 0
            }
        }
    }

    public func stopRequests(node: String) async throws -> [(id: String, request: StopRequest)] {
        try await access {
            try await self.pool.write { db in
                let rows = try Row.fetchAll(
                    db, sql: "SELECT id, stop_request FROM jobs WHERE node = ? AND stop_request IS NOT NULL",
                    arguments: [node])
                try db.execute(
                    sql: "UPDATE jobs SET stop_request = NULL WHERE node = ? AND stop_request IS NOT NULL",
                    arguments: [node])
                return rows.compactMap { row in
                    (row["stop_request"] as String?).flatMap(StopRequest.init).map {
                        (id: row["id"] as String, request: $0)
                    }
                }
            }
        }
    }

    public func reapLostNodes(now: Date) async throws -> [JobRecord] {
        let encoder = Self.encoder
        return try await access {
            try await self.pool.write { db in
                let lost = try String.fetchAll(
                    db, sql: "SELECT id FROM nodes WHERE lease_until < ?", arguments: [now.timeIntervalSince1970])
                var ended: [JobRecord] = []
                for node in lost {
                    let rows = try Row.fetchAll(
                        db, sql: "SELECT \(Self.recordColumns) FROM jobs WHERE node = ? AND status = 'running'",
                        arguments: [node])
                    for row in rows {
                        var record = try Self.record(row)
                        record.state.lose(node: node, job: record.job, at: now)
                        try db.execute(
                            sql:
                                "UPDATE jobs SET state = ?, version = version + 1, node = NULL, stop_request = NULL, (\(Self.stateColumns)) = (\(Self.stateParameters)) WHERE id = ?",
                            arguments: [try encoder.encode(record.state)] + Self.stateArguments(record.state) + [
                                record.id
                            ])
                        ended.append(record)
                    }
                    try db.execute(sql: "DELETE FROM nodes WHERE id = ?", arguments: [node])
                }
                return ended
            }
        }
    }

    public func requeue(id: String, state: JobState) async throws -> Bool {
        try await conditionalUpdate(id: id, state: state, clearingNode: true, where: "status = 'error'")
    }

    public func endQueued(id: String, state: JobState) async throws -> Bool {
        try await conditionalUpdate(
            id: id, state: state, clearingNode: false, where: "phase = 'queued' AND status = 'running' AND node IS NULL"
        )
    }

    public func update(id: String, state: JobState, owner node: String, version: Int) async throws {
        guard
            try await conditionalUpdate(
                id: id, state: state, clearingNode: false, where: "node = ? AND version = ?", [node, version])
        else {
            guard try await job(id: id) != nil else { throw DrayError.noJob(id) }
            throw DrayError.fenced(id, node: node, version: version)
        }
    }

    /// Replaces a job's state when `condition` holds; false when it does not (or there is no such job).
    private func conditionalUpdate(
        id: String, state: JobState, clearingNode: Bool, where condition: String,
        _ values: [any DatabaseValueConvertible & Sendable] = []
    ) async throws -> Bool {
        let encoded = try Self.encoder.encode(state)
        let clear = clearingNode ? ", node = NULL, stop_request = NULL" : ""
        let sql =
            "UPDATE jobs SET state = ?, version = version + 1\(clear), (\(Self.stateColumns)) = (\(Self.stateParameters)) WHERE id = ? AND \(condition)"
        return try await access {
            try await self.pool.write { db in
                try db.execute(
                    sql: sql,
                    arguments: [encoded] + Self.stateArguments(state) + [id] + StatementArguments(values))
                return db.changesCount > 0
            }
        }
    }

    /// Runs a call, giving its failures the store's error type.
    private func access<T>(_ body: () async throws -> T) async throws -> T {
        try await DrayError.storage("the SQLite store", body)
    }
}
