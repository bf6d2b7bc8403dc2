import DrayEngine
import DrayStoreTesting
import Foundation
import NIOCore
import PostgresNIO
import Testing

@testable import DrayPostgres

@Suite("The PostgreSQL store, on a real PostgreSQL")
struct PostgresJobStoreTests {
    /// A store on a fresh database, migrated, with its pool running for `body`.
    static func withStore(_ body: (PostgresJobStore) async throws -> Void) async throws {
        let store = try PostgresJobStore(url: try await PostgresServer.freshDatabase())
        try await withThrowingTaskGroup { group in
            group.addTask { try await store.run() }
            defer { group.cancelAll() }
            try await store.prepare()
            try await body(store)
        }
    }

    @Test("passes the store contract, with many nodes", arguments: JobStoreContract.Check.allCases)
    func contract(_ check: JobStoreContract.Check) async throws {
        try await Self.withStore { store in
            try await JobStoreContract(store: store, manyNodes: true, feed: true).run(check)
        }
    }

    @Test("migrating twice, or from two nodes at once, is one migration")
    func migrateTwice() async throws {
        let url = try await PostgresServer.freshDatabase()
        let stores = try (0..<3).map { _ in try PostgresJobStore(url: url) }
        try await withThrowingTaskGroup { group in
            for store in stores { group.addTask { try await store.run() } }
            defer { group.cancelAll() }
            try await withThrowingTaskGroup { migrations in
                for store in stores { migrations.addTask { try await store.prepare() } }
                try await migrations.waitForAll()
            }
            try await stores[0].prepare()
            try await stores[1].create(JobStoreContract.record())
            #expect(try await stores[2].jobs().count == 1)
        }
    }

    @Test("a database of the version with a row per log line gets its lines in chunks")
    func chunkMigration() async throws {
        let store = try PostgresJobStore(url: try await PostgresServer.freshDatabase())
        try await withThrowingTaskGroup { group in
            group.addTask { try await store.run() }
            defer { group.cancelAll() }
            try await store.migrate(upTo: 2)
            // The job as that version wrote it: with the columns it had.
            let record = JobStoreContract.record()
            let (job, state) = (try JSONEncoder().encode(record.job), try JSONEncoder().encode(record.state))
            try await store.client.query(
                """
                INSERT INTO jobs (id, job, state, total_steps, status, phase, steps_completed, created_at)
                VALUES (\(record.id), \(job), \(state), 2, 'running', 'queued', 0, 0)
                """)
            let lines = (0..<2345).map {
                LogLine(step: $0 % 2, stream: $0 % 3 == 0 ? .stderr : .stdout, bytes: Array("line \($0)".utf8) + [0xFF])
            }
            let steps = lines.map(\.step)
            let streams = lines.map { $0.stream == .stderr ? 2 : 1 }
            let texts = lines.map { ByteBuffer(bytes: $0.bytes) }
            let id = record.id
            try await store.client.query(
                """
                INSERT INTO log_lines (job_id, seq, step, stream, text)
                SELECT \(id), ordinality - 1, step, stream, text
                FROM unnest(\(steps)::int[], \(streams)::smallint[], \(texts)::bytea[]) WITH ORDINALITY AS l(step, stream, text)
                """)
            try await store.client.query("UPDATE jobs SET log_count = \(lines.count) WHERE id = \(id)")
            try await store.prepare()
            #expect(try await store.log(id: id, from: 0, limit: nil) == lines)
            #expect(try await store.log(id: id, from: 999, limit: 3) == Array(lines[999..<1002]))
            try await store.appendLog(id: id, lines: [LogLine(step: 1, stream: .stdout, text: "after")])
            #expect(try await store.log(id: id, from: lines.count, limit: nil).map(\.text) == ["after"])
        }
    }

    @Test(
        "a wrong URL says what is wrong",
        arguments: ["mysql://a@b/c", "postgres://b/c", "postgres://a@b", "postgres://a@b/c?sslmode=maybe"])
    func wrongURL(_ url: String) {
        #expect(throws: (any Error).self) { try PostgresJobStore(url: url) }
    }
}
