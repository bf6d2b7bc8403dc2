import DrayEngine
import DraySQLite
import DrayStoreTesting
import Foundation
import Testing

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

    @Test("a file that is not a database is a clear error")
    func notADatabase() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("dray-\(UUID().uuidString).sqlite")
            .path
        try Data("not sqlite".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: DrayError.self) { try SQLiteJobStore(path: path) }
    }
}
