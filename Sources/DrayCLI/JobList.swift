import ArgumentParser
import DrayAPI
import DrayEngine
import Foundation

/// `dray ls`: the server's jobs, oldest first, or a page of them.
struct JobList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls", abstract: "List the server's jobs, oldest first.")

    @OptionGroup var client: ClientOptions

    @Option(help: "Show at most this many jobs (1 to 1000).")
    var limit: Int?

    @Option(help: "Show only jobs in this status: running, complete or error. Repeat for several.")
    var status: [JobStatus] = []

    @Flag(help: "Newest first.")
    var newestFirst = false

    func validate() throws {
        if let limit, !(1...1000).contains(limit) {
            throw ValidationError("--limit must be from 1 to 1000, not \(limit)")
        }
    }

    func run() async throws {
        let api = try client.api
        var query: [String] = []
        if let limit { query.append("limit=\(limit)") }
        if newestFirst { query.append("order=desc") }
        query += status.map { "status=\($0.rawValue)" }
        let path = "/jobs" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
        let jobs = try await reporting { try await api.json([JobSummary].self, .GET, path) }
        print("ID                                    STATUS    STEP   CREATED               NAME")
        for job in jobs {
            let created = ISO8601DateFormatter().string(from: job.createdAt)
            let status = job.status.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)
            let step = "\(job.currentStep ?? job.stepsCompleted)/\(job.totalSteps)"
            print(
                "\(job.id)  \(status)  \(step.padding(toLength: 5, withPad: " ", startingAt: 0))  "
                    + "\(created.padding(toLength: 20, withPad: " ", startingAt: 0))  \(VisibleText.shown(job.name ?? "", raw: client.raw))"
            )
        }
    }
}

extension JobStatus: ExpressibleByArgument {}
