import DockerClient
import DrayRedis
import DrayStoreTesting
import Foundation
import Testing

@Suite("dray serve on Redis")
struct RedisServeTests {
    @Test("REDIS_PORT selects Redis as the seed's link sets it, and jobs the original wrote are served")
    func originalsDeployment() async throws {
        let redis = try await RedisServer()
        let client = RedisClient(configuration: try RedisConfiguration(url: redis.url))
        let id = "0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9"
        try await client.send("RPUSH", ["jobs", .string(id)])
        try await client.send(
            "HMSET", [.string("jobs:\(id)"), "totalSteps", "\u{2}", "completedSteps", "2", "status", "complete"])
        try await client.send("RPUSH", [.string("jobs:\(id):log"), "hello", "HELLO"])

        let server = try await ServerProcess.started(
            "link", environment: ["REDIS_PORT": "tcp://127.0.0.1:\(redis.port)"])
        defer { server.stop() }
        #expect(server.log.contains("store redis://127.0.0.1:\(redis.port)"))
        let listed =
            try JSONSerialization.jsonObject(with: try await server.request(.GET, "/jobs").body) as? [[String: Any]]
        #expect(listed?.map { $0["id"] as? String } == [id])
        let state = try await server.request(.GET, "/jobs/\(id)").json
        #expect(state["status"] as? String == "complete")
        #expect(state["stepsCompleted"] as? Int == 2)
        #expect(try await server.request(.GET, "/jobs/\(id)/log?index=1").json["lines"] as? [String] == ["HELLO"])

        // A job submitted now lands in the same layout.
        let created = try await server.request(.POST, "/jobs", body: #"{"steps":[{"source":"dray/randword"}]}"#)
        let newID = try #require(created.json["id"] as? String)
        #expect(try await client.send("LRANGE", ["jobs", 0, -1]).array?.map(\.string) == [id, newID])
        await client.close()
    }

    @Test(
        "Redis stops while a job runs: 503s and /readyz say why; when it returns the job completes with its whole log")
    func outage() async throws {
        let redis = try await RedisServer()
        let server = try await ServerProcess.started("outage", environment: ["DRAY_STORE": redis.url])
        defer { server.stop() }
        let body = ServerProcess.shellJob("for i in $(seq 1 80); do echo line $i; sleep 0.1; done")
        let id = try #require(try await server.request(.POST, "/jobs", body: body).json["id"] as? String)
        // Until the step runs: a bound, not a timing; every test runs at once on two cores.
        var logged = false
        for _ in 0..<1200 where !logged {
            let lines = try await server.request(.GET, "/jobs/\(id)/log").json["lines"] as? [String]
            logged = !(lines ?? []).isEmpty
            if !logged { try await Task.sleep(for: .milliseconds(50)) }
        }
        if !logged {
            let state = try await server.request(.GET, "/jobs/\(id)").json
            Issue.record("the job never logged: \(state)")
            return
        }
        try await redis.stop()

        for (method, path) in [("GET", "/jobs/\(id)"), ("GET", "/jobs"), ("GET", "/jobs/\(id)/log"), ("POST", "/jobs")]
        {
            let answer = try await server.request(
                .init(rawValue: method), path, body: method == "POST" ? body : nil, timeout: .seconds(10))
            #expect(answer.status == 503, "\(method) \(path)")
            #expect((answer.json["error"] as? String)?.contains("Redis") == true, "\(method) \(path): \(answer.json)")
        }
        let ready = try await server.request(.GET, "/readyz")
        #expect(ready.status == 503)
        #expect((ready.json["error"] as? String)?.contains("the store does not answer") == true)
        try await Task.sleep(for: .seconds(1))
        try await redis.start()
        var state: [String: Any] = [:]
        for _ in 0..<300 {
            let answer = try await server.request(.GET, "/jobs/\(id)")
            if answer.status == 200 { state = answer.json }
            if state["status"] as? String == "complete" { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(state["status"] as? String == "complete")
        let exitCodes = (state["steps"] as? [[String: Any]])?.map { $0["exitCode"] as? Int }
        #expect(exitCodes == [0], "the step ran through the outage: it was not stopped")
        #expect(try await server.request(.GET, "/readyz").status == 200)
        let lines = try await server.request(.GET, "/jobs/\(id)/log").json["lines"] as? [String]
        #expect(lines == (1...80).map { "line \($0)" }, "no line was lost while Redis was away")
        let left = try await TestEngine.withClient { try await $0.listContainers(label: "dray.job=\(id)") }
        #expect(left.isEmpty)
    }
}
