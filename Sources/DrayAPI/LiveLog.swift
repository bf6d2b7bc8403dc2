import DrayEngine
import Foundation
import NIOCore

/// The live log's server-sent events: written so that a step's output can never forge one, and
/// read back (``Reader``) by the client.
public enum LiveLog {
    /// How long a follower may go without a byte: a comment is sent then, so that a follower
    /// that went away is noticed (its socket closed) within two of these.
    public static let heartbeat: Duration = .seconds(10)

    /// The `end` event's data: `{"status": …, "stepsCompleted": …}`.
    public struct End: Codable, Sendable {
        public var status: JobStatus
        public var stepsCompleted: Int
    }

    /// Keys in a fixed order, as the seed's clients read `{"status", "stepsCompleted"}`.
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    public static func end(_ record: JobRecord) -> String {
        let data =
            (try? encoder.encode(
                End(status: record.state.status, stepsCompleted: record.state.stepsCompleted))) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// One event. A line of the log may hold a bare CR (a step's progress bar), and an event
    /// stream ends a field at CR as at LF: so `data` is split at each, one `data:` field a
    /// piece, which the client joins back with LF. Nothing in it can start a field of its own.
    public static func write(id: Int? = nil, event: String? = nil, data: String, to buffer: inout ByteBuffer) {
        if let id { buffer.writeString("id: \(id)\n") }
        if let event { buffer.writeString("event: \(event)\n") }
        // Most lines hold neither: write them as they are, without splitting.
        if !data.utf8.contains(where: { $0 == 13 || $0 == 10 }) {
            buffer.writeString("data: \(data)\n\n")
            return
        }
        for piece in data.unicodeScalars.split(
            omittingEmptySubsequences: false, whereSeparator: { $0 == "\r" || $0 == "\n" })
        {
            buffer.writeString("data: ")
            buffer.writeString(String(String.UnicodeScalarView(piece)))
            buffer.writeString("\n")
        }
        buffer.writeString("\n")
    }
}

extension LiveLog {
    /// Reads an event stream, a chunk at a time as it arrives: each complete event's type and
    /// data, its `data:` fields joined with LF. Comments (`: keep-alive`) are skipped.
    public struct Reader: Sendable {
        /// One event: `message` unless it named another type.
        public struct Event: Sendable, Equatable {
            public var type: String
            public var data: String
        }

        private var pending = ByteBuffer()
        private var type = "message"
        private var data: [String] = []

        public init() {}

        /// The events that `chunk` completes.
        public mutating func feed(_ chunk: ByteBuffer) -> [Event] {
            var events: [Event] = []
            pending.writeImmutableBuffer(chunk)
            while let newline = pending.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
                let length = newline - pending.readableBytesView.startIndex
                let line = pending.readString(length: length) ?? ""
                pending.moveReaderIndex(forwardBy: 1)
                if line.isEmpty {
                    if !data.isEmpty { events.append(Event(type: type, data: data.joined(separator: "\n"))) }
                    type = "message"
                    data = []
                } else if line.hasPrefix("data:") {
                    data.append(String(line.dropFirst(line.hasPrefix("data: ") ? 6 : 5)))
                } else if line.hasPrefix("event:") {
                    type = line.dropFirst(6).trimmingCharacters(in: .whitespaces)
                }
            }
            pending.discardReadBytes()
            return events
        }
    }
}
