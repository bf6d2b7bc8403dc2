import ArgumentParser
import DrayServer
import Foundation

/// `dray logs ID`: a job's log lines.
struct JobLogs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs", abstract: "Print a job's log lines.",
        discussion: "With -f, follows the log as it is written until the job ends, and exits like `dray run`.")

    @OptionGroup var client: ClientOptions
    @Argument(help: "The job's id.") var id: String
    @Option(help: "The first line to print, from 0.") var index = 0
    @Flag(name: [.short, .long], help: "Follow the log until the job ends.") var follow = false

    func validate() throws {
        guard index >= 0 else { throw ValidationError("--index must be 0 or more") }
    }

    func run() async throws {
        let api = try client.api
        if follow {
            try await JobWatch.follow(
                id, api: api, command: self, from: index, to: FileHandle.standardOutput, raw: client.raw)
            return
        }
        let page = try await reporting {
            try await api.json(LogPage.self, .GET, "/jobs/\(id)/log?index=\(index)")
        }
        for line in page.lines { print(VisibleText.shown(line, raw: client.raw)) }
    }
}
