import ArgumentParser
import AsyncHTTPClient
import DrayEngine
import DrayServer
import Foundation
import NIOCore

/// Following a job's log as it is written, through `GET /jobs/{id}/log?follow=true`, for
/// `dray logs -f` and `dray submit --watch`.
enum JobWatch {
    /// Writes the job's log lines from `index` to `output` until the job ends, their control
    /// characters escaped unless `raw`; then exits as `dray run` does: 0 when it completed,
    /// else the failing step's code.
    static func follow(
        _ id: String, api: APIClient, command: some AsyncParsableCommand, from index: Int = 0, to output: FileHandle,
        raw: Bool
    ) async throws {
        let job = try await command.reporting { try await api.json(JobView.self, .GET, "/jobs/\(id)") }
        let prefix = StepPrefix(steps: job.steps.map(\.step), raw: raw)
        try await command.reporting {
            try await api.events("/jobs/\(id)/log?follow=true&detail=true&index=\(index)") { data in
                // With detail=true each event is a line's JSON: its step (from 1), stream and text.
                let entry = try? Entry.decoder.decode(Entry.self, from: Data(data.utf8))
                let line =
                    entry.map { prefix.line($0.text, step: $0.step - 1, stream: $0.stream) }
                    ?? VisibleText.shown(data, raw: raw)
                output.write(Data((line + "\n").utf8))
            }
        }
        let info = try await command.reporting { try await api.json(JobView.self, .GET, "/jobs/\(id)") }
        switch info.status {
        case .complete: return
        case .running:
            FileHandle.standardError.write(Data("dray: the log stream ended while job \(id) still runs\n".utf8))
            throw ExitCode(1)
        case .error:
            FileHandle.standardError.write(
                Data("dray: \(VisibleText.shown(info.error ?? "the job failed", raw: raw))\n".utf8))
            throw ExitCode(
                ExitStatus.forFailedJob(exitCodes: info.steps.map(\.exitCode), canceled: info.phase == .canceled))
        }
    }
}

/// A line of the live log with `detail=true`.
private struct Entry: Decodable {
    var step: Int
    var stream: StandardStream
    var text: String

    /// One decoder for every line of a follow, not one per line.
    static let decoder = JSONDecoder()
}

extension APIClient {
    /// Reads a server-sent event stream to its end, calling `onData` with each `data:` event's
    /// text; an `end` event is not passed on.
    func events(_ path: String, onData: (String) -> Void) async throws {
        var request = request(path)
        request.headers.add(name: "Accept", value: "text/event-stream")
        let response = try await execute(request, timeout: .hours(24 * 365))
        var pending = ByteBuffer()
        var event = "message"
        var data: [String] = []
        do {
            for try await chunk in response.body {
                pending.writeImmutableBuffer(chunk)
                while let newline = pending.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
                    let length = newline - pending.readableBytesView.startIndex
                    let line = pending.readString(length: length) ?? ""
                    pending.moveReaderIndex(forwardBy: 1)
                    if line.isEmpty {
                        if event == "message", !data.isEmpty { onData(data.joined(separator: "\n")) }
                        event = "message"
                        data = []
                    } else if line.hasPrefix("data:") {
                        data.append(String(line.dropFirst(line.hasPrefix("data: ") ? 6 : 5)))
                    } else if line.hasPrefix("event:") {
                        event = line.dropFirst(6).trimmingCharacters(in: .whitespaces)
                    }
                }
                pending.discardReadBytes()
            }
        } catch {
            throw Failure(message: "the log stream from \(baseURL) broke: \(error)")
        }
    }
}
