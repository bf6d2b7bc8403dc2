import ArgumentParser
import DrayServer
import Foundation

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
