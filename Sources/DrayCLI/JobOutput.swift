import ArgumentParser
import DrayAPI
import DrayEngine
import Foundation

/// `dray output ID [STEP]`: what a job, or one of its steps, passed on, byte for byte.
struct JobOutput: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "output",
        abstract: "Write a complete job's output, or what one of its steps passed on, to standard output.",
        discussion: """
            The bytes are checked against the SHA-256 the server gives (its Digest header): a \
            download that does not match exits 1 and says so. Any node of a cluster answers, \
            forwarding to the node that holds the output.
            """)

    @OptionGroup var client: ClientOptions
    @Argument(help: "The job's id.") var id: String
    @Argument(help: "A step's name, or its number from 1; without it, the job's output.") var step: String?

    func run() async throws {
        let api = try client.api
        signal(SIGPIPE, SIG_IGN)
        let segment = step.map { "/steps/\($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0)" }
        let response = try await reporting {
            try await api.execute(api.request("/jobs/\(id)\(segment ?? "")/output"), timeout: .hours(24))
        }
        let expected = response.headers.first(name: "Digest").flatMap { header in
            header.hasPrefix("sha-256=") ? String(header.dropFirst(8)) : nil
        }
        var digest = RunningDigest()
        do {
            for try await chunk in response.body {
                digest.update(chunk)
                // A reader that went away (`dray output … | head`) ends the copy, as in a shell pipe.
                guard StandardOutput.write(chunk) else { return }
            }
        } catch {
            FileHandle.standardError.write(Data("dray: the download stopped: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let got = digest.finish()
        if let expected, got.base64 != expected {
            FileHandle.standardError.write(
                Data("dray: the bytes received (\(got.size)) do not match the server's SHA-256: download again\n".utf8))
            throw ExitCode(1)
        }
    }
}
