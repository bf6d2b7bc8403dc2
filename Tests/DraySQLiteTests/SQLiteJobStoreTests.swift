import DrayEngine
import DrayStoreTesting
import Foundation
import GRDB
import Testing

@testable import DraySQLite

@Suite("The SQLite store")
struct SQLiteJobStoreTests {
    private func makeStore() throws -> SQLiteJobStore {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "dray-\(UUID().uuidString)/dray.sqlite"
        ).path
        return try SQLiteJobStore(path: path)
    }

    @Test("passes the store contract", arguments: JobStoreContract.Check.allCases)
    func contract(_ check: JobStoreContract.Check) async throws {
        try await JobStoreContract(store: makeStore()).run(check)
    }

    @Test("keeps its jobs across a reopen, in WAL mode")
    func reopen() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "dray-\(UUID().uuidString)/dray.sqlite"
        ).path
        let record = JobStoreContract.record()
        try await SQLiteJobStore(path: path).create(record)
        #expect(try await SQLiteJobStore(path: path).job(id: record.id) == record)
        // The header's read and write format versions are 2 in WAL mode.
        let header = try #require(FileManager.default.contents(atPath: path)?.prefix(20))
        #expect(Array(header.suffix(2)) == [2, 2])
    }

    @Test("a store of the version before lists had columns gets them filled from its jobs")
    func summaryMigration() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "dray-\(UUID().uuidString)/dray.sqlite"
        ).path
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        var record = JobStoreContract.record(steps: 3, name: "older")
        record.state.fail("step 2 exited with code 1")
        record.state.startedAt = Date(timeIntervalSince1970: 1_700_000_000.5)
        record.state.stepsCompleted = 1
        let old = try DatabaseQueue(path: path)
        try SQLiteJobStore.migrator.migrate(old, upTo: "v2: the last log batch, for safe retries")
        let encoder = JSONEncoder.keepingSecrets()
        let row: StatementArguments = [
            record.id, try encoder.encode(record.job), try encoder.encode(record.state), "error",
        ]
        try await old.write { db in
            try db.execute(sql: "INSERT INTO jobs (id, job, state, status) VALUES (?, ?, ?, ?)", arguments: row)
        }
        try old.close()
        let listed = try await SQLiteJobStore(path: path).list(JobListing(statuses: [.error]))
        #expect(listed.jobs == [JobSummary(record)])
    }

    @Test("a file that is not a database is a clear error")
    func notADatabase() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("dray-\(UUID().uuidString).sqlite")
            .path
        try Data("not sqlite".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: DrayError.self) { try SQLiteJobStore(path: path) }
    }
}
