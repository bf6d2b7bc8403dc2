import DrayServer
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// `GET /metrics`, read as Prometheus reads it.
extension ServerTests {
    /// The samples of a Prometheus text exposition, `name{labels}` to value; every line must be
    /// a comment or a well-formed sample.
    static func samples(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> [String: Double] {
        var samples: [String: Double] = [:]
        let sample =
            /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|\+Inf|NaN)$/
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let match = try? sample.wholeMatch(in: String(line)) else {
                Issue.record("not a Prometheus sample: \(line)", sourceLocation: sourceLocation)
                continue
            }
            samples[String(match.1) + String(match.2 ?? "")] = Double(String(match.4))
        }
        return samples
    }

    @Test("/metrics: Prometheus text whose counters, gauges and histograms move when jobs run")
    func metrics() async throws {
        try await withServer(.sqlite) { client, _ in
            let before = try await client.execute(uri: "/metrics", method: .get)
            #expect(before.status == .ok)
            #expect(before.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)

            let good = try await submit(client, shJob(["echo one; echo two", "cat"]))
            let ended = try await waitUntilDone(client, good)
            // Each step says when its first byte came, after it started, before it ended.
            for step in ended["steps"] as? [[String: Any]] ?? [] {
                let times = ["startedAt", "firstByteAt", "finishedAt"].compactMap { step[$0] as? String }
                #expect(times.count == 3 && times.sorted() == times, "\(step)")
            }
            let bad = try await submit(client, shJob(["exit 3"]))
            _ = try await waitUntilDone(client, bad)

            // A job's end is stored before its task has counted it: wait for the count (a bound, not a timing).
            var text = ""
            for _ in 0..<200 {
                text = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
                if Self.samples(text)["dray_jobs_running"] == 0, Self.samples(text)["dray_jobs_queued"] == 0,
                    Self.samples(text)["dray_job_duration_seconds_count"] == 2
                {
                    break
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            let samples = Self.samples(text)
            #expect(samples[#"dray_jobs_ended_total{status="complete",reason="none"}"#] == 1, "\(text)")
            #expect(samples[#"dray_jobs_ended_total{status="error",reason="failed"}"#] == 1)
            #expect(samples[#"dray_steps_total{result="success"}"#] == 2)
            #expect(samples[#"dray_steps_total{result="failure"}"#] == 1)
            #expect(samples["dray_log_lines_total"] == 4, "two lines from each step of the first job")
            #expect(samples["dray_step_output_bytes_total"] == 16, "one\\ntwo\\n into cat, and out of it")
            #expect(samples["dray_jobs_running"] == 0)
            #expect(samples["dray_jobs_queued"] == 0)
            #expect(samples["dray_job_duration_seconds_count"] == 2)
            #expect(samples["dray_step_duration_seconds_count"] == 3)
            #expect(
                samples["dray_step_gap_seconds_count"] == 1, "the gap from the first step's end to cat's first byte")
            #expect(samples["dray_job_queue_wait_seconds_count"] == 2)
            // Requests are labelled by the route's pattern, not by the job's id.
            #expect(
                samples.keys.contains {
                    $0.hasPrefix(#"dray_http_request_duration_seconds_count{method="POST",route="/jobs",status="201"}"#)
                })
            #expect(samples.keys.contains { $0.contains(#"route="/jobs/{id}""#) })
            #expect(!text.contains(good))
            // Every name follows the conventions: dray_, and counters end in _total.
            for line in text.split(separator: "\n") where line.hasPrefix("# TYPE") {
                let parts = line.split(separator: " ")
                #expect(parts[2].hasPrefix("dray_"), "\(line)")
                if parts[3] == "counter" { #expect(parts[2].hasSuffix("_total"), "\(line)") }
            }
        }
    }

    @Test("a served /metrics times engine calls by route; --no-metrics answers 404 and times nothing")
    func engineCalls() async throws {
        let server = try await ServerProcess.started("metrics")
        defer { server.stop() }
        let id = try #require(
            try await server.request(.POST, "/jobs", body: ServerProcess.shellJob("echo hi")).json["id"] as? String)
        #expect(try await server.waitUntilEnded(id)["status"] as? String == "complete")
        let state = try await server.request(.GET, "/jobs/\(id)").json
        #expect((state["steps"] as? [[String: Any]])?.first?["outputBytes"] as? Int == 3)
        // A job's end is stored before its task has counted it: wait for the count (a bound, not a timing).
        var samples: [String: Double] = [:]
        for _ in 0..<200 {
            samples = Self.samples(String(decoding: try await server.request(.GET, "/metrics").body, as: UTF8.self))
            if samples["dray_step_output_bytes_total"] == 3 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        for call in [
            "POST /containers/create", "POST /containers/{id}/start", "POST /containers/{id}/wait",
            "POST /containers/{id}/attach",
        ] {
            #expect((samples[#"dray_engine_call_duration_seconds_count{call="\#(call)"}"#] ?? 0) >= 1, "\(call)")
        }
        #expect(samples["dray_step_output_bytes_total"] == 3)

        let quiet = try await ServerProcess.started("no-metrics", arguments: ["--no-metrics"])
        defer { quiet.stop() }
        let off = try await quiet.request(.GET, "/metrics")
        #expect(off.status == 404)
        #expect((off.json["error"] as? String)?.contains("--no-metrics") == true)
    }
}
