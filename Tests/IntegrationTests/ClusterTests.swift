import DockerClient
import DrayStoreTesting
import Foundation
import Testing

/// Many `dray serve` nodes on one PostgreSQL, as real processes on the real engine.
@Suite("Many nodes, one store", .serialized, .timeLimit(.minutes(3)))
struct ClusterTests {
    /// A node: `dray serve` with `--node-id`, on `store`, with a short lease.
    static func node(
        _ id: String, store: String, lease: String = "3s", slots: Int = 2, data: String? = nil,
        environment: [String: String] = [:]
    ) async throws -> ServerProcess {
        let folder =
            data
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("dray-\(id)-\(UUID().uuidString)").path
        let server = try ServerProcess(
            dataDirectory: folder, environment: environment,
            arguments: [
                "--store", store, "--node-id", id, "--lease", lease, "--max-concurrent-jobs", String(slots),
            ])
        try await server.waitUntilUp()
        return server
    }

    static func submit(_ node: ServerProcess, _ script: String, name: String? = nil) async throws -> String {
        let answer = try await node.request(.POST, "/jobs", body: ServerProcess.shellJob(script, name: name))
        try #require(answer.status == 201, "\(String(decoding: answer.body, as: UTF8.self))")
        return try #require(answer.json["id"] as? String)
    }

