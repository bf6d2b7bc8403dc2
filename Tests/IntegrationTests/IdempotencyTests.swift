import DrayStoreTesting
import Foundation
import Testing

/// `Idempotency-Key` on `POST /jobs`: a client that retries a submit (its answer lost) gets the
/// job it made, never a second one, on any node.
@Suite("Idempotent submits")
struct IdempotencyTests {
    /// The ids of every job the server lists.
    static func jobIDs(_ server: ServerProcess) async throws -> [String] {
        let list =
            try JSONSerialization.jsonObject(with: try await server.request(.GET, "/jobs").body) as? [[String: Any]]
        return (list ?? []).compactMap { $0["id"] as? String }
    }

    @Test("two submits with one key make one job; another body is a 422, a bad key a 400, a deleted job a 409")
    func oneKeyOneJob() async throws {
        let server = try await ServerProcess.started("idempotency")
        defer { server.stop() }
        let key = UUID().uuidString
        let job = ServerProcess.shellJob("echo once")
        let first = try await server.request(.POST, "/jobs", body: job, headers: ["Idempotency-Key": key])
        #expect(first.status == 201)
        #expect(first.headers["idempotent-replayed"] == nil)
        let id = try #require(first.json["id"] as? String)
        let again = try await server.request(.POST, "/jobs", body: job, headers: ["Idempotency-Key": key])
        #expect(again.status == 201)
        #expect(again.json["id"] as? String == id)
        #expect(again.headers["idempotent-replayed"] == "true")
        #expect(try await Self.jobIDs(server) == [id])
        #expect(try await server.waitUntilEnded(id)["status"] as? String == "complete")
        #expect(String(decoding: try await server.request(.GET, "/jobs/\(id)/output").body, as: UTF8.self) == "once\n")

        let other = try await server.request(
            .POST, "/jobs", body: ServerProcess.shellJob("echo twice"), headers: ["Idempotency-Key": key])
        #expect(other.status == 422)
        #expect((other.json["error"] as? String)?.contains("Idempotency-Key") == true, "\(other.json)")
        // Without a key, the same body is a new job, as before.
        let plain = try await server.request(.POST, "/jobs", body: job)
        #expect(plain.status == 201)
        #expect(plain.json["id"] as? String != id)

        for bad in [String(repeating: "k", count: 256), "two words"] {
            let refused = try await server.request(.POST, "/jobs", body: job, headers: ["Idempotency-Key": bad])
            #expect(refused.status == 400)
            #expect((refused.json["error"] as? String)?.contains("Idempotency-Key") == true, "\(refused.json)")
        }

        #expect((200..<300).contains(try await server.request(.DELETE, "/jobs/\(id)").status))
        let deleted = try await server.request(.POST, "/jobs", body: job, headers: ["Idempotency-Key": key])
        #expect(deleted.status == 409)
        #expect((deleted.json["error"] as? String)?.contains("deleted") == true, "\(deleted.json)")
    }

    @Test("dray submit --idempotency-key prints the same id for the same file, and fails for another")
    func command() async throws {
        let server = try await ServerProcess.started("idempotency-cli")
        defer { server.stop() }
        let environment = ["DRAY_URL": server.url]
        let key = UUID().uuidString
        let job =
            #"{"name":"once","environment":[{"variable":"B","value":"2"},{"variable":"A","value":"1"}],"#
            + #""steps":[{"source":"dray-test/sh","environment":[{"variable":"SCRIPT","value":"echo once"}]}]}"#
        var ids: [String] = []
        for _ in 0..<2 {
            let submitted = try await DrayProcess.run(
                ["submit", "--idempotency-key", key, "-"], stdinText: job, environment: environment)
            #expect(submitted.status == 0, "\(submitted.stderr)")
            ids.append(
                String(decoding: submitted.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        }
        #expect(ids[0] == ids[1])
        #expect(try await Self.jobIDs(server) == [ids[0]])
        let other = try await DrayProcess.run(
            ["submit", "--idempotency-key", key, "-"], stdinText: ServerProcess.shellJob("echo twice"),
            environment: environment)
        #expect(other.status == 1)
        #expect(other.stderr.contains("Idempotency-Key"), "\(other.stderr)")
    }

    @Test("the same key sent to two nodes at once makes one job")
    func acrossNodes() async throws {
        let store = try await PostgresServer.freshDatabase()
        let nodes = [try await ClusterTests.node("i1", store: store), try await ClusterTests.node("i2", store: store)]
        defer { for node in nodes { node.stop() } }
        let key = UUID().uuidString
        let job = ServerProcess.shellJob("echo once")
        let urls = nodes.map(\.url)
        let ids = try await withThrowingTaskGroup(of: String?.self) { group in
            for index in 0..<10 {
                group.addTask {
                    let answer = try await ServerProcess.request(
                        .POST, urls[index % 2] + "/jobs", body: job, headers: ["Idempotency-Key": key])
                    return answer.json["id"] as? String
                }
            }
            var ids: [String?] = []
            for try await id in group { ids.append(id) }
            return ids
        }
        #expect(Set(ids).count == 1, "\(ids)")
        let id = try #require(ids.first ?? nil)
        #expect(try await Self.jobIDs(nodes[1]) == [id])
    }
}
