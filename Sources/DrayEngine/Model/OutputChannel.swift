/// Where a step's output is taken from: one of its two streams, or a file it writes.
public enum OutputChannel: Sendable, Equatable, Hashable, CustomStringConvertible {
    case stdout
    case stderr
    /// An absolute path inside the container.
    case file(String)

    /// Parses the JSON form: `"stdout"`, `"stderr"` or an absolute path; nil for anything else.
    public init?(_ text: String) {
        guard case .success(let channel) = Self.parse(text) else { return nil }
        self = channel
    }

    /// A file it writes, copied out once it exits, rather than a stream passed on as it runs.
    public var isFile: Bool {
        if case .file = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .stdout: "stdout"
        case .stderr: "stderr"
        case .file(let path): path
        }
    }

    /// The channel `text` names, or what is wrong with it.
    static func parse(_ text: String) -> Result<OutputChannel, Problem> {
        switch text {
        case "stdout": return .success(.stdout)
        case "stderr": return .success(.stderr)
        default: break
        }
        guard text.hasPrefix("/") else {
            return .failure(.init("must be \"stdout\", \"stderr\" or an absolute file path, not \"\(text)\""))
        }
        let segments = text.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        if segments.allSatisfy(\.isEmpty) { return .failure(.init("must name a file, not \"/\"")) }
        if segments.contains("..") { return .failure(.init("must not contain \"..\" segments: \"\(text)\"")) }
        if text.hasSuffix("/") { return .failure(.init("must name a file, not a folder: \"\(text)\"")) }
        if text.utf8.contains(0) { return .failure(.init("must not contain a NUL character")) }
        return .success(.file(text))
    }

    struct Problem: Error {
        var message: String
        init(_ message: String) { self.message = message }
    }
}

extension OutputChannel: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        switch Self.parse(text) {
        case .success(let channel): self = channel
        case .failure(let problem):
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: problem.message))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
