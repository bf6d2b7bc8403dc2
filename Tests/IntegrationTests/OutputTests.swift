import DrayStoreTesting
import Foundation
import Testing

/// Outputs you can fetch, replay and reuse, on the real engine: every step's output downloaded
/// (whole, by range, through another node), the step cache, and durable streaming jobs that
/// resume where they failed.
@Suite("Step outputs, the cache and durable streams")
struct OutputTests {
    /// 50 MB of text lines, as the seed's example passes on.
    static let size = 50_000_000
    static let line = "the quick brown fox jumps over the lazy dog"

    static func step(_ name: String, _ script: String, extra: String = "") -> String {
        #"{"name":"\#(name)","source":"dray-test/sh"\#(extra),"environment":[{"variable":"SCRIPT","value":"\#(script)"}]}"#
    }

    /// Three steps of 50 MB each: the lines, upper-cased, then with `_` for spaces.
    static func threeSteps(streaming: Bool) -> String {
        #"{"streaming":\#(streaming),"durable":\#(streaming),"steps":["#
            + step("lines", "yes '\(line)' | head -c \(size)") + ","
            + step("upper", "tr a-z A-Z") + "," + step("joined", "tr ' ' _") + "]}"
    }

    /// What each of ``threeSteps(streaming:)``'s steps passes on.
    static let expected: [Data] = {
        var text = Data()
        let unit = Data((line + "\n").utf8)
        while text.count < size { text.append(unit) }
        let lines = text.prefix(size)
        let upper = Data(lines.map { (0x61...0x7a).contains($0) ? $0 - 32 : $0 })
        let joined = Data(upper.map { $0 == 0x20 ? 0x5f : $0 })
        return [Data(lines), upper, joined]
    }()

    @Test("every step's 50 MB output downloads byte for byte, whole and by range", arguments: [false, true])
    func everyStep(streaming: Bool) async throws {
        let server = try await ServerProcess.started("outputs")
        defer { server.stop() }
        let submitted = try await server.request(.POST, "/jobs", body: Self.threeSteps(streaming: streaming))
        #expect(submitted.status == 201, "\(String(decoding: submitted.body, as: UTF8.self))")
        let id = try #require(submitted.json["id"] as? String)
        let ended = try await server.waitUntilEnded(id)
        #expect(ended["status"] as? String == "complete", "\(ended)")
        for (index, name) in ["lines", "upper", "joined"].enumerated() {
            // By number and by name: the same bytes.
            for step in [String(index + 1), name] {
                let answer = try await server.request(.GET, "/jobs/\(id)/steps/\(step)/output", timeout: .seconds(120))
                #expect(answer.status == 200)
                #expect(answer.headers["content-length"] == String(Self.size))
                #expect(answer.body == Self.expected[index], "step \(step) of a job streaming: \(streaming)")
                #expect(answer.headers["digest"]?.hasPrefix("sha-256=") == true)
                #expect(answer.headers["etag"]?.hasPrefix("\"sha256-") == true)
            }
            let part = try await server.request(
                .GET, "/jobs/\(id)/steps/\(index + 1)/output", headers: ["Range": "bytes=1000000-1000999"])
            #expect(part.status == 206)
            #expect(part.headers["content-range"] == "bytes 1000000-1000999/\(Self.size)")
            #expect(part.body == Self.expected[index][1_000_000...1_000_999])
            let tail = try await server.request(
                .GET, "/jobs/\(id)/steps/\(name)/output", headers: ["Range": "bytes=-100"])
            #expect(tail.status == 206)
            #expect(tail.body == Self.expected[index].suffix(100))
        }
        // The ETag answers a repeated download with 304; a range past the end is a 416 that says why.
        let first = try await server.request(.GET, "/jobs/\(id)/steps/1/output", headers: ["Range": "bytes=0-0"])
        let etag = try #require(first.headers["etag"])
        let again = try await server.request(.GET, "/jobs/\(id)/steps/1/output", headers: ["If-None-Match": etag])
        #expect(again.status == 304)
        let past = try await server.request(
            .GET, "/jobs/\(id)/steps/1/output", headers: ["Range": "bytes=\(Self.size)-"])
        #expect(past.status == 416)
        #expect((past.json["error"] as? String)?.contains("starts past the end") == true)
        let typo = try await server.request(.GET, "/jobs/\(id)/steps/uper/output")
        #expect(typo.status == 404)
        #expect((typo.json["error"] as? String)?.contains(#"did you mean "upper"?"#) == true, "\(typo.json)")

        // dray output writes the same bytes, checked against the server's digest.
        let cli = try await DrayProcess.run(["output", id, "upper"], environment: ["DRAY_URL": server.url])
        #expect(cli.status == 0, "\(cli.stderr)")
        #expect(cli.stdout == Self.expected[1])
    }

