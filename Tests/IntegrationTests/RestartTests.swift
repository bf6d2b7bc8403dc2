import DockerClient
import DrayStoreTesting
import Foundation
import Testing

@Suite("dray serve as a process")
struct RestartTests {
    @Test("kill -9 while a job runs: after a restart the job is in error and no container is left")
    func restart() async throws {
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("dray-restart-\(UUID().uuidString)")
            .path
        let first = try ServerProcess(dataDirectory: data)
        defer { first.stop() }
        try await first.waitUntilUp()
        let body =
            #"{"steps":[{"source":"dray-test/sh","environment":[{"variable":"SCRIPT","value":"echo started; sleep 120"}]}]}"#
        let created = try await first.request(.POST, "/jobs", body: body)
        #expect(created.status == 201)
        let id = try #require(created.json["id"] as? String)
        try await TestEngine.withClient { docker async throws in
            // Wait until the step's container runs and its first line is logged.
            for _ in 0..<1200 {
                let log = try await first.request(.GET, "/jobs/\(id)/log")
                if (log.json["lines"] as? [String]) == ["started"] { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(try await !docker.listContainers(label: "dray.job=\(id)").isEmpty)
            first.kill9()

            let second = try ServerProcess(dataDirectory: data)
            defer { second.stop() }
            try await second.waitUntilUp()
            let state = try await second.request(.GET, "/jobs/\(id)").json
            #expect(state["status"] as? String == "error")
            #expect(state["error"] as? String == "server restarted while the job was running")
            #expect(try await second.request(.GET, "/jobs/\(id)/log").json["lines"] as? [String] == ["started"])
            #expect(try await docker.listContainers(label: "dray.job=\(id)").isEmpty, "the job's container was removed")
            // The restarted server runs new jobs.
            let next = try await second.request(.POST, "/jobs", body: #"{"steps":[{"source":"dray/randword"}]}"#)
            #expect(next.status == 201)
        }
    }

    @Test(
        "queued jobs live in the store: after kill -9 or SIGTERM they run once the server is back, on each store",
        arguments: StoreKind.allCases, [true, false])
    func queuedJobsSurvive(_ kind: StoreKind, crash: Bool) async throws {
        let redis = kind == .redis ? try await RedisServer() : nil
        let postgres = kind == .postgres ? try await PostgresServer.freshDatabase() : nil
        let store = (redis?.url ?? postgres).map { ["--store", $0] } ?? []
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("dray-queued-\(UUID().uuidString)")
            .path
        let arguments = store + ["--max-concurrent-jobs", "1", "--shutdown-grace", "0s"]
        let first = try ServerProcess(dataDirectory: data, arguments: arguments)
        try await first.waitUntilUp()
        let long = try #require(
            try await first.request(.POST, "/jobs", body: ServerProcess.shellJob("sleep 120")).json["id"] as? String)
        var queued: [String] = []
        for index in 0..<3 {
            let body = ServerProcess.shellJob("echo queued \(index)")
            queued.append(try #require(try await first.request(.POST, "/jobs", body: body).json["id"] as? String))
        }
        for id in queued { #expect(try await first.request(.GET, "/jobs/\(id)").json["phase"] as? String == "queued") }
        if crash { first.kill9() } else { await first.stopped() }

        let second = try ServerProcess(dataDirectory: data, arguments: store)
        defer { second.stop() }
        try await second.waitUntilUp()
        let ended = try await second.waitUntilEnded(long)
        #expect(ended["status"] as? String == "error")
        #expect(ended["reason"] as? String == (crash ? "restarted" : "shutdown"))
        for (index, id) in queued.enumerated() {
            let state = try await second.waitUntilEnded(id)
            #expect(state["status"] as? String == "complete", "queued job \(index) ran after the restart")
            #expect(try await second.request(.GET, "/jobs/\(id)/log").json["lines"] as? [String] == ["queued \(index)"])
        }
        await second.stopped()
        try await redis?.stop()
    }

    @Test(
        "a second live node on a SQLite store is refused at once; on Redis it waits (its clock an hour ahead), says so, and takes over when the first leaves",
        arguments: [StoreKind.sqlite, .redis])
    func oneNodePerStore(_ kind: StoreKind) async throws {
        let redis = kind == .redis ? try await RedisServer() : nil
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("dray-one-\(UUID().uuidString)").path
        let store = redis?.url ?? "sqlite:\(data)/dray.sqlite"
        let first = try ServerProcess(dataDirectory: data, arguments: ["--store", store])
        defer { first.stop() }
        try await first.waitUntilUp()
        if kind == .sqlite {
            let second = try await DrayProcess.run([
                "serve", "--store", store, "--data-dir", data + "-second", "--port", String(try LoopbackPort.free()),
            ])
            #expect(second.status != 0)
            #expect(second.stderr.contains("another dray process uses this SQLite store"), "\(second.stderr)")
            #expect(second.stderr.contains("PostgreSQL"), "\(second.stderr)")
        } else {
            // Its clock is an hour ahead: the first's lease, reckoned on Redis's clock, still holds.
            let second = try ServerProcess(
                dataDirectory: data + "-second", environment: ServerProcess.clock("+1h"), arguments: ["--store", store])
            defer { second.stop() }
            for _ in 0..<200 where !second.log.contains("waiting until its lease runs out") {
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(second.log.contains("holds this Redis store's lease"), "\(second.log)")
            #expect(second.log.contains("PostgreSQL"))
            await first.stopped()
            try await second.waitUntilUp()
            #expect(second.log.contains("took the store's lease after waiting"), "\(second.log)")
            await second.stopped()
        }
        await first.stopped()
        try await redis?.stop()
    }

    @Test(
        "a node kill -9'd is replaced at once on SQLite (its lock is free), after its lease on Redis; its job ends node-lost and its container goes",
        arguments: [StoreKind.sqlite, .redis])
    func replacementNode(_ kind: StoreKind) async throws {
        let redis = kind == .redis ? try await RedisServer() : nil
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("dray-dead-\(UUID().uuidString)").path
        let store = redis?.url ?? "sqlite:\(data)/dray.sqlite"
        // SQLite's lease is the default 30 s: the replacement must not wait for it.
        let lease = kind == .redis ? ["--lease", "3s"] : []
        let first = try ServerProcess(dataDirectory: data, arguments: ["--store", store] + lease)
        try await first.waitUntilUp()
        let created = try await first.request(.POST, "/jobs", body: ServerProcess.shellJob("echo started; sleep 120"))
        let id = try #require(created.json["id"] as? String)
        try await first.waitForLog(id, ["started"])
        first.kill9()
        // A new container from the image: a fresh data folder, so a node id of its own.
        let started = ContinuousClock.now
        let second = try ServerProcess(dataDirectory: data + "-new", arguments: ["--store", store] + lease)
        defer { second.stop() }
        try await second.waitUntilUp()
        let took = ContinuousClock.now - started
        print("a replacement node on \(kind) answered \(took) after it started")
        #expect(took < .seconds(20), "the replacement waited \(took)")
        let state = try await second.waitUntilEnded(id)
        #expect(state["reason"] as? String == "node-lost", "\(state)")
        try await TestEngine.withClient { docker async throws in
            var left = try await docker.listContainers(label: "dray.job=\(id)")
            for _ in 0..<100 where !left.isEmpty {
                try await Task.sleep(for: .milliseconds(100))
                left = try await docker.listContainers(label: "dray.job=\(id)")
            }
            #expect(left.isEmpty, "the dead node's container was removed")
        }
        await second.stopped()
        try await redis?.stop()
    }

    @Test("SIGTERM: running jobs get --shutdown-grace to finish; the rest stop with reason shutdown, no container left")
    func gracefulShutdown() async throws {
        let server = try await ServerProcess.started("term", arguments: ["--shutdown-grace", "15s"])
        let data = server.dataDirectory
        func job(_ script: String) -> String { ServerProcess.shellJob(script) }
        let quick = try #require(
            try await server.request(.POST, "/jobs", body: job("echo begun; sleep 1; echo finished")).json["id"]
                as? String)
        let slow = try #require(
            try await server.request(.POST, "/jobs", body: job("echo started; sleep 120")).json["id"] as? String)
        try await TestEngine.withClient { docker async throws in
            for _ in 0..<600 {
                let quickLog = try await server.request(.GET, "/jobs/\(quick)/log").json["lines"] as? [String]
                let slowLog = try await server.request(.GET, "/jobs/\(slow)/log").json["lines"] as? [String]
                if quickLog?.first == "begun" && slowLog == ["started"] { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            await server.stopped()
            #expect(server.log.contains("waiting up to"), "the server said it waits for running jobs")
            #expect(try await docker.listContainers(label: "dray.job=\(quick)").isEmpty)
            #expect(try await docker.listContainers(label: "dray.job=\(slow)").isEmpty)
            let restarted = try ServerProcess(dataDirectory: data)
            defer { restarted.stop() }
            try await restarted.waitUntilUp()
            let finished = try await restarted.request(.GET, "/jobs/\(quick)").json
            #expect(finished["status"] as? String == "complete", "a job that ends within the grace period completes")
            let stopped = try await restarted.request(.GET, "/jobs/\(slow)").json
            #expect(stopped["status"] as? String == "error")
            #expect(stopped["reason"] as? String == "shutdown")
            #expect(stopped["error"] as? String == "step 1 was stopped: the server shut down")
        }
    }

    @Test("--pid-file holds the server's process id while it runs, and goes when it stops")
    func pidFile() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("dray-\(UUID().uuidString).pid").path
        let server = try await ServerProcess.started("pidfile", arguments: ["--pid-file", file])
        let written = try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(Int32(written) == server.pid)
        await server.stopped()
        #expect(!FileManager.default.fileExists(atPath: file))
    }

    @Test("LOG_LEVEL takes the original's values; an invalid one warns and uses info")
    func logLevel() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dray-level-\(UUID().uuidString)")
            .path
        let invalid = try ServerProcess(dataDirectory: folder, environment: ["LOG_LEVEL": "verbose"])
        try await invalid.waitUntilUp()
        await invalid.stopped()
        #expect(
            invalid.log.contains(
                #"LOG_LEVEL "verbose" is not one of panic, fatal, error, warn, info, debug: using info"#))
        #expect(invalid.log.contains("dray serving on"))

        let quiet = try ServerProcess(dataDirectory: folder, environment: ["LOG_LEVEL": "error"])
        try await quiet.waitUntilUp()
        await quiet.stopped()
        #expect(!quiet.log.contains("dray serving on"), "info lines are not written at level error")
    }
}
