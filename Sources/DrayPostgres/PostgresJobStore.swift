import DrayEngine
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// A ``JobStore`` on PostgreSQL, which many nodes share: each claims queued jobs with
/// `FOR UPDATE SKIP LOCKED`, so a job runs on exactly one node, and `NOTIFY dray` wakes the
/// idle nodes and the live-log readers of every node (it only wakes; they read the tables).
///
/// Run it (``run()`` runs the connection pool) for as long as the store is used, and
/// ``prepare()`` it once before the first use.
public final class PostgresJobStore: JobStore {
    public let client: PostgresClient
    /// Where it connects, without the password, for messages.
    public let description: String
    private let logger: Logger
    /// The nodes that renewed their lease through this store: a missing lease row for one of
    /// them means another node reaped it.
    private let joined = Joined()
    /// Open once ``run()`` runs the pool.
    private let running = RunGate()

    /// Connects (lazily) to `url`: `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE` (also
    /// `postgresql://`), with `?sslmode=disable|prefer|require` (default prefer).
    public init(url: String, logger: Logger = Logger(label: "dray.postgres")) throws {
        let parsed = try PostgresURL(url)
        description = parsed.redacted
        self.logger = logger
        var configuration = PostgresClient.Configuration(
            host: parsed.host, port: parsed.port, username: parsed.user, password: parsed.password,
            database: parsed.database, tls: parsed.tls)
        configuration.options.connectTimeout = .seconds(5)
        configuration.options.maximumConnections = 16
        // A node that stops answering inside a transaction (paused, or cut off) must not hold
        // its rows' locks for good: PostgreSQL ends such a session, and its transaction.
        configuration.options.additionalStartupParameters = [("idle_in_transaction_session_timeout", "30s")]
        client = PostgresClient(configuration: configuration, backgroundLogger: logger)
    }

    /// `url` without its password, for messages.
    public static func redacted(_ url: String) -> String {
        (try? PostgresURL(url).redacted) ?? "postgres://…"
    }

