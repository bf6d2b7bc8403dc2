import ArgumentParser
import DrayAPI
import Foundation

/// `dray get ID`: one job's state, as the server gives it.
struct JobGet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get", abstract: "Show a job's state as JSON.")

    @OptionGroup var client: ClientOptions
    @Argument(help: "The job's id.") var id: String

    func run() async throws {
        let api = try client.api
        let data = try await reporting { try await api.send(.GET, "/jobs/\(id)") }
        let object = try JSONSerialization.jsonObject(with: data)
        let pretty = try JSONSerialization.data(
            withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        print(String(decoding: pretty, as: UTF8.self))
    }
}