    @Test("a streaming job that is not durable says which outputs it kept")
    func notDurable() async throws {
        let server = try await ServerProcess.started("outputs-streamed")
        defer { server.stop() }
        let job =
            #"{"streaming":true,"steps":["# + Self.step("a", "echo one") + "," + Self.step("b", "tr a-z A-Z") + "]}"
        let id = try #require(try await server.request(.POST, "/jobs", body: job).json["id"] as? String)
        #expect(try await server.waitUntilEnded(id)["status"] as? String == "complete")
        let kept = try await server.request(.GET, "/jobs/\(id)/steps/b/output")
        #expect(String(decoding: kept.body, as: UTF8.self) == "ONE\n")
        let streamed = try await server.request(.GET, "/jobs/\(id)/steps/a/output")
        #expect(streamed.status == 409)
        #expect((streamed.json["error"] as? String)?.contains(#""durable": true"#) == true, "\(streamed.json)")
        // durable on a job that is not streaming is refused, naming the field.
        let refused = try await server.request(
            .POST, "/jobs", body: #"{"durable":true,"steps":[{"source":"dray-test/sh"}]}"#)
        #expect(refused.status == 400)
        #expect((refused.json["error"] as? String)?.contains("durable applies to a streaming job") == true)
    }

    @Test("a node that does not hold a step's output forwards the download to the one that does")
    func forwarded() async throws {
        let store = try await PostgresServer.freshDatabase()
        // The API node runs no jobs: the worker node runs them, and holds their spools.
        let worker = try await Self.node("w1", store: store, slots: 2)
        defer { worker.stop() }
        // Loopback is refused as a peer unless named, as a registry is.
        let front = try await Self.node("a1", store: store, slots: 0, allow: ["127.0.0.1:\(worker.port)"])
        defer { front.stop() }
        let job = #"{"steps":["# + Self.step("lines", "yes '\(Self.line)' | head -c \(Self.size)") + "]}"
        let id = try #require(try await front.request(.POST, "/jobs", body: job).json["id"] as? String)
        let ended = try await front.waitUntilEnded(id)
        #expect(ended["status"] as? String == "complete")
        let whole = try await front.request(.GET, "/jobs/\(id)/steps/1/output", timeout: .seconds(120))
        #expect(whole.status == 200)
        #expect(whole.body == Self.expected[0])
        #expect(whole.headers["digest"]?.hasPrefix("sha-256=") == true)
        let part = try await front.request(
            .GET, "/jobs/\(id)/steps/lines/output", headers: ["Range": "bytes=10-19"])
        #expect(part.status == 206)
        #expect(part.body == Self.expected[0][10...19])
        // A node that does not name the worker's address sends it neither the request nor the token.
        let strict = try await Self.node("a2", store: store, slots: 0)
        defer { strict.stop() }
        let refused = try await strict.request(.GET, "/jobs/\(id)/steps/1/output")
        #expect(refused.status == 409)
        #expect((refused.json["error"] as? String)?.contains("--allow-peer") == true, "\(refused.json)")
    }

    /// A node on the PostgreSQL store `store` that advertises its own URL.
    static func node(_ id: String, store: String, slots: Int, allow: [String] = []) async throws -> ServerProcess {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dray-\(id)-\(UUID().uuidString)")
            .path
        let port = try LoopbackPort.free()
        let server = try ServerProcess(
            dataDirectory: folder,
            arguments: [
                "--store", store, "--node-id", id, "--max-concurrent-jobs", String(slots), "--advertise-url",
                "http://127.0.0.1:\(port)",
            ] + allow.flatMap { ["--allow-peer", $0] }, port: port)
        try await server.waitUntilUp()
        return server
    }

    @Test(
        "a cached step does not run again: the same bytes and log, at once; a changed input, image, command or secret runs it"
    )
    func cache() async throws {
        let tag = "dray-test/cached:\(UUID().uuidString.prefix(8).lowercased())"
        try await Shell.check(
            ["sh", "-c", "printf 'FROM dray-test/sh\\nENV FLAVOUR=one\\n' | docker build -q -t \(tag) -"])
        defer { Task { try? await Shell.run(["docker", "rmi", "-f", tag]) } }
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("dray-cache-\(UUID().uuidString)")
            .path
        var server = try ServerProcess(dataDirectory: data)
        try await server.waitUntilUp()
        defer { server.stop() }
        func job(
            input: String = "abc", secret: String = "secret-value-one", script: String = "sleep 3; tr a-z A-Z",
            command: String = "first"
        ) -> String {
            #"{"cache":true,"steps":["#
                + #"{"source":"dray-test/sh","environment":[{"variable":"SCRIPT","value":"echo \#(input)"}]},"#
                + #"{"source":"\#(tag)","command":["\#(command)"],"#
                + #""environment":[{"variable":"SCRIPT","value":"cat /proc/sys/kernel/random/uuid >&2; \#(script)"},"#
                + #"{"variable":"TOKEN","value":"\#(secret)","secret":true}]}]}"#
        }
        func run(_ body: String) async throws -> (state: [String: Any], seconds: Double, log: [String], output: Data) {
            let id = try #require(try await server.request(.POST, "/jobs", body: body).json["id"] as? String)
            let state = try await server.waitUntilEnded(id)
            #expect(state["status"] as? String == "complete", "\(state)")
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            let started = try #require((state["startedAt"] as? String).flatMap(formatter.date))
            let finished = try #require((state["finishedAt"] as? String).flatMap(formatter.date))
            let log = try await server.request(.GET, "/jobs/\(id)/log").json["lines"] as? [String] ?? []
            let output = try await server.request(.GET, "/jobs/\(id)/output").body
            return (state, finished.timeIntervalSince(started), log, output)
        }
        func cached(_ state: [String: Any]) -> [Bool] {
            (state["steps"] as? [[String: Any]] ?? []).map { $0["cached"] != nil }
        }
        let first = try await run(job())
        #expect(cached(first.state) == [false, false])
        // The cache survives a restart of the server.
        await server.stopped()
        server = try ServerProcess(dataDirectory: data)
        try await server.waitUntilUp()
        let second = try await run(job())
        #expect(cached(second.state) == [true, true])
        let origin = (second.state["steps"] as? [[String: Any]])?[1]["cached"] as? [String: Any]
        #expect(origin?["job"] as? String == first.state["id"] as? String)
        #expect(origin?["step"] as? Int == 2)
        #expect(second.output == first.output)
        #expect(String(decoding: second.output, as: UTF8.self) == "ABC\n")
        // The log is the first run's, replayed: the same time stamp the step wrote then.
        #expect(second.log == first.log, "\(second.log) against \(first.log)")
        // With a 3 s step, a run from the cache takes a small part of it: well under a fifth.
        print("cache: a job with a 3 s step took \(first.seconds) s, then \(second.seconds) s from the cache")
        #expect(second.seconds * 5 < first.seconds)

        // Each change is a miss for the step it touches.
        #expect(cached(try await run(job(input: "abd")).state) == [false, false], "an input byte")
        #expect(cached(try await run(job(secret: "secret-value-two")).state) == [true, false], "a secret's value")
        #expect(cached(try await run(job(command: "second")).state) == [true, false], "the command")
        #expect(cached(try await run(job(script: "sleep 3; tr a-z A-Y")).state) == [true, false], "the script")
        try await Shell.check(
            ["sh", "-c", "printf 'FROM dray-test/sh\\nENV FLAVOUR=two\\n' | docker build -q -t \(tag) -"])
        #expect(cached(try await run(job()).state) == [true, false], "the image behind the same tag")
        let stats = try await server.request(.GET, "/cache").json
        #expect((stats["hits"] as? Int ?? 0) >= 4, "\(stats)")
        #expect((stats["entries"] as? Int ?? 0) >= 6, "\(stats)")
        let metrics = String(decoding: try await server.request(.GET, "/metrics").body, as: UTF8.self)
        #expect(metrics.contains("dray_cache_hits_total"))
        #expect(try await server.request(.DELETE, "/cache").status == 200)
        #expect(try await server.request(.GET, "/cache").json["entries"] as? Int == 0)
        // A secret's value is never on the cache's disk in clear.
        let grep = try await Shell.run(["grep", "-r", "-l", "secret-value", data + "/cache"])
        #expect(grep.status != 0, "a secret's value was found in the cache")
    }

    @Test("the cache stays under its bound while 20 jobs fill it")
    func bound() async throws {
        // Each entry holds 1 MB of output and its 1 MB of log lines: two fit, not three.
        let server = try await ServerProcess.started("cache-bound", arguments: ["--cache-max-bytes", "5M"])
        defer { server.stop() }
        var most = 0
        for index in 0..<20 {
            let job =
                #"{"cache":true,"steps":["#
                + Self.step("mb", "yes '\(index): \(Self.line)' | head -c 1000000") + "]}"
            let id = try #require(try await server.request(.POST, "/jobs", body: job).json["id"] as? String)
            #expect(try await server.waitUntilEnded(id)["status"] as? String == "complete")
            let stats = try await server.request(.GET, "/cache").json
            let bytes = try #require(stats["bytes"] as? Int)
            #expect(bytes <= 5 << 20, "\(stats)")
            most = max(most, bytes)
        }
        #expect(most > 4_000_000, "the cache held two entries")
    }

    @Test("a durable streaming job whose third step fails resumes from the third step, byte for byte")
    func durableResume() async throws {
        let tag = "dray-test/flaky:\(UUID().uuidString.prefix(8).lowercased())"
        try await Shell.check(
            [
                "sh", "-c",
                "printf 'FROM dray-test/sh\\nENV SCRIPT=\"cat > /dev/null; exit 4\"\\n' | docker build -q -t \(tag) -",
            ])
        defer { Task { try? await Shell.run(["docker", "rmi", "-f", tag]) } }
        let server = try await ServerProcess.started("durable")
        defer { server.stop() }
        let job =
            #"{"streaming":true,"durable":true,"steps":["#
            + Self.step("lines", "yes '\(Self.line)' | head -c \(Self.size)") + ","
            + Self.step("upper", "tr a-z A-Z") + ","
            + #"{"name":"flaky","source":"\#(tag)"}]}"#
        let id = try #require(try await server.request(.POST, "/jobs", body: job).json["id"] as? String)
        let failed = try await server.waitUntilEnded(id)
        #expect(failed["status"] as? String == "error", "\(failed)")
        let before = try #require(failed["steps"] as? [[String: Any]])
        try await Shell.check(
            ["sh", "-c", "printf 'FROM dray-test/sh\\nENV SCRIPT=cat\\n' | docker build -q -t \(tag) -"])
        #expect(try await server.request(.POST, "/jobs/\(id)/resume").status == 202)
        let resumed = try await server.waitUntilEnded(id)
        #expect(resumed["status"] as? String == "complete", "\(resumed)")
        let after = try #require(resumed["steps"] as? [[String: Any]])
        for index in [0, 1] {
            #expect(
                after[index]["startedAt"] as? String == before[index]["startedAt"] as? String,
                "step \(index + 1) ran again")
        }
        let output = try await server.request(.GET, "/jobs/\(id)/output", timeout: .seconds(120))
        #expect(output.body == Self.expected[1])
    }

