import DrayEngine
import DrayRedis
import DrayStoreTesting
import Foundation
import Testing

@Suite("The Redis store, on a real redis-server")
struct RedisJobStoreTests {
    @Test("passes the store contract", arguments: JobStoreContract.Check.allCases)
    func contract(_ check: JobStoreContract.Check) async throws {
        let redis = try await RedisServer()
        var configuration = try RedisConfiguration(url: redis.url)
        // The contract checks what is kept, not how fast: on 2 cores running the whole suite,
        // a 1,000-line append has waited more than the default 5 s for the CPU.
        configuration.commandTimeout = .seconds(30)
        let store = RedisJobStore(configuration: configuration)
        try await JobStoreContract(store: store, feed: true).run(check)
        await store.client.close()
    }

    @Test("keys are the original Dray's: the jobs list, the jobs:<id> hash, the jobs:<id>:log list")
    func keyLayout() async throws {
        let redis = try await RedisServer()
        let client = RedisClient(configuration: try RedisConfiguration(url: redis.url))
        let store = RedisJobStore(client: client)
        var record = JobStoreContract.record(steps: 3)
        try await store.create(record)
        try await store.appendLog(
            id: record.id,
            lines: [.init(step: 0, stream: .stdout, text: "hello"), .init(step: 1, stream: .stderr, text: "oops")])
        record.state.stepsCompleted = 2
        try await store.update(id: record.id, state: record.state)

        #expect(try await client.send("LRANGE", ["jobs", 0, -1]).array?.map(\.string) == [record.id])
        let hash = try await client.send(
            "HMGET", [.string("jobs:\(record.id)"), "status", "completedSteps", "totalSteps"])
        #expect(hash.array?.map(\.string) == ["running", "2", "3"])
        #expect(
            try await client.send("LRANGE", [.string("jobs:\(record.id):log"), 0, -1]).array?.map(\.string) == [
                "hello", "oops",
            ])
        #expect(try await store.delete(id: record.id))
        #expect(try await client.send("KEYS", ["*"]).array?.isEmpty == true, "delete leaves no key behind")
        await client.close()
    }

    /// A store on a fresh redis-server, with its client, and a job of 2 steps created in it.
    private func withJob(
        _ body: (RedisClient, RedisJobStore, JobRecord) async throws -> Void
    ) async throws {
        let redis = try await RedisServer()
        let client = RedisClient(configuration: try RedisConfiguration(url: redis.url))
        let store = RedisJobStore(client: client)
        let record = JobStoreContract.record(steps: 2)
        try await store.create(record)
        try await body(client, store, record)
        await client.close()
    }

    @Test("a line's step and stream are kept by runs, a member a run, and read back on any page")
    func metaByRuns() async throws {
        try await withJob { client, store, record in
            let lines: [LogLine] =
                (0..<5).map { LogLine(step: 0, stream: .stdout, text: "a\($0)") }
                + [LogLine(step: 0, stream: .stderr, text: "oops")]
                + (0..<3).map { LogLine(step: 1, stream: .stdout, text: "b\($0)") }
            // In two appends, the second going on with the first's last run.
            try await store.appendLog(id: record.id, lines: Array(lines[..<7]))
            try await store.appendLog(id: record.id, lines: Array(lines[7...]))
            #expect(try await client.send("ZCARD", [.string("jobs:\(record.id):log:runs")]).int == 3)
            #expect(try await store.log(id: record.id, from: 0, limit: nil) == lines)
            for start in 0..<lines.count {
                #expect(
                    try await store.log(id: record.id, from: start, limit: 2) == Array(lines[start..<min(start + 2, 9)])
                )
            }
            #expect(try await store.delete(id: record.id))
            #expect(try await client.send("KEYS", ["*"]).array?.isEmpty == true, "delete leaves no key behind")
        }
    }

    @Test("a job logged with a meta a line (before runs) reads back, and goes on logging so")
    func metaByLine() async throws {
        try await withJob { client, store, record in
            try await client.send("RPUSH", [.string("jobs:\(record.id):log"), "one", "two"])
            try await client.send("RPUSH", [.string("jobs:\(record.id):log:meta"), "0o", "0e"])
            try await store.appendLog(id: record.id, lines: [LogLine(step: 1, stream: .stdout, text: "three")])
            #expect(
                try await store.log(id: record.id, from: 0, limit: nil) == [
                    LogLine(step: 0, stream: .stdout, text: "one"), LogLine(step: 0, stream: .stderr, text: "two"),
                    LogLine(step: 1, stream: .stdout, text: "three"),
                ])
            #expect(try await client.send("EXISTS", [.string("jobs:\(record.id):log:runs")]).int == 0)
        }
    }

    @Test("a job the original Dray wrote reads back: its status, steps completed and log")
    func originalsJobs() async throws {
        let redis = try await RedisServer()
        let client = RedisClient(configuration: try RedisConfiguration(url: redis.url))
        // What the original's Create, Update and AppendLogLine sent; totalSteps as its string(3).
        let id = "5E1B9F0C-6A2D-4C8B-9E7F-0123456789AB"
        try await client.send("RPUSH", ["jobs", .string(id)])
        try await client.send(
            "HMSET", [.string("jobs:\(id)"), "totalSteps", "\u{3}", "completedSteps", "0", "status", ""])
        try await client.send("HSET", [.string("jobs:\(id)"), "status", "running"])
        try await client.send("HSET", [.string("jobs:\(id)"), "completedSteps", "3"])
        try await client.send("HSET", [.string("jobs:\(id)"), "status", "complete"])
        for line in ["FOO", "BAR"] { try await client.send("RPUSH", [.string("jobs:\(id):log"), .string(line)]) }

        let store = RedisJobStore(client: client)
        let record = try #require(try await store.job(id: id))
        #expect(record.state.status == .complete && record.state.stepsCompleted == 3 && record.job.steps.count == 3)
        #expect(try await store.jobs().map(\.id) == [id])
        #expect(try await store.log(id: id, from: 1, limit: nil).map(\.text) == ["BAR"])
        #expect(try await store.delete(id: id))
        await client.close()
    }

    @Test(
        "a store the original Dray wrote is indexed once at the first start: its running jobs are found, none is read again"
    )
    func originalsIndexedOnce() async throws {
        let redis = try await RedisServer()
        let client = RedisClient(configuration: try RedisConfiguration(url: redis.url))
        var running: Set<String> = []
        var commands: [RedisCommand] = []
        for n in 0..<2500 {
            let id = UUID().uuidString
            let status = n % 100 == 0 ? "running" : "complete"
            if status == "running" { running.insert(id) }
            commands.append(RedisCommand("RPUSH", ["jobs", .string(id)]))
            commands.append(
                RedisCommand(
                    "HMSET",
                    [.string("jobs:\(id)"), "totalSteps", "\u{2}", "completedSteps", "1", "status", .string(status)]
                ))
        }
        _ = try await client.pipeline(commands)
        let store = RedisJobStore(client: client)
        try await store.prepare()
        #expect(try await client.send("EXISTS", ["dray:indexed"]).int == 1)
        #expect(Set(try await store.runningJobs(node: "a").map(\.id)) == running)
        #expect(
            try await store.finishedJobs(before: Date(), limit: 10).isEmpty,
            "the original kept no end time: its jobs are never cleaned up")
        // Indexed: a second start reads nothing, and finds the index as the first left it.
        try await client.send("SADD", ["dray:unowned", "marker"])
        try await store.prepare()
        #expect(try await client.send("SISMEMBER", ["dray:unowned", "marker"]).int == 1)
        await client.close()
    }

    @Test("AUTH and SELECT from the URL; a wrong password is a clear storage error")
    func authAndSelect() async throws {
        let redis = try await RedisServer(password: "s3cret")
        let store = RedisJobStore(configuration: try RedisConfiguration(url: redis.url + "/5"))
        let record = JobStoreContract.record()
        try await store.create(record)
        let raw = RedisClient(configuration: try RedisConfiguration(url: redis.url + "/5"))
        #expect(try await raw.send("EXISTS", [.string("jobs:\(record.id)")]).int == 1, "the job is in database 5")
        let wrong = RedisJobStore(configuration: try RedisConfiguration(url: "redis://:nope@127.0.0.1:\(redis.port)"))
        await #expect {
            try await wrong.ping()
        } throws: { error in
            (error as? DrayError)?.code == .storage && "\(error)".contains("AUTH")
        }
        await store.client.close()
        await raw.close()
        await wrong.client.close()
    }

    @Test("when redis-server stops, calls fail fast with a storage error; when it returns, they work again")
    func outageAndRecovery() async throws {
        let redis = try await RedisServer()
        let store = RedisJobStore(configuration: try RedisConfiguration(url: redis.url))
        let record = JobStoreContract.record()
        try await store.create(record)
        try await redis.stop()
        for _ in 0..<3 {
            let started = ContinuousClock.now
            await #expect {
                _ = try await store.job(id: record.id)
            } throws: { error in
                (error as? DrayError)?.code == .storage && "\(error)".contains("127.0.0.1:\(redis.port)")
            }
            #expect(ContinuousClock.now - started < .seconds(3), "a call does not hang while Redis is down")
        }
        try await redis.start()
        var back: JobRecord?
        for _ in 0..<50 where back == nil {
            back = try? await store.job(id: record.id)
            if back == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(back == record, "the same client reconnects, and the data survived the restart")
        await store.client.close()
    }

    @Test("many pipelined commands on a small pool all get their own replies")
    func pipelining() async throws {
        let redis = try await RedisServer()
        var configuration = try RedisConfiguration(url: redis.url)
        configuration.connections = 2
        let client = RedisClient(configuration: configuration)
        let replies = try await client.pipeline((0..<1000).map { RedisCommand("ECHO", [.string("m\($0)")]) })
        #expect(replies.map(\.string) == (0..<1000).map { "m\($0)" })
        try await withThrowingTaskGroup { group in
            for n in 0..<200 {
                group.addTask {
                    let reply = try await client.send("ECHO", [.string("c\(n)")])
                    #expect(reply.string == "c\(n)")
                }
            }
            try await group.waitForAll()
        }
        await client.close()
    }

    @Test("a reply that came while its caller waited for a thread does not time out its connection")
    func lateResumption() async throws {
        let redis = try await RedisServer()
        var configuration = try RedisConfiguration(url: redis.url)
        configuration.connections = 1
        // Long enough that the reply comes in time on a busy machine; the caller is held past it.
        configuration.commandTimeout = .seconds(6)
        let client = RedisClient(configuration: configuration)
        let watcher = RedisClient(configuration: try RedisConfiguration(url: redis.url))
        let id = try await client.send("CLIENT", ["ID"]).int

        // BLPOP waits on the server until something is pushed; its caller runs on a queue that
        // is held once it waits, so the reply comes well in time, and the caller resumes late.
        let held = HeldExecutor()
        let started = ContinuousClock.now
        let popped = Task(executorPreference: held) { try await client.send("BLPOP", ["q", 0]) }
        while try await watcher.send("INFO", ["clients"]).string?.contains("blocked_clients:1") != true {
            try await Task.sleep(for: .milliseconds(10))
        }
        held.queue.suspend()
        try await watcher.send("RPUSH", ["q", "x"])
        try await Task.sleep(until: started + configuration.commandTimeout + .seconds(1))
        held.queue.resume()

        #expect(try await popped.value.array?.map(\.string) == ["q", "x"])
        #expect(
            try await client.send("CLIENT", ["ID"]).int == id,
            "the command's timer ended with its reply: the connection was kept")
        await client.close()
        await watcher.close()
    }
}

/// Runs tasks on a queue of its own that a test can hold, as a busy machine holds a task that is
/// ready to run.
private final class HeldExecutor: TaskExecutor {
    let queue = DispatchQueue(label: "dray.test.held")

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }
}
