import ArgumentParser
import DrayAPI
import DrayEngine
import Foundation

/// `dray submit FILE`: sends a job to the server and prints its id.
struct JobSubmit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Submit a job to a Dray server and print its id.",
        discussion: "With --watch, follows the job's log to its end and exits like `dray run`.")

    @OptionGroup var client: ClientOptions

    @Argument(help: ArgumentHelp("The job file, JSON or YAML; - reads standard input.", valueName: "file"))
    var file: String

    @Flag(help: "Follow the job's log until it ends; exit 0 when it completes, else the failing step's code.")
    var watch = false

    @Flag(help: "Refuse a job file with a field Dray does not know (exit 2), rather than warn.")
    var strict = false

    @Option(
        help: ArgumentHelp(
            "Send this Idempotency-Key: submitting again with the same key and file within 24 hours prints the same job's id, never a second job's.",
            valueName: "key"))
    var idempotencyKey: String?

    /// The answer to `POST /jobs`: the job echoed, with its id.
    struct Created: Decodable {
        var id: String
    }

    func run() async throws {
        let job: Job
        do {
            let reading = try JobFile.read(file, strict: strict)
            JobFile.warn(reading.warnings, file: file)
            job = reading.job
        } catch {
            FileHandle.standardError.write(Data("dray: \(JobFile.name(file)): \(error.message)\n".utf8))
            throw ExitCode(2)
        }
        let api = try client.api
        // Sorted keys: the same file is the same body, which a retry with the same key must be.
        let encoder = JSONEncoder.keepingSecrets()
        encoder.outputFormatting = .sortedKeys
        let created = try await reporting {
            try await api.json(
                Created.self, .POST, "/jobs", body: try encoder.encode(job),
                headers: idempotencyKey.map { [("Idempotency-Key", $0)] } ?? [])
        }
        print(created.id)
        guard watch else { return }
        try await JobWatch.follow(created.id, api: api, command: self, to: FileHandle.standardError, raw: client.raw)
    }
}