    @Test("a durable streaming job retries its failed step from that step; the steps before it do not run again")
    func durableRetry() async throws {
        let server = try await ServerProcess.started("durable-retry")
        defer { server.stop() }
        // The second step fails its first attempt (DRAY_ATTEMPT=1) and passes its second.
        let job =
            #"{"streaming":true,"durable":true,"steps":["#
            + Self.step("lines", "yes '\(Self.line)' | head -c 1000000; echo ran lines >&2") + ","
            + Self.step(
                "flaky", "[ $DRAY_ATTEMPT -ge 2 ] || { cat > /dev/null; exit 4; }; wc -c",
                extra: #","retries":2,"retryDelay":1"#)
            + "]}"
        let id = try #require(try await server.request(.POST, "/jobs", body: job).json["id"] as? String)
        let ended = try await server.waitUntilEnded(id)
        #expect(ended["status"] as? String == "complete", "\(ended)")
        let steps = try #require(ended["steps"] as? [[String: Any]])
        #expect(steps[1]["attempts"] as? [Int] == [4, 0], "\(steps[1])")
        let log = try await server.request(.GET, "/jobs/\(id)/log?step=lines").json["lines"] as? [String] ?? []
        #expect(log.filter { $0 == "ran lines" }.count == 1, "the first step ran once")
        let output = try await server.request(.GET, "/jobs/\(id)/output")
        #expect(
            String(decoding: output.body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == "1000000")
    }
}
