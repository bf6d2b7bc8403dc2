/// The stream a container wrote to.
public enum StandardStream: String, Codable, Sendable, Hashable {
    case stdout
    case stderr
}

/// One line of a job's log: what a step wrote, on which stream.
public struct LogLine: Codable, Sendable, Equatable {
    /// The step's index, from 0.
    public var step: Int
    public var stream: StandardStream
    /// The line without its line ending, decoded as UTF-8 (invalid bytes become U+FFFD).
    public var text: String

    public init(step: Int, stream: StandardStream, text: String) {
        self.step = step
        self.stream = stream
        self.text = text
    }
}
