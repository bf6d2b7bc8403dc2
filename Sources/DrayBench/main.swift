import DrayEngine
import DrayPostgres
import DrayRedis
import DraySQLite
import Foundation

/// `dray-bench claims STORE PROJECTS JOBS`: how fast a store's claim takes queued jobs, one at a
/// time as a node with free slots does, when JOBS jobs wait spread over PROJECTS projects (the
/// turns between projects) or in one. Prints the seconds and the claims per second. STORE is
/// `sqlite:PATH`, `redis://HOST:PORT` or `postgres://USER@HOST:PORT/DATABASE`. For
/// `scripts/bench`; it writes and deletes its own jobs.
@main
struct DrayBench {
    static func main() async throws {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard arguments.count == 4, arguments[0] == "claims", let projects = Int(arguments[2]),
            let jobs = Int(arguments[3]), projects >= 1, jobs >= 1
        else {
            FileHandle.standardError.write(Data("usage: dray-bench claims STORE PROJECTS JOBS\n".utf8))
            exit(2)
        }
        let store = try open(arguments[1])
        try await withThrowingTaskGroup { group in
            group.addTask { try await store.run() }
            defer { group.cancelAll() }
            try await store.prepare()
            let (seconds, claimed) = try await claims(store, projects: projects, jobs: jobs)
            print(String(format: "%.4f %.0f", seconds, Double(claimed) / seconds))
        }
    }

    static func open(_ text: String) throws -> any JobStore {
        if text.hasPrefix("sqlite:") { return try SQLiteJobStore(path: String(text.dropFirst("sqlite:".count))) }
        if text.hasPrefix("redis://") { return RedisJobStore(configuration: try RedisConfiguration(url: text)) }
        return try PostgresJobStore(url: text)
    }

    /// Queues `jobs` one-step jobs over `projects` projects, in turn, then claims them one at a
    /// time and times the claims; deletes them after.
    static func claims(_ store: any JobStore, projects: Int, jobs: Int) async throws -> (Double, Int) {
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
            while try await !store.claim(node: "bench", limit: 1).isEmpty { claimed += 1 }
        }
        for id in ids { _ = try await store.delete(id: id) }
        return (elapsed.timeInterval, claimed)
    }
}
