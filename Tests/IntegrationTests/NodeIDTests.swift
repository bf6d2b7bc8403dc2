import DrayStoreTesting
import Foundation
import Testing

/// A server's node id, on real `dray serve` processes and the real engine.
@Suite("The node id")
struct NodeIDTests {
    @Test("made once and kept in the data dir; on the containers (dray.node), the gauges and the log lines")
    func keptAndShown() async throws {
        let server = try await ServerProcess.started("node", environment: ["LOG_FORMAT": "json"])
        let kept = try String(contentsOfFile: server.dataDirectory + "/node-id", encoding: .utf8)
        let node = kept.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!node.isEmpty)
        let id = try #require(
            try await server.request(.POST, "/jobs", body: ServerProcess.shellJob("sleep 3")).json["id"] as? String)
        var labelled = ""
        for _ in 0..<100 where labelled.isEmpty {
            labelled = try await Shell.check([
                "docker", "ps", "-q", "--filter", "label=dray.job=\(id)", "--filter", "label=dray.node=\(node)",
            ])
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(!labelled.isEmpty, "the step's container carries dray.node=\(node)")
        let metrics = String(decoding: try await server.request(.GET, "/metrics").body, as: UTF8.self)
        #expect(metrics.contains(#"dray_jobs_running{node="\#(node)"} 1"#), "\(metrics)")
        _ = try await server.waitUntilEnded(id)
        await server.stopped()
        #expect(server.log.contains(#""node":"\#(node)""#), "the log lines carry the node: \(server.log)")

        let again = try ServerProcess(dataDirectory: server.dataDirectory)
        defer { again.stop() }
        try await again.waitUntilUp()
        let text = String(decoding: try await again.request(.GET, "/metrics").body, as: UTF8.self)
        #expect(text.contains(#"dray_jobs_running{node="\#(node)"}"#), "a restart is the same node")
    }

    @Test("--node-id names the node; one that is not a label value is refused before serving")
    func given() async throws {
        let server = try await ServerProcess.started("node-given", arguments: ["--node-id", "rack-2.host-7"])
        defer { server.stop() }
        let text = String(decoding: try await server.request(.GET, "/metrics").body, as: UTF8.self)
        #expect(text.contains(#"dray_jobs_queued{node="rack-2.host-7"}"#))
        for bad in ["two words", "", String(repeating: "x", count: 64), "quote\"d"] {
            let refused = try await DrayProcess.run([
                "serve", "--node-id", bad, "--port", String(try LoopbackPort.free()), "--data-dir",
                server.dataDirectory + "-refused",
            ])
            #expect(refused.status != 0, "\(bad)")
            #expect(refused.stderr.contains("node id"), "\(refused.stderr)")
        }
    }
}
