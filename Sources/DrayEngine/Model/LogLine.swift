/// The stream a container wrote to.
public enum StandardStream: String, Codable, Sendable, Hashable {
    case stdout
    case stderr
}

/// One line of a job's log: what a step wrote, on which stream.
///
/// The line is kept as the bytes the step wrote and decoded only when read (``text``), so that
/// a log nobody reads costs no decoding, and binary output is stored at its own size.
public struct LogLine: Sendable, Equatable {
    /// The step's index, from 0.
    public var step: Int
    public var stream: StandardStream
    /// The line without its line ending, as the step wrote it.
    public var bytes: [UInt8]

    public init(step: Int, stream: StandardStream, bytes: [UInt8]) {
        self.step = step
        self.stream = stream
        self.bytes = bytes
    }

    public init(step: Int, stream: StandardStream, text: String) {
        self.init(step: step, stream: stream, bytes: Array(text.utf8))
    }

    /// The line decoded as UTF-8: invalid bytes become U+FFFD.
    public var text: String {
        String(repairingUTF8: bytes)
    }
}

/// As JSON: `step`, `stream` and the decoded `text`.
extension LogLine: Codable {
    private enum CodingKeys: String, CodingKey {
        case step, stream, text
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            step: try container.decode(Int.self, forKey: .step),
            stream: try container.decode(StandardStream.self, forKey: .stream),
            text: try container.decode(String.self, forKey: .text))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(step, forKey: .step)
        try container.encode(stream, forKey: .stream)
        try container.encode(text, forKey: .text)
    }
}
