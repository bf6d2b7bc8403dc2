import AsyncHTTPClient
import DrayAPI
import DrayStoreTesting
import Foundation
import NIOCore
import Testing

/// Inside the pipes, on the real engine: a tap on a running step's edge, the edges' figures,
/// and the step they name as the bottleneck.
@Suite("Taps and edge figures")
struct TapTests {
    /// A step of the test image running `script`, as JSON.
    static func step(_ name: String, _ script: String) -> String {
        OutputTests.step(name, script)
    }

    /// The events of a tap, as they come: each with the time it came and whether the job was
    /// still running then, until the `end` event (or `limit` events).
    static func events(
        _ server: ServerProcess, _ path: String, job id: String, limit: Int = .max
    ) async throws -> [(event: LiveLog.Reader.Event, jobRunning: Bool)] {
        let response = try await HTTPClient.shared.execute(
            HTTPClientRequest(url: server.url + path), timeout: .seconds(60))
        if response.status.code != 200 {
            Issue.record(
                "\(path): \(response.status): \(String(buffer: try await response.body.collect(upTo: 1 << 20)))")
        }
        #expect(response.headers.first(name: "content-type") == "text/event-stream")
        var reader = LiveLog.Reader()
        var events: [(LiveLog.Reader.Event, Bool)] = []
        for try await chunk in response.body {
            for event in reader.feed(chunk) {
                let running = try await server.request(.GET, "/jobs/\(id)").json["status"] as? String == "running"
                events.append((event, running))
                if event.type == "end" || events.count >= limit { return events }
            }
        }
        return events
    }

    @Test("a tap on a streaming step shows its numbered lines while the job runs; dray tap prints them")
    func liveLines() async throws {
        let server = try await ServerProcess.started("tap-live")
        defer { server.stop() }
        let job =
            #"{"streaming":true,"steps":["#
            + Self.step("count", "i=0; while [ $i -lt 40 ]; do i=$((i+1)); echo line $i; sleep 0.1; done") + ","
            + Self.step("upper", "tr a-z A-Z") + "]}"
        let id = try #require(try await server.request(.POST, "/jobs", body: job).json["id"] as? String)
        // Opened before its step starts, the tap waits for it.
        let url = server.url
        async let tapped = DrayProcess.run(["tap", "--url", url, id, "count"])
        let events = try await Self.events(server, "/jobs/\(id)/steps/count/tap", job: id)
        #expect(events.first?.event.type == "start")
        let lines = events.filter { $0.event.type == "message" }
        #expect(lines.map(\.event.data) == (1...40).map { "line \($0)" }, "\(events.map(\.event))")
        #expect(lines.filter(\.jobRunning).count >= 30, "the lines came while the job ran")
        #expect(events.last?.event.type == "end")
        #expect(events.last?.event.data == #"{"bytes":\#((1...40).map { "line \($0)\n" }.joined().utf8.count)}"#)
        let cli = try await tapped
        #expect(cli.status == 0, "\(cli.stderr)")
        #expect(String(decoding: cli.stdout, as: UTF8.self) == (1...40).map { "line \($0)\n" }.joined())
        #expect(try await server.waitUntilEnded(id)["status"] as? String == "complete")
    }

