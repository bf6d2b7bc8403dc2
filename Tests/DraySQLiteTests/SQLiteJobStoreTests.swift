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

    @Test("a store of the version with a row per log line gets its lines in chunks, bytes and all")
    func chunkMigration() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "dray-\(UUID().uuidString)/dray.sqlite"
        ).path
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let records = [JobStoreContract.record(), JobStoreContract.record()]
        let old = try DatabaseQueue(path: path)
        try SQLiteJobStore.migrator.migrate(
            old, upTo: "v5: a version for each job's state, so that a stale write is refused")
        let encoder = JSONEncoder.keepingSecrets()
        var expected: [String: [LogLine]] = [:]
        for (index, record) in records.enumerated() {
            let lines = (0..<(index == 0 ? 2345 : 3)).map {
                LogLine(step: $0 % 2, stream: $0 % 3 == 0 ? .stderr : .stdout, bytes: Array("line \($0)".utf8) + [0xFF])
            }
            expected[record.id] = lines
            let row: StatementArguments = [
                record.id, try encoder.encode(record.job), try encoder.encode(record.state), "running", lines.count,
            ]
            try await old.write { db in
                try db.execute(
                    sql: "INSERT INTO jobs (id, job, state, status, log_count) VALUES (?, ?, ?, ?, ?)", arguments: row)
                for (seq, line) in lines.enumerated() {
                    try db.execute(
                        sql: "INSERT INTO log_lines (job_id, seq, step, stream, text) VALUES (?, ?, ?, ?, ?)",
                        arguments: [record.id, seq, line.step, line.stream == .stderr ? 2 : 1, Data(line.bytes)])
                }
            }
        }
        try old.close()
        let store = try SQLiteJobStore(path: path)
        for record in records {
            let lines = try #require(expected[record.id])
            #expect(try await store.log(id: record.id, from: 0, limit: nil) == lines)
            #expect(
                try await store.log(id: record.id, from: 999, limit: 3)
                    == Array(lines[min(999, lines.count)...].prefix(3)))
        }
        try await store.appendLog(id: records[1].id, lines: [LogLine(step: 1, stream: .stdout, text: "after")])
        #expect(try await store.log(id: records[1].id, from: 3, limit: nil).map(\.text) == ["after"])
    }

    @Test("after every job is deleted, the file and its write-ahead log give their space back")
    func spaceGivenBack() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dray-\(UUID().uuidString)").path
        let path = folder + "/dray.sqlite"
        let store = try SQLiteJobStore(path: path)
        func size() -> Int {
            ["", "-wal"].reduce(0) { total, suffix in
                let attributes = try? FileManager.default.attributesOfItem(atPath: path + suffix)
                return total + ((attributes?[.size] as? NSNumber)?.intValue ?? 0)
            }
        }
        var ids: [String] = []
        for _ in 0..<3 {
            let record = JobStoreContract.record()
            try await store.create(record)
            ids.append(record.id)
            for start in stride(from: 0, to: 200_000, by: 10_000) {
                let lines = (start..<start + 10_000).map {
                    LogLine(step: 0, stream: .stdout, text: "line \($0) " + String(repeating: "x", count: 90))
                }
                try await store.appendLog(id: record.id, lines: lines)
            }
        }
        let full = size()
        #expect(full > 50_000_000, "three logs of 20 MB: \(full) bytes")
        for id in ids { #expect(try await store.delete(id: id)) }
        let empty = size()
        print("SQLite file and WAL: \(full) bytes with three 200,000-line logs, \(empty) after deleting them")
        #expect(empty < 5_000_000, "\(full) bytes with the jobs, \(empty) without")
    }

    @Test("a file that is not a database is a clear error")
    func notADatabase() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("dray-\(UUID().uuidString).sqlite")
            .path
        try Data("not sqlite".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: DrayError.self) { try SQLiteJobStore(path: path) }
    }
}
