import ArgumentParser
import DrayAPI
import Foundation

/// `dray rm ID`: stops a job if it runs and deletes it.
struct JobRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm", abstract: "Stop a job if it runs, and delete it with its log.")

    @OptionGroup var client: ClientOptions
    @Argument(help: "The job's id.") var ids: [String]

    func run() async throws {
        let api = try client.api
        for id in ids {
            _ = try await reporting { try await api.send(.DELETE, "/jobs/\(id)") }
            print(id)
        }
    }
}
