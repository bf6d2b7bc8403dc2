import DrayEngine
import DrayPostgres
import DrayRedis
import DraySQLite
import Foundation

/// `dray-bench claims STORE PROJECTS JOBS [NODES [SLOTS]]`: how fast a store's claim takes
/// queued jobs, SLOTS at a time (1 by default) as a node with that many free slots does, when
/// JOBS jobs wait spread over PROJECTS projects (the turns between projects) or in one, with
/// NODES nodes (1 by default) claiming at once, each with a store of its own. Prints the seconds
/// and the claims per second. STORE is
/// `sqlite:PATH`, `redis://HOST:PORT` or `postgres://USER@HOST:PORT/DATABASE`. For
/// `scripts/bench`; it writes and deletes its own jobs.
@main
struct DrayBench {
    static func main() async throws {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard (4...6).contains(arguments.count), arguments[0] == "claims", let projects = Int(arguments[2]),
            let jobs = Int(arguments[3]), let nodes = Int(arguments.count >= 5 ? arguments[4] : "1"),
            let slots = Int(arguments.count == 6 ? arguments[5] : "1"), projects >= 1, jobs >= 1, nodes >= 1,
            slots >= 1
        else {
            FileHandle.standardError.write(Data("usage: dray-bench claims STORE PROJECTS JOBS [NODES [SLOTS]]\n".utf8))
            exit(2)
        }
        let stores = try (0..<nodes).map { _ in try open(arguments[1]) }
        try await withThrowingTaskGroup { group in
            for store in stores { group.addTask { try await store.run() } }
            defer { group.cancelAll() }
            for store in stores { try await store.prepare() }
            let (seconds, claimed) = try await claims(stores, projects: projects, jobs: jobs, slots: slots)
            guard claimed == jobs else {
                FileHandle.standardError.write(Data("claimed \(claimed) of \(jobs) jobs\n".utf8))
                exit(1)
            }
            print(String(format: "%.4f %.0f", seconds, Double(claimed) / seconds))
        }
    }

    static func open(_ text: String) throws -> any JobStore {
        if text.hasPrefix("sqlite:") { return try SQLiteJobStore(path: String(text.dropFirst("sqlite:".count))) }
        if text.hasPrefix("redis://") { return RedisJobStore(configuration: try RedisConfiguration(url: text)) }
        return try PostgresJobStore(url: text)
    }

    /// Queues `jobs` one-step jobs over `projects` projects, in turn, then claims them `slots` at
    /// a time from each of `stores` at once (a node each), until none is left, and times the
    /// claims; deletes them after.
    static func claims(_ stores: [any JobStore], projects: Int, jobs: Int, slots: Int) async throws -> (Double, Int) {
        let store = stores[0]
        var ids: [String] = []
        for index in 0..<jobs {
            let id = UUID().uuidString
            var job = Job(id: id, steps: [Step(source: "dray/bench")])
            job.project = "bench-\(index % projects)"
            try await store.create(JobRecord(id: id, job: job, state: JobState(stepCount: 1)))
            ids.append(id)
        }
        let clock = ContinuousClock()
        var claimed = 0
        let elapsed = try await clock.measure {
            claimed = try await withThrowingTaskGroup { group in
                for (node, store) in stores.enumerated() {
                    group.addTask {
                        var taken = 0
                        while true {
                            let claimed = try await store.claim(node: "bench-\(node)", limit: slots).count
                            if claimed == 0 { break }
                            taken += claimed
                        }
                        return taken
                    }
                }
                return try await group.reduce(0, +)
            }
        }
        for id in ids { _ = try await store.delete(id: id) }
        return (elapsed.timeInterval, claimed)
    }
}
