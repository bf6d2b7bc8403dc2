import ArgumentParser
import AsyncHTTPClient
import DrayAPI
import DrayEngine
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
        // One decoder for every line of a follow, not one per line.
        let decoder = JSONDecoder()
        try await command.reporting {
            try await api.events("/jobs/\(id)/log?follow=true&detail=true&index=\(index)") { data in
                // With detail=true each event is a line's JSON: its step (from 1), stream and text.
                let entry = try? decoder.decode(LogEntry.self, from: Data(data.utf8))
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
