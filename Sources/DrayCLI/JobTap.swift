import ArgumentParser
import DrayAPI
import Foundation
import NIOCore

/// `dray tap ID STEP`: what a running step passes on, as it flows.
struct JobTap: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tap",
        abstract: "Print what a running step passes on to the next one, as it flows, until the step ends.",
        discussion: """
            The tap never slows the pipe: when this reader is slower than the step, bytes are \
            skipped, and a line on standard error says how many. In lines (the default), bytes \
            that are not UTF-8 and control characters are shown as \\xNN, and the job's secrets \
            are masked as in its log; hex prints each chunk in hexadecimal; raw writes the bytes \
            as they are, with gaps where bytes were skipped.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case lines, hex, raw
    }

    @OptionGroup var client: ClientOptions
    @Argument(help: "The job's id.") var id: String
    @Argument(help: "A step's name, or its number from 1.") var step: String
    @Option(help: "lines, hex or raw.") var format = Format.lines
    @Flag(help: "Print first what the step has passed on already.") var fromStart = false

    func run() async throws {
        let api = try client.api
        signal(SIGPIPE, SIG_IGN)
        let segment = step.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? step
        let path = "/jobs/\(id)/steps/\(segment)/tap?format=\(format.rawValue)" + (fromStart ? "&from=start" : "")
        if format == .raw {
            let response = try await reporting { try await api.execute(api.request(path), timeout: .hours(24 * 365)) }
            for try await chunk in response.body {
                guard StandardOutput.write(chunk) else { return }
            }
            return
        }
        try await reporting {
            try await api.events(path) { event in
                switch event.type {
                case "message":
                    // A reader that went away (`dray tap … | head`) ends the tap, as in a shell pipe.
                    guard StandardOutput.write(ByteBuffer(string: event.data + "\n")) else { Foundation.exit(0) }
                case "skipped":
                    let count = (try? JSONDecoder().decode([String: Int64].self, from: Data(event.data.utf8)))?["bytes"]
                    FileHandle.standardError.write(
                        Data("dray: \(count ?? 0) bytes skipped: this reader was slower than the step\n".utf8))
                default: break
                }
            }
        }
    }
}
