import DrayEngine
import DrayPostgres
import DrayRedis
import DraySQLite
import DrayStoreTesting
import Foundation
import Testing

/// The stores the API suite runs against, each on its real backend.
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case redis
    case postgres

    var testDescription: String { rawValue }

    /// A fresh, empty store of this kind; `folder` holds SQLite's file. Call `close` when done.
    func make(in folder: String) async throws -> (store: any JobStore, close: @Sendable () async throws -> Void) {
        switch self {
        case .sqlite:
            return (try SQLiteJobStore(path: folder + "/dray.sqlite"), {})
        case .postgres:
            let store = try PostgresJobStore(url: try await PostgresServer.freshDatabase())
            let pool = Task { try await store.run() }
            try await store.prepare()
            return (store, { pool.cancel() })
        case .redis:
            let server = try await RedisServer()
            let store = RedisJobStore(configuration: try RedisConfiguration(url: server.url))
            return (
                store,
                {
                    await store.client.close()
                    try await server.stop()
                }
            )
        }
    }
}
