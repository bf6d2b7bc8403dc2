import ArgumentParser
import DrayAPI
import Foundation

/// `dray cancel ID…`: stops running or queued jobs; they end in `error`, phase `canceled`.
struct JobCancel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Stop jobs: SIGTERM to the running step, SIGKILL after its stopGracePeriod; the job ends in error.")

    @OptionGroup var client: ClientOptions
    @Argument(help: "The jobs' ids.") var ids: [String]

    func run() async throws {
        let api = try client.api
        for id in ids {
            let job = try await reporting { try await api.json(JobView.self, .POST, "/jobs/\(id)/cancel") }
            print("\(id) \(job.status.rawValue) \(job.phase.rawValue)")
        }
    }
}

/// `dray resume ID`: runs a job in `error` again from the step that failed.
struct JobResume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Run a job that ended in error again from its failed step, on the last good step's output.",
        discussion: "With --watch, follows the log to its end and exits like `dray run`.")

    @OptionGroup var client: ClientOptions
    @Argument(help: "The job's id.") var id: String
    @Flag(help: "Follow the job's log until it ends.") var watch = false

    func run() async throws {
        let api = try client.api
        // The log so far, so that --watch shows only the new attempt's lines.
        let earlier = watch ? try await reporting { try await api.json(LogPage.self, .GET, "/jobs/\(id)/log") } : nil
        let job = try await reporting { try await api.json(JobView.self, .POST, "/jobs/\(id)/resume") }
        print("\(id) resumes from step \(job.stepsCompleted + 1) of \(job.totalSteps)")
        guard let earlier else { return }
        try await JobWatch.follow(
            id, api: api, command: self, from: earlier.lines.count, to: FileHandle.standardError, raw: client.raw)
    }
}