    /// Runs the connection pool until graceful shutdown or cancellation.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            self.running.open()
            await self.client.run()
        }
    }

    /// Creates or migrates the tables. Migrations are versioned and run once, under a lock, so
    /// that nodes starting together do not race.
    public func prepare() async throws {
        try await migrate(upTo: nil)
    }

    /// Applies the migrations not applied yet, up to `last` (all when nil).
    func migrate(upTo last: Int?) async throws {
        try await access {
            try await self.client.withTransaction(logger: self.logger) { connection in
                try await connection.query("SELECT pg_advisory_xact_lock(7375001)", logger: self.logger)
                try await connection.query(
                    "CREATE TABLE IF NOT EXISTS dray_migrations (version INT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
                    logger: self.logger)
                var applied = Set<Int>()
                for try await version in try await connection.query(
                    "SELECT version FROM dray_migrations", logger: self.logger
                ).decode(Int.self) {
                    applied.insert(version)
                }
                for (version, name, statements) in Self.migrations
                where !applied.contains(version) && version <= last ?? .max {
                    for statement in statements {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: self.logger)
                    }
                    try await connection.query(
                        "INSERT INTO dray_migrations (version, name) VALUES (\(version), \(name))", logger: self.logger)
                }
            }
        }
    }

    /// The schema, one migration per version. Never edit a registered migration; add one.
    static let migrations: [(Int, String, [String])] = [
        (
            1, "jobs, log lines and nodes",
            [
                """
                CREATE TABLE jobs (
                    seq BIGSERIAL PRIMARY KEY,
                    id TEXT NOT NULL UNIQUE,
                    job BYTEA NOT NULL,
                    state BYTEA NOT NULL,
                    name TEXT,
                    total_steps INT NOT NULL,
                    status TEXT NOT NULL,
                    phase TEXT NOT NULL,
                    steps_completed INT NOT NULL,
                    current_step INT,
                    reason TEXT,
                    created_at DOUBLE PRECISION NOT NULL,
                    started_at DOUBLE PRECISION,
                    finished_at DOUBLE PRECISION,
                    node TEXT,
                    stop_request TEXT,
                    log_count BIGINT NOT NULL DEFAULT 0,
                    last_batch TEXT
                )
                """,
                "CREATE INDEX jobs_by_status ON jobs (status, seq)",
                "CREATE INDEX jobs_by_phase ON jobs (phase, seq)",
                "CREATE INDEX jobs_running_by_node ON jobs (node) WHERE status = 'running'",
                """
                CREATE TABLE log_lines (
                    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
                    seq BIGINT NOT NULL,
                    step INT NOT NULL,
                    stream SMALLINT NOT NULL,
                    text BYTEA NOT NULL,
                    PRIMARY KEY (job_id, seq)
                )
                """,
                "CREATE TABLE nodes (id TEXT PRIMARY KEY, lease_until DOUBLE PRECISION NOT NULL)",
            ]
        ),
        (
            2, "a version for each job's state, so that a stale write is refused",
            ["ALTER TABLE jobs ADD COLUMN version BIGINT NOT NULL DEFAULT 0"]
        ),
        (
            3, "log lines in chunks",
            [
                """
                CREATE TABLE log_chunks (
                    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
                    first BIGINT NOT NULL,
                    count INT NOT NULL,
                    steps INT[] NOT NULL,
                    streams SMALLINT[] NOT NULL,
                    texts BYTEA[] NOT NULL,
                    PRIMARY KEY (job_id, first)
                )
                """,
                """
                INSERT INTO log_chunks (job_id, first, count, steps, streams, texts)
                SELECT job_id, min(seq), count(*), array_agg(step ORDER BY seq), array_agg(stream ORDER BY seq),
                    array_agg(text ORDER BY seq)
                FROM log_lines GROUP BY job_id, seq / 1000
                """,
                "DROP TABLE log_lines",
            ]
        ),
        (
            4, "ended jobs by time, for clean-up",
            ["CREATE INDEX jobs_by_finished ON jobs (finished_at) WHERE status <> 'running'"]
        ),
        (
            5, "the URL each node advertises, for the outputs in its spool",
            ["CREATE TABLE node_urls (id TEXT PRIMARY KEY, url TEXT NOT NULL)"]
        ),
        (
            6, "idempotency keys: the job each submit's key made, for 24 hours",
            [
                "CREATE TABLE idempotency_keys (key TEXT PRIMARY KEY, digest TEXT NOT NULL, job TEXT NOT NULL, expires TIMESTAMPTZ NOT NULL)",
                "CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires)",
            ]
        ),
        (
            7, "webhook deliveries, due or kept",
            [
                "CREATE TABLE deliveries (id TEXT PRIMARY KEY, job TEXT NOT NULL, created DOUBLE PRECISION NOT NULL, due DOUBLE PRECISION, record BYTEA NOT NULL)",
                "CREATE INDEX deliveries_by_job ON deliveries (job, created)",
                "CREATE INDEX deliveries_due ON deliveries (due) WHERE due IS NOT NULL",
            ]
        ),
        (
            8, "job templates, every version",
            [
                "CREATE TABLE templates (name TEXT NOT NULL, version INT NOT NULL, record BYTEA NOT NULL, PRIMARY KEY (name, version))"
            ]
        ),
        (
            9, "schedules, and the tick each last claimed",
            [
                "CREATE TABLE schedules (id TEXT PRIMARY KEY, created DOUBLE PRECISION NOT NULL, paused BOOLEAN NOT NULL DEFAULT false, last_tick DOUBLE PRECISION, last_job TEXT, record BYTEA NOT NULL)"
            ]
        ),
        (
            10, "projects, tokens, the audit log; each job's project and priority",
            [
                "ALTER TABLE jobs ADD COLUMN project TEXT NOT NULL DEFAULT 'default'",
                "ALTER TABLE jobs ADD COLUMN priority INT NOT NULL DEFAULT 1",
                "CREATE INDEX jobs_queue ON jobs (priority, project, seq) WHERE phase = 'queued' AND status = 'running' AND node IS NULL",
                "CREATE INDEX jobs_claimed ON jobs (project) WHERE status = 'running' AND node IS NOT NULL",
                "CREATE INDEX jobs_by_project ON jobs (project, seq)",
                "CREATE TABLE projects (name TEXT PRIMARY KEY, max_running INT, record BYTEA NOT NULL)",
                "CREATE TABLE project_turns (project TEXT PRIMARY KEY, turn BIGINT NOT NULL)",
                "CREATE TABLE tokens (id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, project TEXT NOT NULL, created DOUBLE PRECISION NOT NULL, record BYTEA NOT NULL)",
                "CREATE TABLE audit (seq BIGSERIAL PRIMARY KEY, time DOUBLE PRECISION NOT NULL, project TEXT, record BYTEA NOT NULL)",
                "CREATE INDEX audit_by_project ON audit (project, seq)",
                "CREATE INDEX audit_by_time ON audit (time)",
            ]
        ),
    ]

    private static let encoder = JSONEncoder.keepingSecrets()
    private static let decoder = JSONDecoder()
    /// The channel of the change feed: payload `queue`, or `job:ID`.
    static let channel = "dray"

    public func ping() async throws {
        try await access { try await self.client.query("SELECT 1", logger: self.logger) }
    }

    // MARK: - Projects, tokens, the audit log

    public func putProject(_ project: Project) async throws -> Bool {
        let record = try Self.encoder.encode(project)
        let name = project.name
        let max = project.maxRunningJobs
        return try await access {
            // xmax is 0 in a row that was inserted, not updated.
            for try await inserted in try await self.client.query(
                """
                INSERT INTO projects (name, max_running, record) VALUES (\(name), \(max), \(record))
                ON CONFLICT (name) DO UPDATE SET max_running = EXCLUDED.max_running, record = EXCLUDED.record
                RETURNING (xmax = 0)
                """, logger: self.logger
            ).decode(Bool.self) {
                return inserted
            }
            return false
        }
    }

    public func project(name: String) async throws -> Project? {
        try await records("SELECT record FROM projects WHERE name = \(name)", as: Project.self).first
    }

    public func projects() async throws -> [Project] {
        try await records("SELECT record FROM projects ORDER BY name", as: Project.self)
    }

    public func createToken(_ token: AccessToken) async throws {
        let record = try Self.encoder.encode(token)
        let (id, hash, project, created) = (token.id, token.hash, token.project, token.createdAt.timeIntervalSince1970)
        try await access {
            try await self.client.query(
                "INSERT INTO tokens (id, hash, project, created, record) VALUES (\(id), \(hash), \(project), \(created), \(record))",
                logger: self.logger)
        }
    }

    public func token(hash: String) async throws -> AccessToken? {
        try await records("SELECT record FROM tokens WHERE hash = \(hash)", as: AccessToken.self).first
    }

    public func tokens(project: String?) async throws -> [AccessToken] {
        try await records(
            "SELECT record FROM tokens WHERE \(project)::text IS NULL OR project = \(project) ORDER BY created, id",
            as: AccessToken.self)
    }

    public func revokeToken(id: String, at date: Date) async throws -> AccessToken? {
        try await access {
            try await self.client.withTransaction(logger: self.logger) { connection in
                var found: Data?
                for try await record in try await connection.query(
                    "SELECT record FROM tokens WHERE id = \(id) FOR UPDATE", logger: self.logger
                ).decode(Data.self) {
                    found = record
                }
                guard let found else { return nil }
                var token = try Self.decoder.decode(AccessToken.self, from: found)
                if token.revokedAt == nil { token.revokedAt = date }
                let record = try Self.encoder.encode(token)
                try await connection.query("UPDATE tokens SET record = \(record) WHERE id = \(id)", logger: self.logger)
                return token
            }
        }
    }

    public func appendAudit(_ entry: AuditEntry) async throws {
        let record = try Self.encoder.encode(entry)
        let (time, project) = (entry.time.timeIntervalSince1970, entry.project)
        try await access {
            try await self.client.query(
                "INSERT INTO audit (time, project, record) VALUES (\(time), \(project), \(record))", logger: self.logger
            )
        }
    }

    public func audit(project: String?, limit: Int, cursor: String?) async throws -> AuditPage {
        let before = try AuditPage.position(before: cursor)
        let wanted = limit + 1
        let rows = try await access {
            var rows: [(Int64, Data)] = []
            for try await row in try await self.client.query(
                """
                SELECT seq, record FROM audit WHERE seq < \(before) AND (\(project)::text IS NULL OR project = \(project))
                ORDER BY seq DESC LIMIT \(wanted)
                """, logger: self.logger
            ).decode((Int64, Data).self) {
                rows.append(row)
            }
            return rows
        }
        let page = rows.prefix(limit)
        return AuditPage(
            entries: try page.map { try Self.decoder.decode(AuditEntry.self, from: $0.1) },
            next: rows.count > page.count ? page.last.map { String($0.0) } : nil)
    }

    public func pruneAudit(before date: Date) async throws -> Int {
        let time = date.timeIntervalSince1970
        return try await number(
            "WITH gone AS (DELETE FROM audit WHERE time < \(time) RETURNING 1) SELECT count(*) FROM gone")
    }

    /// The records `query` answers (one `BYTEA` column of JSON), decoded.
    private func records<Record: Decodable & Sendable>(_ query: PostgresQuery, as type: Record.Type) async throws
        -> [Record]
    {
        try await access {
            var records: [Record] = []
            for try await record in try await self.client.query(query, logger: self.logger).decode(Data.self) {
                records.append(try Self.decoder.decode(Record.self, from: record))
            }
            return records
        }
    }

    // MARK: - Jobs

    public func create(_ record: JobRecord) async throws {
        let insert = try Self.insert(record)
        try await access { try await self.client.query(insert, logger: self.logger) }
    }

    public func create(_ record: JobRecord, idempotency: IdempotencyKey) async throws -> IdempotentCreate {
        let insert = try Self.insert(record)
        let key = idempotency.key
        let digest = idempotency.digest
        let id = record.id
        let seconds = idempotency.lifetime.timeInterval
        return try await access {
            try await self.client.withTransaction(logger: self.logger) { connection in
                // The key is claimed (or taken over from an expired one) with the job, or not at
                // all; a creator with the same key at once waits here for the other's commit.
                let claimed = try await connection.query(
                    """
                    INSERT INTO idempotency_keys (key, digest, job, expires)
                    VALUES (\(key), \(digest), \(id), now() + make_interval(secs => \(seconds)))
                    ON CONFLICT (key) DO UPDATE SET digest = EXCLUDED.digest, job = EXCLUDED.job, expires = EXCLUDED.expires
                        WHERE idempotency_keys.expires < now()
                    RETURNING job
                    """, logger: self.logger
                ).collect()
                guard claimed.isEmpty else {
                    try await connection.query(insert, logger: self.logger)
                    try await connection.query(
                        "DELETE FROM idempotency_keys WHERE expires < now()", logger: self.logger)
                    return .created
                }
                for try await (job, digest) in try await connection.query(
                    "SELECT job, digest FROM idempotency_keys WHERE key = \(key)", logger: self.logger
                ).decode((String, String).self) {
                    return .existing(id: job, digest: digest)
                }
                throw DrayError(.storage, "the idempotency key \(key) was neither free nor held")
            }
        }
    }

    /// Adds a new job's row, and wakes the nodes that wait for the queue.
    private static func insert(_ record: JobRecord) throws -> PostgresQuery {
        let job = try encoder.encode(record.job)
        let state = try encoder.encode(record.state)
        let s = Columns(record.state)
        let name = record.job.name
        let steps = record.job.steps.count
        let id = record.id
        let project = record.job.projectName
        let priority = (record.job.priority ?? .normal).rank
        return try """
        WITH created AS (
            INSERT INTO jobs (id, job, state, name, total_steps, status, phase, steps_completed, current_step,
                reason, created_at, started_at, finished_at, project, priority)
            VALUES (\(id), \(job), \(state), \(name), \(steps), \(s.status), \(s.phase), \(s.stepsCompleted),
                \(s.currentStep), \(s.reason), \(s.createdAt), \(s.startedAt), \(s.finishedAt), \(project), \(priority))
            RETURNING status)
        SELECT pg_notify(\(channel), 'queue') FROM created WHERE status = 'running'
        """
    }

    /// A job's rows as records; they are `id, job, state, node, version`.
    private static func records(_ rows: PostgresRowSequence) async throws -> [JobRecord] {
        var records: [JobRecord] = []
        for try await (id, job, state, node, version) in rows.decode((String, Data, Data, String?, Int64).self) {
            records.append(
                JobRecord(
                    id: id, job: try decoder.decode(Job.self, from: job),
                    state: try decoder.decode(JobState.self, from: state), node: node, version: Int(version)))
        }
        return records
    }

    public func job(id: String) async throws -> JobRecord? {
        try await access {
            try await Self.records(
                try await self.client.query(
                    "SELECT id, job, state, node, version FROM jobs WHERE id = \(id)", logger: self.logger)
            ).first
        }
    }

    public func jobs() async throws -> [JobRecord] {
        try await access {
            try await Self.records(
                try await self.client.query(
                    "SELECT id, job, state, node, version FROM jobs ORDER BY seq", logger: self.logger))
        }
    }

    public func list(_ listing: JobListing) async throws -> JobPage {
        var query = PostgresQuery(unsafeSQL: "SELECT \(Self.summaryColumns) FROM jobs WHERE TRUE")
        var bindings = PostgresBindings()
        var sql = query.sql
        if let cursor = listing.cursor {
            guard let seq = Int64(cursor), seq >= 0 else { throw JobListing.badCursor(cursor) }
            bindings.append(seq)
            sql += listing.newestFirst ? " AND seq < $\(bindings.count)" : " AND seq > $\(bindings.count)"
        }
        if let project = listing.project {
            bindings.append(project)
            sql += " AND project = $\(bindings.count)"
        }
        // One value is `=`, which walks the (status, seq) index in order; PostgreSQL reads
        // `= ANY` of an array through a bitmap and sorts every match.
        for (column, values) in [
            ("status", listing.statuses.map(\.rawValue)), ("phase", listing.phases.map(\.rawValue)),
        ]
        where !values.isEmpty {
            if values.count == 1 {
                bindings.append(values[0])
                sql += " AND \(column) = $\(bindings.count)"
            } else {
                bindings.append(values.sorted())
                sql += " AND \(column) = ANY($\(bindings.count))"
            }
        }
        sql += " ORDER BY seq \(listing.newestFirst ? "DESC" : "ASC")"
        if let limit = listing.limit {
            bindings.append(limit + 1)
            sql += " LIMIT $\(bindings.count)"
        }
        query = PostgresQuery(unsafeSQL: sql, binds: bindings)
        let request = query
        let rows = try await access {
            var rows: [(Int64, JobSummary)] = []
            let sequence = try await self.client.query(request, logger: self.logger)
            for try await row in sequence { rows.append(try Self.summary(row)) }
            return rows
        }
        let page = rows.prefix(listing.limit ?? rows.count)
        return JobPage(
            jobs: page.map(\.1), next: rows.count > page.count ? page.last.map { String($0.0) } : nil)
    }

    /// The columns ``summary(_:)`` reads, in its order.
    private static let summaryColumns =
        "seq, id, name, total_steps, status, phase, steps_completed, current_step, reason, created_at, started_at, finished_at, project"

    private static func summary(_ row: PostgresRow) throws -> (Int64, JobSummary) {
        let (seq, id, name, total, status, phase, completed, current) = try row.decode(
            (Int64, String, String?, Int, String, String, Int, Int?).self)
        let randomAccess = row.makeRandomAccess()
        let reason = try randomAccess[8].decode(String?.self)
        let created = try randomAccess[9].decode(Double.self)
        let started = try randomAccess[10].decode(Double?.self)
        let finished = try randomAccess[11].decode(Double?.self)
        let project = try randomAccess[12].decode(String.self)
        var summary = JobSummary(
            id: id, name: name, status: JobStatus(rawValue: status) ?? .error,
            phase: JobPhase(rawValue: phase) ?? .failed, stepsCompleted: completed, totalSteps: total,
            currentStep: current.map { $0 + 1 }, reason: reason.flatMap(FailureReason.init),
            createdAt: Date(timeIntervalSinceReferenceDate: created),
            startedAt: started.map(Date.init(timeIntervalSinceReferenceDate:)),
            finishedAt: finished.map(Date.init(timeIntervalSinceReferenceDate:)))
        summary.project = project
        return (seq, summary)
    }

    public func runningJobs(node: String) async throws -> [JobRecord] {
        try await access {
            try await Self.records(
                try await self.client.query(
                    """
                    SELECT id, job, state, node, version FROM jobs WHERE node = \(node) AND status = 'running'
                    UNION ALL
                    SELECT id, job, state, node, version FROM jobs
                    WHERE node IS NULL AND status = 'running' AND phase <> 'queued'
                    """, logger: self.logger))
        }
    }

    public func finishedJobs(before date: Date, limit: Int) async throws -> [JobSummary] {
        let cutoff = date.timeIntervalSinceReferenceDate
        let query = PostgresQuery(
            unsafeSQL: """
                SELECT \(Self.summaryColumns) FROM jobs
                WHERE status <> 'running' AND finished_at < $1 ORDER BY finished_at LIMIT $2
                """,
            binds: {
                var bindings = PostgresBindings()
                bindings.append(cutoff)
                bindings.append(limit)
                return bindings
            }())
        return try await access {
            var summaries: [JobSummary] = []
            for try await row in try await self.client.query(query, logger: self.logger) {
                summaries.append(try Self.summary(row).1)
            }
            return summaries
        }
    }

    public func update(id: String, job: Job) async throws {
        let encoded = try Self.encoder.encode(job)
        let updated = try await access {
            try await self.count(
                "UPDATE jobs SET job = \(encoded) WHERE id = \(id) RETURNING id")
        }
        guard updated > 0 else { throw DrayError.noJob(id) }
    }

    public func update(id: String, state: JobState) async throws {
        guard try await setState(id: id, state: state, where: "TRUE") else { throw DrayError.noJob(id) }
    }

    public func update(id: String, state: JobState, owner node: String, version: Int) async throws {
        guard
            try await setState(
                id: id, state: state, where: "node = $\(Columns.count + 3) AND version = $\(Columns.count + 4)",
                [node, Int64(version)])
        else {
            guard try await job(id: id) != nil else { throw DrayError.noJob(id) }
            throw DrayError.fenced(id, node: node, version: version)
        }
    }

    /// Replaces a job's state where `condition` holds (its parameters after the columns' and
    /// the id's); then wakes those who watch the job. False when it does not hold.
    private func setState(
        id: String, state: JobState, where condition: String, _ extra: [any PostgresNonThrowingEncodable] = [],
        then action: String = ""
    ) async throws -> Bool {
        let encoded = try Self.encoder.encode(state)
        var bindings = PostgresBindings()
        Columns(state).bind(to: &bindings)
        try bindings.append(encoded)
        bindings.append(id)
        for value in extra { bindings.append(value) }
        let sql = """
            WITH changed AS (
                UPDATE jobs SET \(Columns.assignments), state = $\(Columns.count + 1), version = version + 1\(action)
                WHERE id = $\(Columns.count + 2) AND \(condition) RETURNING id, status)
            SELECT pg_notify('\(Self.channel)', 'job:' || id) FROM changed
            """
        let query = PostgresQuery(unsafeSQL: sql, binds: bindings)
        return try await access { try await self.count(query) } > 0
    }

    /// Appends the lines as rows of up to ``LogChunk/lineLimit`` lines, each three arrays
    /// (steps, streams, the lines' bytes), in one statement: the job's row is locked only while
    /// PostgreSQL runs it, never across round trips, so a node that stops answering mid-append
    /// (paused, or cut off) holds no lock that would keep other nodes from ending its jobs.
    public func appendLog(id: String, lines: [LogLine], batch: UUID?) async throws {
        guard !lines.isEmpty else { return }
        var bindings = PostgresBindings()
        bindings.append(id)
        bindings.append(Int64(lines.count))
        bindings.append(batch?.uuidString)
        var rows: [String] = []
        for chunk in LogChunk.split(lines) {
            let slice = lines[chunk.first..<chunk.first + chunk.count]
            let first = bindings.count + 1
            bindings.append(Int64(chunk.first))
            bindings.append(Int32(chunk.count))
            bindings.append(LogColumn(kind: .steps, lines: slice))
            bindings.append(LogColumn(kind: .streams, lines: slice))
            bindings.append(LogColumn(kind: .texts, lines: slice))
            rows.append(
                "($\(first)::bigint, $\(first + 1)::int, $\(first + 2)::int[], $\(first + 3)::smallint[], $\(first + 4)::bytea[])"
            )
        }
        // A batch already appended (its answer was lost, and it is sent again) changes nothing.
        let query = PostgresQuery(
            unsafeSQL: """
                WITH job AS (
                    UPDATE jobs SET log_count = log_count + $2, last_batch = $3
                    WHERE id = $1 AND ($3::text IS NULL OR last_batch IS DISTINCT FROM $3)
                    RETURNING log_count - $2 AS base),
                added AS (
                    INSERT INTO log_chunks (job_id, first, count, steps, streams, texts)
                    SELECT $1, job.base + chunk.first, chunk.count, chunk.steps, chunk.streams, chunk.texts
                    FROM job, (VALUES \(rows.joined(separator: ", "))) AS chunk (first, count, steps, streams, texts)),
                told AS (SELECT pg_notify('\(Self.channel)', 'log:' || $1) FROM job)
                SELECT (SELECT count(*) FROM told), EXISTS (SELECT 1 FROM jobs WHERE id = $1)
                """, binds: bindings)
        try await access {
            for try await (_, exists) in try await self.client.query(query, logger: self.logger).decode(
                (Int64, Bool).self)
            where !exists {
                throw DrayError.noJob(id)
            }
        }
    }

    /// The chunks from the one that holds line `index` (one index seek) to the page's end.
    public func log(id: String, from index: Int, limit: Int?) async throws -> [LogLine] {
        let start = Int64(max(0, index))
        let wanted = limit ?? Int(Int32.max)
        let end = start + Int64(wanted)
        return try await access {
            try await self.client.withConnection { connection in
                var exists = false
                for try await _ in try await connection.query(
                    "SELECT 1 FROM jobs WHERE id = \(id)", logger: self.logger)
                {
                    exists = true
                }
                guard exists else { throw DrayError.noJob(id) }
                guard wanted > 0 else { return [] }
                var lines: [LogLine] = []
                let rows = try await connection.query(
                    """
                    SELECT first, steps, streams, texts FROM log_chunks WHERE job_id = \(id) AND first < \(end)
                    AND first >= (SELECT coalesce(max(first), 0) FROM log_chunks WHERE job_id = \(id) AND first <= \(start))
                    ORDER BY first
                    """, logger: self.logger)
                for try await (first, steps, streams, texts) in rows.decode(
                    (Int64, [Int32], [Int16], [ByteBuffer]).self)
                {
                    let skip = max(0, Int(start - first))
                    let count = min(steps.count, streams.count, texts.count)
                    guard skip < count else { continue }
                    for offset in skip..<count where lines.count < wanted {
                        lines.append(
                            LogLine(
                                step: Int(steps[offset]), stream: streams[offset] == 2 ? .stderr : .stdout,
                                bytes: Array(texts[offset].readableBytesView)))
                    }
                }
                return lines
            }
        }
    }

    public func delete(id: String) async throws -> Bool {
        try await access {
            try await self.count(
                "WITH told AS (DELETE FROM deliveries WHERE job = \(id)) DELETE FROM jobs WHERE id = \(id) RETURNING id"
            ) > 0
        }
    }

    // MARK: - Schedules

    public func createSchedule(_ schedule: Schedule) async throws {
        let record = try Self.encoder.encode(schedule)
        let id = schedule.id
        let created = schedule.createdAt.timeIntervalSinceReferenceDate
        let paused = schedule.paused
        let lastTick = schedule.lastTick?.timeIntervalSinceReferenceDate
        let lastJob = schedule.lastJob
        try await access {
            try await self.client.query(
                """
                INSERT INTO schedules (id, created, paused, last_tick, last_job, record)
                VALUES (\(id), \(created), \(paused), \(lastTick), \(lastJob), \(record))
                """, logger: self.logger)
        }
    }

    public func schedule(id: String) async throws -> Schedule? {
        try await schedules("SELECT paused, last_tick, last_job, record FROM schedules WHERE id = \(id)").first
    }

    public func schedules() async throws -> [Schedule] {
        try await schedules("SELECT paused, last_tick, last_job, record FROM schedules ORDER BY created, id")
    }

    private func schedules(_ query: PostgresQuery) async throws -> [Schedule] {
        try await access {
            var schedules: [Schedule] = []
            for try await (paused, lastTick, lastJob, record) in try await self.client.query(query, logger: self.logger)
                .decode((Bool, Double?, String?, Data).self)
            {
                var schedule = try Self.decoder.decode(Schedule.self, from: record)
                schedule.paused = paused
                schedule.lastTick = lastTick.map(Date.init(timeIntervalSinceReferenceDate:))
                schedule.lastJob = lastJob
                schedules.append(schedule)
            }
            return schedules
        }
    }

    public func deleteSchedule(id: String) async throws -> Bool {
        try await access { try await self.count("DELETE FROM schedules WHERE id = \(id) RETURNING id") > 0 }
    }

    public func setPaused(id: String, _ paused: Bool) async throws -> Schedule? {
        try await access {
            try await self.client.query("UPDATE schedules SET paused = \(paused) WHERE id = \(id)", logger: self.logger)
        }
        return try await schedule(id: id)
    }

    public func claimTick(id: String, previous: Date?, tick: Date, job: String?) async throws -> Bool {
        let previous = previous?.timeIntervalSinceReferenceDate
        let tick = tick.timeIntervalSinceReferenceDate
        return try await access {
            try await self.count(
                """
                UPDATE schedules SET last_tick = \(tick), last_job = coalesce(\(job), last_job)
                WHERE id = \(id) AND last_tick IS NOT DISTINCT FROM \(previous) RETURNING id
                """) > 0
        }
    }

    // MARK: - Templates

    public func putTemplate(_ template: JobTemplate) async throws -> JobTemplate {
        let record = try Self.encoder.encode(template)
        let name = template.name
        // Two nodes storing the same name at once both read the same last version: the one that
        // inserts second is refused by the key, and tries again.
        var attempt = 0
        while true {
            attempt += 1
            do {
                let version = try await access {
                    try await self.client.query(
                        """
                        INSERT INTO templates (name, version, record)
                        SELECT \(name), coalesce(max(version), 0) + 1, \(record) FROM templates WHERE name = \(name)
                        RETURNING version
                        """, logger: self.logger
                    ).collect().first?.decode(Int.self)
                }
                var stored = template
                stored.version = version ?? 1
                return stored
            } catch  where attempt < 5 {
                continue
            }
        }
    }

    public func template(name: String, version: Int?) async throws -> JobTemplate? {
        let query: PostgresQuery =
            version.map {
                "SELECT version, record FROM templates WHERE name = \(name) AND version = \($0)"
            } ?? "SELECT version, record FROM templates WHERE name = \(name) ORDER BY version DESC LIMIT 1"
        return try await templates(query).first
    }

    public func templates() async throws -> [JobTemplate] {
        try await templates(
            "SELECT DISTINCT ON (name) version, record FROM templates ORDER BY name, version DESC")
    }

    private func templates(_ query: PostgresQuery) async throws -> [JobTemplate] {
        try await access {
            var templates: [JobTemplate] = []
            for try await (version, record) in try await self.client.query(query, logger: self.logger).decode(
                (Int, Data).self)
            {
                var template = try Self.decoder.decode(JobTemplate.self, from: record)
                template.version = version
                templates.append(template)
            }
            return templates
        }
    }

    public func deleteTemplate(name: String) async throws -> Bool {
        try await access {
            try await self.count("DELETE FROM templates WHERE name = \(name) RETURNING name") > 0
        }
    }

    // MARK: - Webhook deliveries

    public func addDeliveries(_ deliveries: [Delivery]) async throws {
        for delivery in deliveries {
            let record = try Self.encoder.encode(delivery)
            let (id, job) = (delivery.id, delivery.job)
            let created = delivery.createdAt.timeIntervalSinceReferenceDate
            let due = delivery.due?.timeIntervalSinceReferenceDate
            try await access {
                try await self.client.query(
                    "INSERT INTO deliveries (id, job, created, due, record) VALUES (\(id), \(job), \(created), \(due), \(record))",
                    logger: self.logger)
            }
        }
    }

    public func deliveries(job: String) async throws -> [Delivery] {
        try await access {
            var deliveries: [Delivery] = []
            for try await record in try await self.client.query(
                "SELECT record FROM deliveries WHERE job = \(job) ORDER BY created, id", logger: self.logger
            ).decode(Data.self) {
                deliveries.append(try Self.decoder.decode(Delivery.self, from: record))
            }
            return deliveries
        }
    }

    public func claimDeliveries(now: Date, limit: Int, lease: Duration) async throws -> [Delivery] {
        let time = now.timeIntervalSinceReferenceDate
        let until = time + lease.timeInterval
        return try await access {
            var deliveries: [Delivery] = []
            // SKIP LOCKED: nodes claiming at once each get others.
            for try await record in try await self.client.query(
                """
                UPDATE deliveries SET due = \(until) WHERE id IN (
                    SELECT id FROM deliveries WHERE due <= \(time) ORDER BY due LIMIT \(limit) FOR UPDATE SKIP LOCKED)
                RETURNING record
                """, logger: self.logger
            ).decode(Data.self) {
                deliveries.append(try Self.decoder.decode(Delivery.self, from: record))
            }
            return deliveries
        }
    }

    public func updateDelivery(_ delivery: Delivery) async throws {
        let record = try Self.encoder.encode(delivery)
        let due = delivery.due?.timeIntervalSinceReferenceDate
        let id = delivery.id
        try await access {
            try await self.client.query(
                "UPDATE deliveries SET due = \(due), record = \(record) WHERE id = \(id)", logger: self.logger)
        }
    }

    // MARK: - The control plane (many nodes)

    public func heartbeat(node: String, lease: Duration) async throws -> Bool {
        // The lease is reckoned on PostgreSQL's clock, never the nodes' own, which may differ.
        let seconds = lease.timeInterval
        let renewed = try await access {
            try await self.count(
                "UPDATE nodes SET lease_until = extract(epoch FROM clock_timestamp()) + \(seconds) WHERE id = \(node) RETURNING id"
            )
        }
        if renewed > 0 { return true }
        try await access {
            try await self.client.query(
                """
                INSERT INTO nodes (id, lease_until) VALUES (\(node), extract(epoch FROM clock_timestamp()) + \(seconds))
                ON CONFLICT (id) DO UPDATE SET lease_until = excluded.lease_until
                """, logger: self.logger)
        }
        // A node that had a lease here and finds none was reaped.
        return joined.insert(node)
    }

    public func advertise(node: String, url: String) async throws {
        try await access {
            try await self.client.query(
                "INSERT INTO node_urls (id, url) VALUES (\(node), \(url)) ON CONFLICT (id) DO UPDATE SET url = excluded.url",
                logger: self.logger)
        }
    }

    public func advertisedURL(node: String) async throws -> String? {
        try await access {
            for try await url in try await self.client.query(
                "SELECT url FROM node_urls WHERE id = \(node)", logger: self.logger
            ).decode(String.self) {
                return url
            }
            return nil
        }
    }

    public func leave(node: String) async throws {
        try await access { try await self.client.query("DELETE FROM nodes WHERE id = \(node)", logger: self.logger) }
        joined.remove(node)
    }

    /// Claims one job for node $1 as ``ClaimOrder`` orders them, and gives its project the next
    /// turn, in one statement: the job's record, or no row. The queue's head is given to the job's
    /// lookup as two values, so that it is one seek in `jobs_queue` (a join would scan the queue).
    static let claimOneSQL = """
        WITH head AS (\(ClaimOrder.nextQueueSkippingSQL)),
        claimed AS (
            UPDATE jobs SET node = $1, version = version + 1 WHERE seq = (
                SELECT seq FROM jobs WHERE phase = 'queued' AND status = 'running' AND node IS NULL
                AND priority = (SELECT priority FROM head) AND project = (SELECT project FROM head)
                ORDER BY seq LIMIT 1 FOR UPDATE)
            RETURNING id, job, state, node, version, project),
        turn AS (\(ClaimOrder.takeTurnSQL(from: "claimed")))
        SELECT id, job, state, node, version FROM claimed
        """

    /// In ``ClaimOrder``'s order, in one transaction; the claims of every node take turns
    /// through an advisory lock, so that two never give one project's turn twice.
    public func claim(node: String, limit: Int) async throws -> [JobRecord] {
        guard limit > 0 else { return [] }
        return try await access {
            try await self.client.withTransaction(logger: self.logger) { connection in
                try await connection.query("SELECT pg_advisory_xact_lock(7375002)", logger: self.logger)
                var records: [JobRecord] = []
                var bindings = PostgresBindings()
                bindings.append(node)
                let claimOne = PostgresQuery(unsafeSQL: Self.claimOneSQL, binds: bindings)
                while records.count < limit {
                    let claimed = try await Self.records(try await connection.query(claimOne, logger: self.logger))
                    guard !claimed.isEmpty else { break }
                    records += claimed
                }
                return records
            }
        }
    }

    public func queuedCount(project: String) async throws -> Int {
        try await number(
            "SELECT COUNT(*) FROM jobs WHERE phase = 'queued' AND status = 'running' AND node IS NULL AND project = \(project)"
        )
    }

    /// The one number `query` answers.
    private func number(_ query: PostgresQuery) async throws -> Int {
        try await access {
            var count = 0
            for try await value in try await self.client.query(query, logger: self.logger).decode(Int.self) {
                count = value
            }
            return count
        }
    }

    public func queuedCount() async throws -> Int {
        try await number("SELECT COUNT(*) FROM jobs WHERE phase = 'queued' AND status = 'running' AND node IS NULL")
    }

    public func requestStop(id: String, _ request: StopRequest) async throws -> Bool {
        let text = request.rawValue
        return try await access {
            try await self.count(
                """
                WITH asked AS (
                    UPDATE jobs SET stop_request = \(text) WHERE id = \(id) AND status = 'running' AND node IS NOT NULL
                    RETURNING node)
                SELECT pg_notify(\(Self.channel), 'stop:' || node) FROM asked
                """)
        } > 0
    }

    public func stopRequests(node: String) async throws -> [(id: String, request: StopRequest)] {
        try await access {
            var requests: [(id: String, request: StopRequest)] = []
            let rows = try await self.client.query(
                """
                UPDATE jobs SET stop_request = NULL
                FROM (SELECT id, stop_request FROM jobs WHERE node = \(node) AND stop_request IS NOT NULL FOR UPDATE) asked
                WHERE jobs.id = asked.id
                RETURNING jobs.id, asked.stop_request
                """, logger: self.logger)
            for try await (id, request) in rows.decode((String, String?).self) {
                if let request = request.flatMap(StopRequest.init) { requests.append((id: id, request: request)) }
            }
            return requests
        }
    }

    public func reapLostNodes(now: Date) async throws -> [JobRecord] {
        // Leases are compared on PostgreSQL's clock; `now` says only how far from the present to look.
        let offset = now.timeIntervalSinceNow
        return try await access {
            try await self.client.withTransaction(logger: self.logger) { connection in
                var lost: [String] = []
                for try await node in try await connection.query(
                    "DELETE FROM nodes WHERE lease_until < extract(epoch FROM clock_timestamp()) + \(offset) RETURNING id",
                    logger: self.logger
                ).decode(String.self) {
                    lost.append(node)
                }
                guard !lost.isEmpty else { return [] }
                let running = try await Self.records(
                    try await connection.query(
                        "SELECT id, job, state, node, version FROM jobs WHERE status = 'running' AND node = ANY(\(lost)) FOR UPDATE",
                        logger: self.logger))
                var ended: [JobRecord] = []
                for var record in running {
                    record.state.lose(node: record.node ?? "?", job: record.job, at: now)
                    let encoded = try Self.encoder.encode(record.state)
                    var bindings = PostgresBindings()
                    Columns(record.state).bind(to: &bindings)
                    try bindings.append(encoded)
                    bindings.append(record.id)
                    try await connection.query(
                        PostgresQuery(
                            unsafeSQL:
                                "UPDATE jobs SET \(Columns.assignments), state = $\(Columns.count + 1), version = version + 1, node = NULL, stop_request = NULL WHERE id = $\(Columns.count + 2)",
                            binds: bindings), logger: self.logger)
                    try await connection.query(
                        "SELECT pg_notify(\(Self.channel), \("job:" + record.id))", logger: self.logger)
                    ended.append(record)
                }
                return ended
            }
        }
    }

    public func requeue(id: String, state: JobState) async throws -> Bool {
        let requeued = try await setState(
            id: id, state: state, where: "status = 'error'", then: ", node = NULL, stop_request = NULL")
        if requeued {
            try await access {
                try await self.client.query("SELECT pg_notify(\(Self.channel), 'queue')", logger: self.logger)
            }
        }
        return requeued
    }

    public func endQueued(id: String, state: JobState) async throws -> Bool {
        try await setState(id: id, state: state, where: "phase = 'queued' AND status = 'running' AND node IS NULL")
    }

    /// Listens on the `dray` channel on a connection of its own, again after any failure, until
    /// the task is canceled.
    public func watch(_ changed: @escaping @Sendable (StoreChange) -> Void) async throws {
        await running.wait()
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    try await connection.listen(on: Self.channel) { notifications in
                        // Whatever happened while no one listened: look once.
                        changed(.queued)
                        for try await notification in notifications {
                            if let change = StoreChange(payload: notification.payload) { changed(change) }
                        }
                    }
                }
            } catch is CancellationError {
                return
            } catch {
                if Task.isCancelled { return }
                logger.warning("the PostgreSQL change feed stopped: \(error); listening again in 1 s")
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    // MARK: - Calls

    /// The rows a query answers with (each `RETURNING` row, for writes).
    private func count(_ query: PostgresQuery) async throws -> Int {
        var count = 0
        for try await _ in try await client.query(query, logger: logger) { count += 1 }
        return count
    }

    /// How long a call may take: the pool waits for a connection without end while PostgreSQL
    /// is down, and a client must be told (503) rather than left waiting.
    static let callTimeout: Duration = .seconds(10)

    /// Runs a call within ``callTimeout``, giving its failures the store's error type.
    @discardableResult
    private func access<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        await running.wait()
        return try await DrayError.storage("the PostgreSQL store at \(description)") {
            do {
                // A call the restarting server left hanging is given up, even if it never ends.
                return try await withDeadline(
                    Self.callTimeout,
                    late: {
                        DrayErrorLike(message: "PostgreSQL did not answer within \(Self.callTimeout)")
                    }, body)
            } catch let error as PostgresTransactionError {
                // What the transaction's own code threw (no such job), as it threw it.
                if let inner = error.closureError as? DrayError { throw inner }
                throw error
            } catch let error as PSQLError {
                // Its description hides the server's message: say what the server said.
                throw DrayErrorLike(
                    message: error.serverInfo?[.message].map { "\($0) (\(error.code))" } ?? "\(error.code)")
            }
        }
    }
}

