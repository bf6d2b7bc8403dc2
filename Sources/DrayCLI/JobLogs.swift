import ArgumentParser
import DrayAPI
import Foundation

/// `dray logs ID`: a job's log lines.
struct JobLogs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs", abstract: "Print a job's log lines, each after its step's name, as dray run shows them.",
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
        let job = try await reporting { try await api.json(JobView.self, .GET, "/jobs/\(id)") }
        let prefix = StepPrefix(steps: job.steps.map(\.step), raw: client.raw)
        let page = try await reporting {
            try await api.json(LogPage.self, .GET, "/jobs/\(id)/log?index=\(index)&detail=true")
        }
        for (offset, line) in page.lines.enumerated() {
            let step = (page.steps?[offset] ?? 1) - 1
            print(prefix.line(line, step: step, stream: page.streams?[offset] ?? .stdout))
        }
    }
}
