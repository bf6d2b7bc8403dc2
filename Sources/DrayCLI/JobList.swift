import ArgumentParser
import DrayServer
import Foundation

/// `dray ls`: the server's jobs, oldest first.
struct JobList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls", abstract: "List the server's jobs, oldest first.")

    @OptionGroup var client: ClientOptions

    func run() async throws {
        let api = APIClient(baseURL: client.baseURL)
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

/// `dray get ID`: one job's state, as the server gives it.
struct JobGet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get", abstract: "Show a job's state as JSON.")

    @OptionGroup var client: ClientOptions
    @Argument(help: "The job's id.") var id: String

    func run() async throws {
        let api = APIClient(baseURL: client.baseURL)
        let data = try await reporting { try await api.send(.GET, "/jobs/\(id)") }
        let object = try JSONSerialization.jsonObject(with: data)
        let pretty = try JSONSerialization.data(
            withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        print(String(decoding: pretty, as: UTF8.self))
    }
}

/// `dray logs ID`: a job's log lines.
struct JobLogs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logs", abstract: "Print a job's log lines.")

    @OptionGroup var client: ClientOptions
    @Argument(help: "The job's id.") var id: String
    @Option(help: "The first line to print, from 0.") var index = 0

    func run() async throws {
        let api = APIClient(baseURL: client.baseURL)
        let page = try await reporting {
            try await api.json(LogPage.self, .GET, "/jobs/\(id)/log?index=\(index)")
        }
        for line in page.lines { print(line) }
    }
}

/// `dray rm ID`: stops a job if it runs and deletes it.
struct JobRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm", abstract: "Stop a job if it runs, and delete it with its log.")

    @OptionGroup var client: ClientOptions
    @Argument(help: "The job's id.") var ids: [String]

    func run() async throws {
        let api = APIClient(baseURL: client.baseURL)
        for id in ids {
            _ = try await reporting { try await api.send(.DELETE, "/jobs/\(id)") }
            print(id)
        }
    }
}
