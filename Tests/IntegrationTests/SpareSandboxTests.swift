import Foundation
import Testing

/// The sandbox a server keeps started for its next job, on real `dray serve` processes and the
/// real engine.
@Suite("The spare sandbox")
struct SpareSandboxTests {
    /// The spare sandboxes of node `node` on the engine, running or not.
    private func spares(of node: String) async throws -> [String] {
        try await Shell.check([
            "docker", "ps", "-aq", "--no-trunc", "--filter", "label=dray.sandbox=spare", "--filter",
            "label=dray.node=\(node)",
        ]).split(separator: "\n").map(String.init)
    }

    /// Runs a one-step job on `server` to its end; returns the spare that is there after it.
    private func runJob(on server: ServerProcess, node: String) async throws -> String? {
        let id = try #require(
            try await server.request(.POST, "/jobs", body: ServerProcess.shellJob("echo hi")).json["id"] as? String)
        let state = try await server.waitUntilEnded(id)
        #expect(state["status"] as? String == "complete", "\(state)")
        let left = try await Shell.check(["docker", "ps", "-aq", "--filter", "label=dray.job=\(id)"])
        #expect(left.isEmpty, "the job's end is reported once its containers are gone")
        // The next spare is started after the job's end: a bound, not a timing.
        for _ in 0..<200 {
            let now = try await spares(of: node)
            if now.count == 1 { return now[0] }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("no spare sandbox after the job: \(try await spares(of: node))")
        return nil
    }

    @Test(
        "a server keeps one started sandbox with no job's label; the next job takes it; the stop removes it, and a killed node's is removed at its next start"
    )
    func keptTakenRemoved() async throws {
        let node = "spare-\(UUID().uuidString.prefix(8).lowercased())"
        let server = try await ServerProcess.started("spare", arguments: ["--node-id", node])
        #expect(try await spares(of: node).isEmpty, "no spare before a job has run")
        let first = try await runJob(on: server, node: node)
        let second = try await runJob(on: server, node: node)
        #expect(first != nil && second != nil && first != second, "the second job took the first spare")
        let running = try await Shell.check(["docker", "inspect", "-f", "{{.State.Running}}", second ?? ""])
        #expect(running == "true")
        await server.stopped()
        #expect(try await spares(of: node).isEmpty, "the server's stop removes its spare")

        let again = try ServerProcess(dataDirectory: server.dataDirectory, arguments: ["--node-id", node])
        try await again.waitUntilUp()
        let left = try await runJob(on: again, node: node)
        again.kill9()
        #expect(try await spares(of: node) == [left].compactMap { $0 }, "a killed server leaves its spare")
        let third = try ServerProcess(dataDirectory: server.dataDirectory, arguments: ["--node-id", node])
        try await third.waitUntilUp()
        let fresh = try await runJob(on: third, node: node)
        #expect(fresh != nil && fresh != left, "the spare a killed run left is removed")
        await third.stopped()
        #expect(try await spares(of: node).isEmpty)
    }
}
