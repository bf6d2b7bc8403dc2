import ArgumentParser
import DrayServer
import Foundation

/// `dray ls`: the server's jobs, oldest first.
struct JobList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls", abstract: "List the server's jobs, oldest first.")

    @OptionGroup var client: ClientOptions

    func run() async throws {
        let api = try client.api
        let jobs = try await reporting { try await api.json([JobSummary].self, .GET, "/jobs") }
        print("ID                                    STATUS    CREATED               NAME")
        for job in jobs {
            let created = ISO8601DateFormatter().string(from: job.createdAt)
            let status = job.status.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)
            print(
                "\(job.id)  \(status)  \(created.padding(toLength: 20, withPad: " ", startingAt: 0))  \(job.name ?? "")"
            )
        }
    }
}