    @Test(
        "from=start replays the spool first; lines are masked and escaped, hex is exact; a step not running is a 409 unless from=start; bad parameters are 400s"
    )
    func replayAndFormats() async throws {
        let server = try await ServerProcess.started("tap-formats")
        defer { server.stop() }
        // Each line holds the secret, an OSC 52 clipboard write and a byte that is not UTF-8.
        let script =
            #"i=0; while [ $i -lt 30 ]; do i=$((i+1)); printf 'line %s %s \\033]52;c;eA==\\007 \\377\\n' $i \"$TOKEN\"; sleep 0.1; done"#
        let job =
            #"{"steps":[{"name":"noisy","source":"dray-test/sh","environment":[{"variable":"SCRIPT","value":"\#(script)"},{"variable":"TOKEN","value":"hunter2-secret","secret":true}]},"#
            + Self.step("last", "wc -l") + "]}"
        let id = try #require(try await server.request(.POST, "/jobs", body: job).json["id"] as? String)
        try await waitForLines(server, id, atLeast: 5)
        let replayed = try await Self.events(server, "/jobs/\(id)/steps/noisy/tap?from=start", job: id, limit: 12)
        #expect(replayed.first?.event.data == #"{"offset":0}"#)
        let shown = replayed.filter { $0.event.type == "message" }.map(\.event.data)
        #expect(shown.first == #"line 1 *** \x1b]52;c;eA==\x07 \xff"#, "\(replayed.map(\.event))")
        #expect(shown.count == 11 && shown.enumerated().allSatisfy { $1.hasPrefix("line \($0 + 1) ") }, "\(shown)")
        let hex = try await Self.events(server, "/jobs/\(id)/steps/1/tap?format=hex", job: id, limit: 2)
        let bytes = try #require(hex.last?.event.data)
        #expect(
            bytes.hasPrefix("6c696e6520") && bytes.contains("68756e746572322d736563726574"),
            "hex is the bytes, unmasked")
        for (query, field) in [("format=json", "format"), ("from=end", "from")] {
            let refused = try await server.request(.GET, "/jobs/\(id)/steps/1/tap?\(query)")
            #expect(refused.status == 400)
            #expect((refused.json["error"] as? String)?.hasPrefix(field) == true, "\(refused.json)")
        }
        let missing = try await server.request(.GET, "/jobs/\(id)/steps/nosiy/tap")
        #expect(missing.status == 404)
        #expect((missing.json["error"] as? String)?.contains(#"did you mean "noisy""#) == true, "\(missing.json)")
        #expect(try await server.waitUntilEnded(id)["status"] as? String == "complete")
        let ended = try await server.request(.GET, "/jobs/\(id)/steps/1/tap")
        #expect(ended.status == 409)
        #expect((ended.json["error"] as? String)?.contains("from=start") == true, "\(ended.json)")
        // Its secrets erased as it completed, its lines cannot be masked: hex replays it.
        let unmaskable = try await server.request(.GET, "/jobs/\(id)/steps/1/tap?from=start")
        #expect(unmaskable.status == 409)
        #expect((unmaskable.json["error"] as? String)?.contains("format=hex") == true, "\(unmaskable.json)")
        let whole = try await Self.events(server, "/jobs/\(id)/steps/1/tap?from=start&format=hex", job: id)
        let hexes = whole.filter { $0.event.type == "message" }.map(\.event.data).joined()
        let output = try await server.request(.GET, "/jobs/\(id)/steps/1/output").body
        #expect(hexes == output.map { String(format: "%02x", $0) }.joined())
    }

    /// Waits until job `id` has logged `count` lines.
    func waitForLines(_ server: ServerProcess, _ id: String, atLeast count: Int) async throws {
        for _ in 0..<600 {
            let lines = try await server.request(.GET, "/jobs/\(id)/log").json["lines"] as? [String] ?? []
            if lines.count >= count { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("job \(id) did not log \(count) lines within 30 s")
    }

    @Test("the edges' figures name the slow step of a streaming job, live and once it has ended; /metrics has them")
    func bottleneck() async throws {
        let server = try await ServerProcess.started("tap-edges")
        defer { server.stop() }
        let size = 8_000_000
        let job =
            #"{"streaming":true,"steps":["#
            + Self.step("make", "yes 'a line of text' | head -c \(size)") + ","
            // Reads 64 KiB, then rests: the producer waits for it, and the consumer after it waits too.
            + Self.step(
                "slow", "while :; do c=$(head -c 65536 | wc -c); [ $c -eq 0 ] && break; echo read $c; sleep 0.02; done")
            + ","
            + Self.step("count", "wc -l") + "]}"
        let id = try #require(try await server.request(.POST, "/jobs", body: job).json["id"] as? String)
        var live: [String: Any] = [:]
        for _ in 0..<300 {
            live = try await server.request(.GET, "/jobs/\(id)").json
            if live["status"] as? String != "running" || live["bottleneck"] as? Int == 2 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(
            live["status"] as? String == "running" && live["bottleneck"] as? Int == 2, "named while it runs: \(live)")
        let state = try await server.waitUntilEnded(id)
        #expect(state["status"] as? String == "complete")
        #expect(state["bottleneck"] as? Int == 2, "\(state)")
        let edges = try #require(state["edges"] as? [[String: Any]])
        #expect(edges.map { [$0["from"] as? Int, $0["to"] as? Int] } == [[1, 2], [2, 3]])
        #expect(edges[0]["bytes"] as? Int == size && edges[0]["lines"] as? Int == size / 15)
        #expect(edges.allSatisfy { $0["live"] as? Bool == true })
        // The step after the slow one waited for it; the one before it waited less than that.
        let before = try #require(edges[0]["waitedSeconds"] as? Double)
        let after = try #require(edges[1]["waitedSeconds"] as? Double)
        #expect(after > 0.5 && after > before, "\(edges)")
        #expect((edges[0]["blockedSeconds"] as? Double ?? -1) >= 0)
        let steps = try #require(state["steps"] as? [[String: Any]])
        #expect(steps[0]["outputLines"] as? Int == size / 15)
        let metrics = String(decoding: try await server.request(.GET, "/metrics").body, as: UTF8.self)
        for name in [
            "dray_edge_blocked_seconds_count 2", "dray_edge_waited_seconds_count 2",
            "dray_edge_throughput_bytes_per_second_count 3",
        ] {
            #expect(metrics.contains(name), "\(name) in /metrics")
        }
    }

    @Test("a node that does not run the job forwards the tap to the one that does")
    func forwarded() async throws {
        let store = try await PostgresServer.freshDatabase()
        let worker = try await OutputTests.node("tw", store: store, slots: 1)
        defer { worker.stop() }
        let front = try await OutputTests.node("tf", store: store, slots: 0, allow: ["127.0.0.1:\(worker.port)"])
        defer { front.stop() }
        let job =
            #"{"steps":["#
            + Self.step("count", "i=0; while [ $i -lt 20 ]; do i=$((i+1)); echo line $i; sleep 0.1; done") + "]}"
        let id = try #require(try await front.request(.POST, "/jobs", body: job).json["id"] as? String)
        for _ in 0..<600 {
            if try await front.request(.GET, "/jobs/\(id)").json["phase"] as? String == "running" { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let events = try await Self.events(front, "/jobs/\(id)/steps/1/tap?from=start", job: id)
        #expect(events.filter { $0.event.type == "message" }.map(\.event.data) == (1...20).map { "line \($0)" })
        #expect(events.last?.event.type == "end")
    }
}