    /// Waits until `condition` holds for job `id` as `node` reads it; 60 s at most.
    static func wait(
        _ node: ServerProcess, _ id: String, headers: [String: String] = [:],
        until condition: ([String: Any]) -> Bool, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> [String: Any] {
        var state: [String: Any] = [:]
        for _ in 0..<600 {
            state = try await node.request(.GET, "/jobs/\(id)", headers: headers).json
            if condition(state) { return state }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("job \(id) did not get there within 60 s: \(state)", sourceLocation: sourceLocation)
        return state
    }

    @Test("three nodes share a queue: every job runs once; any node lists, follows, cancels and deletes any job")
    func shareAQueue() async throws {
        let store = try await PostgresServer.freshDatabase()
        var nodes: [ServerProcess] = []
        for id in ["n1", "n2", "n3"] { nodes.append(try await Self.node(id, store: store)) }
        defer { for node in nodes { node.stop() } }

        var ids: [String] = []
        for index in 0..<12 {
            ids.append(try await Self.submit(nodes[index % 3], "echo ran \(index); sleep 0.5"))
        }
        var ranOn: [String: Int] = [:]
        for (index, id) in ids.enumerated() {
            let state = try await Self.wait(nodes[(index + 1) % 3], id) { $0["status"] as? String != "running" }
            #expect(state["status"] as? String == "complete")
            ranOn[state["node"] as? String ?? "?", default: 0] += 1
            let log = try await nodes[(index + 2) % 3].request(.GET, "/jobs/\(id)/log").json["lines"] as? [String]
            #expect(log == ["ran \(index)"], "each job ran once")
        }
        #expect(ranOn.keys.sorted() == ["n1", "n2", "n3"], "the jobs ran on every node: \(ranOn)")
        let listed = try JSONSerialization.jsonObject(with: try await nodes[2].request(.GET, "/jobs").body)
        #expect((listed as? [[String: Any]])?.compactMap { $0["id"] as? String } == ids)

        // Follow, cancel and delete through nodes other than the one that runs the job.
        let ticker = try await Self.submit(nodes[0], "for i in 1 2 3 4 5; do echo tick $i; sleep 0.2; done")
        let running = try await Self.wait(nodes[0], ticker) { $0["node"] != nil }
        let owner = try #require(running["node"] as? String)
        let other = nodes.first { $0.url != nodes[["n1", "n2", "n3"].firstIndex(of: owner)!].url }!
        let events = String(
            decoding: try await other.request(.GET, "/jobs/\(ticker)/log?follow=true", timeout: .seconds(60)).body,
            as: UTF8.self)
        #expect(events.contains("data: tick 5") && events.contains("event: end"), "\(events)")

        let long = try await Self.submit(nodes[0], "sleep 120")
        let claimed = try await Self.wait(nodes[0], long) { $0["phase"] as? String == "running" }
        let longOwner = try #require(claimed["node"] as? String)
        let asker = nodes[(["n1", "n2", "n3"].firstIndex(of: longOwner)! + 1) % 3]
        let canceled = try await asker.request(.POST, "/jobs/\(long)/cancel")
        #expect(canceled.status == 200, "\(String(decoding: canceled.body, as: UTF8.self))")
        #expect(canceled.json["status"] as? String == "error" && canceled.json["reason"] as? String == "canceled")

        let doomed = try await Self.submit(nodes[1], "sleep 120")
        let doomedState = try await Self.wait(nodes[1], doomed) { $0["phase"] as? String == "running" }
        let doomedOwner = try #require(doomedState["node"] as? String)
        let deleter = nodes[(["n1", "n2", "n3"].firstIndex(of: doomedOwner)! + 2) % 3]
        #expect(try await deleter.request(.DELETE, "/jobs/\(doomed)").status == 204)
        #expect(try await nodes[0].request(.GET, "/jobs/\(doomed)").status == 404)
        try await TestEngine.withClient { docker async throws in
            for _ in 0..<100 {
                let left =
                    try await docker.listContainers(label: "dray.job=\(long)")
                    + docker.listContainers(label: "dray.job=\(doomed)")
                if left.isEmpty { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(try await docker.listContainers(label: "dray.job=\(long)").isEmpty)
            #expect(try await docker.listContainers(label: "dray.job=\(doomed)").isEmpty)
        }
    }

    @Test(
        "kill -9 a node: its running job ends in node-lost, queued jobs run elsewhere; its container is removed by the node that ended it"
    )
    func killANode() async throws {
        let store = try await PostgresServer.freshDatabase()
        let firstData = FileManager.default.temporaryDirectory.appendingPathComponent("dray-n1-\(UUID().uuidString)")
            .path
        let first = try await Self.node("n1", store: store, slots: 1, data: firstData)
        let long = try await Self.submit(first, "echo started; sleep 120")
        _ = try await Self.wait(first, long) { $0["phase"] as? String == "running" }
        let queued = [try await Self.submit(first, "echo one"), try await Self.submit(first, "echo two")]
        for id in queued { #expect(try await first.request(.GET, "/jobs/\(id)").json["phase"] as? String == "queued") }
        first.kill9()
        let killed = ContinuousClock.now

        let second = try await Self.node("n2", store: store)
        defer { second.stop() }
        for id in queued {
            #expect(
                try await Self.wait(second, id) { $0["status"] as? String != "running" }["status"] as? String
                    == "complete")
        }
        let lost = try await Self.wait(second, long) { $0["status"] as? String != "running" }
        let after = ContinuousClock.now - killed
        print("a kill -9'd node's job was ended \(after) after the kill (lease 3 s)")
        #expect(lost["reason"] as? String == "node-lost")
        #expect((lost["error"] as? String)?.contains("node n1") == true)
        let listed = try JSONSerialization.jsonObject(with: try await second.request(.GET, "/jobs?status=running").body)
        #expect((listed as? [Any])?.isEmpty == true, "nothing stays running")

        try await TestEngine.withClient { docker async throws in
            // n2 ended the job, and removes its container from the engine they share: a lost
            // node's step does not run on until that node comes back.
            var left = try await docker.listContainers(label: "dray.job=\(long)")
            for _ in 0..<100 where !left.isEmpty {
                try await Task.sleep(for: .milliseconds(100))
                left = try await docker.listContainers(label: "dray.job=\(long)")
            }
            #expect(left.isEmpty, "n2 removed the lost node's container")
            let again = try await Self.node("n1", store: store, slots: 1, data: firstData)
            defer { again.stop() }
            #expect(try await docker.listContainers(label: "dray.job=\(long)").isEmpty, "back, n1 finds none left")
            let state = try await again.request(.GET, "/jobs/\(long)").json
            #expect(state["reason"] as? String == "node-lost", "and left the job as n2 ended it")
        }
    }

    /// How far ahead of the host's clock `node` stamped its first log line, in seconds.
    static func clockOffset(of node: ServerProcess) -> TimeInterval? {
        let format = DateFormatter()
        format.locale = Locale(identifier: "en_US_POSIX")
        format.dateFormat = "yyyy-MM-dd'T'HH:mm:ssZ"
        guard let stamp = node.log.split(separator: " ").first, let date = format.date(from: String(stamp)) else {
            return nil
        }
        return date.timeIntervalSinceNow
    }

    @Test(
        "nodes whose clocks are two hours apart: neither takes a live node's job, and a killed node's job still ends within its lease"
    )
    func skewedClocks() async throws {
        let store = try await PostgresServer.freshDatabase()
        // Ahead by an hour: were leases reckoned on the nodes' clocks, it would find every other
        // node's lease run out; behind by an hour, it would wait two hours for a dead node's.
        let ahead = try await Self.node("ahead", store: store, slots: 1, environment: ServerProcess.clock("+1h"))
        defer { ahead.stop() }
        let long = try await Self.submit(ahead, "sleep 120")
        _ = try await Self.wait(ahead, long) { $0["phase"] as? String == "running" }
        let offset = try #require(Self.clockOffset(of: ahead))
        #expect(abs(offset - 3600) < 120, "the node's clock is an hour ahead: \(offset) s")
        let behind = try await Self.node("behind", store: store, slots: 1, environment: ServerProcess.clock("-1h"))
        defer { behind.stop() }
        let short = try await Self.submit(behind, "sleep 7; echo done")
        let state = try await Self.wait(behind, short) { $0["status"] as? String != "running" }
        #expect(state["status"] as? String == "complete", "the node ahead did not take it: \(state)")
        #expect(state["node"] as? String == "behind")
        #expect(try await behind.request(.GET, "/jobs/\(long)").json["status"] as? String == "running")

        ahead.kill9()
        let killed = ContinuousClock.now
        let lost = try await Self.wait(behind, long) { $0["status"] as? String != "running" }
        #expect(lost["reason"] as? String == "node-lost", "\(lost)")
        let after = ContinuousClock.now - killed
        print(
            "a killed node's job, seen by a node whose clock is two hours behind, ended \(after) after the kill (lease 3 s)"
        )
        #expect(after < .seconds(30), "the node behind did not wait for its own clock to pass the lease")
    }

    @Test("a node paused past its lease finds its job taken: it stops the step and writes nothing")
    func pausedNode() async throws {
        let store = try await PostgresServer.freshDatabase()
        let paused = try await Self.node("p1", store: store)
        defer { paused.stop() }
        let id = try await Self.submit(paused, "echo started; sleep 120")
        _ = try await Self.wait(paused, id) { $0["phase"] as? String == "running" }
        let watcher = try await Self.node("p2", store: store)
        defer { watcher.stop() }
        paused.signal(SIGSTOP)
        let lost = try await Self.wait(watcher, id) { $0["status"] as? String != "running" }
        #expect(lost["reason"] as? String == "node-lost")
        paused.signal(SIGCONT)
        try await TestEngine.withClient { docker async throws in
            for _ in 0..<150 {
                if try await docker.listContainers(label: "dray.job=\(id)").isEmpty { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(
                try await docker.listContainers(label: "dray.job=\(id)").isEmpty, "the paused node stopped its step")
        }
        try await Task.sleep(for: .seconds(2))
        let after = try await watcher.request(.GET, "/jobs/\(id)").json
        #expect(after["reason"] as? String == "node-lost", "the paused node's writes were refused")
        #expect(after["error"] as? String == lost["error"] as? String)
        #expect(paused.log.contains("lease ran out"), "the paused node said why it stopped its job")
    }

    @Test(
        "resume on another node: from the failed step when the nodes share --spool-dir, else from step 1",
        arguments: [true, false])
    func resumeElsewhere(sharedSpool: Bool) async throws {
        let store = try await PostgresServer.freshDatabase()
        let spool = FileManager.default.temporaryDirectory.appendingPathComponent("dray-spool-\(UUID().uuidString)")
            .path
        func node(_ id: String) async throws -> ServerProcess {
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
                "dray-\(id)-\(UUID().uuidString)"
            )
            .path
            let server = try ServerProcess(
                dataDirectory: folder,
                arguments: ["--store", store, "--node-id", id] + (sharedSpool ? ["--spool-dir", spool] : []))
            try await server.waitUntilUp()
            return server
        }
        let first = try await node("s1")
        let body =
            #"{"steps":[{"source":"dray-test/sh","environment":[{"variable":"SCRIPT","value":"echo one"}]},{"source":"dray-test/sh","environment":[{"variable":"SCRIPT","value":"cat; exit 1"}]}]}"#
        let id = try #require(try await first.request(.POST, "/jobs", body: body).json["id"] as? String)
        #expect(try await first.waitUntilEnded(id)["stepsCompleted"] as? Int == 1)
        await first.stopped()
        let second = try await node("s2")
        defer { second.stop() }
        #expect(try await second.request(.POST, "/jobs/\(id)/resume").status == 202)
        let state = try await Self.wait(second, id) { $0["status"] as? String == "error" }
        #expect(state["node"] as? String == "s2")
        let log = try await second.request(.GET, "/jobs/\(id)/log").json["lines"] as? [String]
        // Step 1 prints one, step 2 passes it on; resumed, step 2 alone runs again, or both do.
        #expect(log == Array(repeating: "one", count: sharedSpool ? 3 : 4), "\(log ?? [])")
    }

    @Test("PostgreSQL restarts while a job runs: 503s meanwhile, then the job completes, no node restarted")
    func storeRestarts() async throws {
        let postgres = try await PostgresServer()
        let node = try await Self.node("r1", store: postgres.url, lease: "10s")
        defer { node.stop() }
        let id = try await Self.submit(node, "for i in $(seq 1 12); do echo line $i; sleep 0.5; done")
        _ = try await Self.wait(node, id) { $0["phase"] as? String == "running" }
        try await postgres.stop()
        #expect(try await node.request(.GET, "/jobs/\(id)").status == 503)
        #expect(try await node.request(.GET, "/readyz").status == 503)
        try await Task.sleep(for: .seconds(2))
        try await postgres.start()
        let state = try await Self.wait(node, id) { $0["status"] as? String != "running" }
        #expect(state["status"] as? String == "complete")
        #expect(
            try await node.request(.GET, "/jobs/\(id)/log").json["lines"] as? [String]
                == (1...12).map { "line \($0)" })
        #expect(try await node.request(.GET, "/readyz").status == 200)
        try await postgres.stop()
    }
}
