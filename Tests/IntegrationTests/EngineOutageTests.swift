import Foundation
import Testing

/// The engine going away under `dray serve`, and coming back, on a dockerd of the test's own.
@Suite("When the engine goes away")
struct EngineOutageTests {
    @Test(
        "a job running when the engine stops ends in error with the engine's message; /readyz says so; new jobs run once it is back"
    )
    func outage() async throws {
        let engine = try await PrivateEngine()
        let server: ServerProcess
        do {
            server = try await ServerProcess.started("outage", environment: ["DOCKER_HOST": engine.host])
        } catch {
            await engine.remove()
            throw error
        }
        defer { server.stop() }
        do {
            let submitted = try await server.request(
                .POST, "/jobs", body: ServerProcess.shellJob("echo started; while true; do sleep 1; done", name: "long")
            )
            let id = try #require(submitted.json["id"] as? String)
            try await server.waitForLog(id, ["started"])

            try await engine.stop()
            let ended = try await server.waitUntilEnded(id)
            #expect(ended["status"] as? String == "error")
            let message = ended["error"] as? String ?? ""
            #expect(message.contains("step 1 \"long\""), "\(ended)")
            #expect(message.contains("Docker engine"), "\(message)")
            let unready = try await server.request(.GET, "/readyz")
            #expect(unready.status == 503)
            #expect((unready.json["error"] as? String)?.contains("the container engine does not answer") == true)
            #expect(try await server.request(.GET, "/healthz").status == 200)
            let refused = try await server.request(.POST, "/jobs", body: ServerProcess.shellJob("echo while-down"))
            #expect(refused.status == 201, "a job can be submitted while the engine is down")
            let refusedID = try #require(refused.json["id"] as? String)
            let refusedState = try await server.waitUntilEnded(refusedID)
            #expect(refusedState["status"] as? String == "error")

            try await engine.start()
            #expect(try await server.request(.GET, "/readyz").status == 200)
            let again = try await server.request(.POST, "/jobs", body: ServerProcess.shellJob("echo back"))
            let againID = try #require(again.json["id"] as? String)
            let state = try await server.waitUntilEnded(againID)
            #expect(state["status"] as? String == "complete", "\(state)")
            let log = try await server.request(.GET, "/jobs/\(againID)/log").json["lines"] as? [String]
            #expect(log == ["back"])
            // The container the engine's stop left behind is removed now that it answers.
            var left: [String] = []
            for _ in 0..<100 {
                left = try await Shell.check(
                    ["docker", "ps", "-aq", "--filter", "label=dray.job=\(id)"],
                    environment: ["DOCKER_HOST": engine.host]
                ).split(separator: "\n").map(String.init)
                if left.isEmpty { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(left.isEmpty, "containers of the first job left: \(left)")
        } catch {
            await engine.remove()
            throw error
        }
        await engine.remove()
    }
}
