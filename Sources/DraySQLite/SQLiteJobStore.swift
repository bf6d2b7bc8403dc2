import DrayEngine
import Foundation
import GRDB

/// A ``JobStore`` in one SQLite file, in WAL mode, with versioned migrations.
///
/// Log lines are rows keyed by (job, index), so a page of the log is an index seek.
public final class SQLiteJobStore: JobStore {
    private let pool: DatabasePool

    /// Opens (creating if needed) the database at `path` and migrates it to the current schema.
    public init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.label = "dray"
        do {
            try FileManager.default.createDirectory(
                at: URL(fileURLWithPath: path).deletingLastPathComponent(), withIntermediateDirectories: true)
            pool = try DatabasePool(path: path, configuration: configuration)
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
        return migrator
    }

    private static let encoder = JSONEncoder.keepingSecrets()
    private static let decoder = JSONDecoder()

    public func ping() async throws {
        try await access { try await self.pool.read { db in _ = try Int.fetchOne(db, sql: "SELECT 1") } }
    }

    public func create(_ record: JobRecord) async throws {
        let job = try Self.encoder.encode(record.job)
        let state = try Self.encoder.encode(record.state)
        try await access {
            try await self.pool.write { db in
                try db.execute(
                    sql: "INSERT INTO jobs (id, job, state, status) VALUES (?, ?, ?, ?)",
                    arguments: [record.id, job, state, record.state.status.rawValue])
            }
        }
    }

    public func job(id: String) async throws -> JobRecord? {
        try await access {
            try await self.pool.read { db in
                try Row.fetchOne(db, sql: "SELECT id, job, state FROM jobs WHERE id = ?", arguments: [id]).map(
                    Self.record)
            }
        }
    }

    public func jobs() async throws -> [JobRecord] {
        try await access {
            try await self.pool.read { db in
                try Row.fetchAll(db, sql: "SELECT id, job, state FROM jobs ORDER BY seq").map(Self.record)
            }
        }
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
                    sql: "UPDATE jobs SET state = ?, status = ? WHERE id = ?",
                    arguments: [encoded, state.status.rawValue, id])
                return db.changesCount
            }
        }
        guard changed > 0 else { throw DrayError.noJob(id) }
    }

    public func appendLog(id: String, lines: [LogLine], batch: UUID?) async throws {
        guard !lines.isEmpty else { return }
        let token = batch?.uuidString
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
                    sql: "INSERT INTO log_lines (job_id, seq, step, stream, text) VALUES (?, ?, ?, ?, ?)")
                for (offset, line) in lines.enumerated() {
                    try insert.execute(arguments: [
                        // As UTF-8 bytes: SQLite's text functions stop at a NUL.
                        id, count + offset, line.step, line.stream == .stdout ? 1 : 2, Data(line.text.utf8),
                    ])
                }
                try db.execute(
                    sql: "UPDATE jobs SET log_count = ?, last_batch = ? WHERE id = ?",
                    arguments: [count + lines.count, token, id])
            }
        }
    }

    public func log(id: String, from index: Int, limit: Int?) async throws -> [LogLine] {
        try await access {
            try await self.pool.read { db in
                guard try Bool.fetchOne(db, sql: "SELECT 1 FROM jobs WHERE id = ?", arguments: [id]) != nil else {
                    throw DrayError.noJob(id)
                }
                let rows = try Row.fetchAll(
                    db,
                    sql: "SELECT step, stream, text FROM log_lines WHERE job_id = ? AND seq >= ? ORDER BY seq LIMIT ?",
                    arguments: [id, max(0, index), limit ?? -1])
                return rows.map { row in
                    LogLine(
                        step: row["step"], stream: (row["stream"] as Int) == 2 ? .stderr : .stdout,
                        text: String(decoding: row["text"] as Data, as: UTF8.self))
                }
            }
        }
    }

    public func delete(id: String) async throws -> Bool {
        try await access {
            try await self.pool.write { db in
                try db.execute(sql: "DELETE FROM jobs WHERE id = ?", arguments: [id])
                return db.changesCount > 0
            }
        }
    }

    private static func record(_ row: Row) throws -> JobRecord {
        JobRecord(
            id: row["id"],
            job: try decoder.decode(Job.self, from: row["job"] as Data),
            state: try decoder.decode(JobState.self, from: row["state"] as Data))
    }

    /// Runs a call, giving its failures the store's error type.
    private func access<T>(_ body: () async throws -> T) async throws -> T {
        try await DrayError.storage("the SQLite store", body)
    }
}
