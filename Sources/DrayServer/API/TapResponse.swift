import DrayAPI
import DrayEngine
import Foundation
import Hummingbird
import NIOCore
import NIOFileSystem

/// `GET /jobs/{id}/steps/{step}/tap`: what a running step passes on, as it flows. As
/// server-sent events (`lines`, the default, or `hex`): a `start` event with the offset in the
/// step's output where the tap begins, the bytes, a `skipped` event for the bytes that passed
/// while this reader was too slow to take them, and an `end` event once the step has ended. As
/// `raw`: the bytes alone, with gaps where bytes were skipped. `from=start` replays first what
/// the step's spool holds.
enum TapResponse {
    enum Format: String {
        case lines, hex, raw
    }

    static func make(_ request: Request, id: String, step: String, service: JobService) async throws -> Response {
        let query = request.uri.queryParameters
        let formatText = query["format"].map(String.init) ?? Format.lines.rawValue
        guard let format = Format(rawValue: formatText) else {
            throw APIError(.badRequest, "format must be lines, hex or raw, not \"\(formatText)\"")
        }
        let fromStart: Bool
        switch query["from"].map(String.init) {
        case nil: fromStart = false
        case "start": fromStart = true
        case let other?: throw APIError(.badRequest, "from must be \"start\", not \"\(other)\"")
        }
        let forwarded = request.headers[OutputResponse.forwardedHeader] != nil
        let events: Events
        switch try await service.tap(id: id, step: step, forwarded: forwarded) {
        case .node(_, let url):
            let segment = step.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? step
            return try await OutputResponse.forward(
                request, to: url,
                path: "/jobs/\(id)/steps/\(segment)/tap" + (request.uri.query.map { "?" + $0 } ?? ""),
                from: service.configuration.node, timeout: .hours(24 * 365))
        case .ended(let spool, let record):
            let index = try service.step(named: step, in: record)
            let label = record.job.steps[index].label(index: index)
            guard fromStart else {
                throw DrayError(
                    .conflict,
                    "\(label) of job \(id) is not running: ?from=start replays what it passed on, as GET /jobs/\(id)/steps/\(step)/output gives it"
                )
            }
            guard let spool else {
                throw DrayError(.conflict, "\(label) of job \(id) is not running, and its output is not kept here")
            }
            guard format != .lines || !record.job.secretsErased else {
                throw DrayError(
                    .conflict,
                    "job \(id) has completed and its secrets were erased, so its lines can no longer be masked: ask for format=hex or raw"
                )
            }
            events = .ended(spool, secrets: record.job.secretValues)
        case .here(let tap, let index, let spool, let record):
            events = .live(
                tap.subscribe(flush: fromStart), tap: tap, step: index, spool: spool, replay: fromStart,
                secrets: record.job.secretValues)
        }
        let body = ResponseBody { writer in
            var emitter = Emitter(format: format, secrets: events.secrets)
            var buffer = ByteBuffer()
            switch events {
            case .ended(let spool, _):
                let size = await JobRunner.size(of: spool) ?? 0
                emitter.start(offset: 0, to: &buffer)
                try await replay(spool, upTo: size, with: &emitter, buffer: &buffer, writer: &writer)
                emitter.end(bytes: size, to: &buffer)
            case .live(let subscription, let tap, let index, let spool, let replay, _):
                emitter.start(offset: replay ? 0 : subscription.offset, to: &buffer)
                if replay {
                    try await waitForSpool(spool, toHold: subscription.offset, tap: tap)
                    try await Self.replay(
                        spool, upTo: subscription.offset, with: &emitter, buffer: &buffer, writer: &writer)
                }
                try await writer.write(buffer)
                buffer.clear()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        while true {
                            try await Task.sleep(for: Self.recheck)
                            subscription.heartbeat()
                        }
                    }
                    var quiet = Duration.zero
                    defer { group.cancelAll() }
                    for await event in subscription {
                        switch event {
                        case .bytes(let bytes):
                            emitter.bytes(bytes, to: &buffer)
                            quiet = .zero
                        case .skipped(let count): emitter.skipped(count, to: &buffer)
                        case .idle:
                            quiet += Self.recheck
                            if quiet >= LiveLog.heartbeat {
                                emitter.idle(to: &buffer)
                                quiet = .zero
                            }
                            // A tap opened as its job ended has no runner to end it.
                            let record = try? await service.job(id: id)
                            if record?.state.status != .running || record?.state.steps[index].finishedAt != nil {
                                service.taps.end(job: id, step: index)
                            }
                        }
                        try await writer.write(buffer)
                        buffer.clear()
                    }
                }
                emitter.end(bytes: tap.offered, to: &buffer)
            }
            try await writer.write(buffer)
            try await writer.finish(nil)
        }
        let type = format == .raw ? "application/octet-stream" : "text/event-stream"
        return Response(status: .ok, headers: [.contentType: type, .cacheControl: "no-cache"], body: body)
    }

    /// How often a quiet tap looks whether its step has ended meanwhile (a tap opened just as
    /// its job ended has no runner to end it).
    static let recheck: Duration = .seconds(1)

    /// What a tap reads: a running step's tap, or the spool of one that has ended.
    private enum Events: Sendable {
        case live(EdgeTap.Subscription, tap: EdgeTap, step: Int, spool: FilePath, replay: Bool, secrets: [String])
        case ended(FilePath, secrets: [String])

        var secrets: [String] {
            switch self {
            case .live(_, _, _, _, _, let secrets), .ended(_, let secrets): secrets
            }
        }
    }

    /// Waits until `spool` holds `size` bytes (the runner writes them out once the next bytes
    /// pass, or when the step ends), until the step has ended (a step whose output is only
    /// piped keeps no spool), or 5 s at most: a step that writes nothing more leaves the rest
    /// in the runner's buffer, and the replay says those bytes were skipped.
    private static func waitForSpool(_ spool: FilePath, toHold size: Int64, tap: EdgeTap) async throws {
        let deadline = ContinuousClock.now + .seconds(5)
        while let written = await JobRunner.size(of: spool), written < size, !tap.ended, .now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Writes the first `size` bytes of `spool`, or says they were skipped when it holds fewer.
    private static func replay(
        _ spool: FilePath, upTo size: Int64, with emitter: inout Emitter, buffer: inout ByteBuffer,
        writer: inout any ResponseBodyWriter
    ) async throws {
        var left = size
        if let held = await JobRunner.size(of: spool), held > 0 {
            try await FileSystem.shared.withFileHandle(forReadingAt: spool) { handle in
                for try await chunk in handle.readChunks(in: 0..<min(held, size)) {
                    emitter.bytes(chunk, to: &buffer)
                    left -= Int64(chunk.readableBytes)
                    if buffer.readableBytes >= 64 << 10 {
                        try await writer.write(buffer)
                        buffer.clear()
                    }
                }
            }
        }
        if left > 0 { emitter.skipped(left, to: &buffer) }
    }

    /// Writes a tap's events in its format.
    private struct Emitter {
        let format: Format
        var lines: TapLines

        init(format: Format, secrets: [String]) {
            self.format = format
            lines = TapLines(secrets: secrets)
        }

        func start(offset: Int64, to buffer: inout ByteBuffer) {
            guard format != .raw else { return }
            LiveLog.write(event: "start", data: #"{"offset":\#(offset)}"#, to: &buffer)
        }

        mutating func bytes(_ bytes: ByteBuffer, to buffer: inout ByteBuffer) {
            switch format {
            case .raw: buffer.writeImmutableBuffer(bytes)
            case .hex: LiveLog.write(data: bytes.readableBytesView.hex, to: &buffer)
            case .lines: for line in lines.feed(bytes) { LiveLog.write(data: line, to: &buffer) }
            }
        }

        mutating func skipped(_ count: Int64, to buffer: inout ByteBuffer) {
            guard format != .raw else { return }
            // A line cut by the gap is shown as far as it came.
            if format == .lines { for line in lines.finish() { LiveLog.write(data: line, to: &buffer) } }
            LiveLog.write(event: "skipped", data: #"{"bytes":\#(count)}"#, to: &buffer)
        }

        func idle(to buffer: inout ByteBuffer) {
            guard format != .raw else { return }
            buffer.writeString(": keep-alive\n\n")
        }

        mutating func end(bytes: Int64, to buffer: inout ByteBuffer) {
            guard format != .raw else { return }
            if format == .lines { for line in lines.finish() { LiveLog.write(data: line, to: &buffer) } }
            LiveLog.write(event: "end", data: #"{"bytes":\#(bytes)}"#, to: &buffer)
        }
    }
}
