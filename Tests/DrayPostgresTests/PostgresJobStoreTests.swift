import DrayEngine
import DrayPostgres
import DrayStoreTesting
import Foundation
import Testing

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

    @Test(
        "a wrong URL says what is wrong",
        arguments: ["mysql://a@b/c", "postgres://b/c", "postgres://a@b", "postgres://a@b/c?sslmode=maybe"])
    func wrongURL(_ url: String) {
        #expect(throws: (any Error).self) { try PostgresJobStore(url: url) }
    }
}