/// The state's columns, for lists, filters and claims. Times are seconds since 2001, as the
/// state's JSON has them.
struct Columns {
    var status: String
    var phase: String
    var stepsCompleted: Int
    var currentStep: Int?
    var reason: String?
    var createdAt: Double
    var startedAt: Double?
    var finishedAt: Double?

    init(_ state: JobState) {
        status = state.status.rawValue
        phase = state.phase.rawValue
        stepsCompleted = state.stepsCompleted
        currentStep = state.currentStep
        reason = state.reason?.rawValue
        createdAt = state.createdAt.timeIntervalSinceReferenceDate
        startedAt = state.startedAt?.timeIntervalSinceReferenceDate
        finishedAt = state.finishedAt?.timeIntervalSinceReferenceDate
    }

    static let count = 8
    /// `status = $1, …, finished_at = $8`.
    static let assignments = [
        "status", "phase", "steps_completed", "current_step", "reason", "created_at", "started_at", "finished_at",
    ].enumerated().map { "\($1) = $\($0 + 1)" }.joined(separator: ", ")

    func bind(to bindings: inout PostgresBindings) {
        bindings.append(status)
        bindings.append(phase)
        bindings.append(stepsCompleted)
        bindings.append(currentStep)
        bindings.append(reason)
        bindings.append(createdAt)
        bindings.append(startedAt)
        bindings.append(finishedAt)
    }
}

/// The nodes that have renewed a lease through this store.
private final class Joined: Sendable {
    private let nodes = Mutex<Set<String>>([])

    /// Adds `node`; true when it was not there (a first lease, not a reaped one).
    func insert(_ node: String) -> Bool { nodes.withLock { $0.insert(node).inserted } }
    func remove(_ node: String) { _ = nodes.withLock { $0.remove(node) } }
}
